package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"directord/internal/labnet"
)

// Recording is a tcpdump writing what it captures to a pcap file, for a
// dissector (tshark) to read whole packets afterwards: Capture's text
// lines carry only what tcpdump chose to print.
type Recording struct {
	Path string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Record starts `tcpdump -w path` on ifname inside ns with a BPF filter
// and returns once it listens. Stop (or the test's end) ends it.
func Record(tb testing.TB, ns *labnet.NS, ifname, filter, path string) *Recording {
	tb.Helper()
	// Without --immediate-mode libpcap hands packets over a ring block
	// at a time, and the block being filled when tcpdump stops (up to a
	// second of packets) never reaches the file; -U then writes each
	// packet as it comes.
	args := append([]string{"-i", ifname, "-n", "--immediate-mode", "-U", "-w", path}, strings.Fields(filter)...)
	cmd := ns.Command(context.Background(), "tcpdump", args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("tcpdump: %v", err)
	}
	r := &Recording{Path: path, cmd: cmd, done: make(chan struct{})}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(listening) })
			}
		}
		once.Do(func() { close(listening) })
		_ = cmd.Wait()
		close(r.done)
	}()
	tb.Cleanup(r.Stop)
	select {
	case <-listening:
	case <-time.After(5 * time.Second):
		tb.Fatal("tcpdump did not start listening")
	}
	// tcpdump says "listening" just before the socket is attached.
	time.Sleep(50 * time.Millisecond)
	return r
}

// Stop ends tcpdump with SIGTERM, which lets it close the file, and waits
// for it (SIGKILL after 5 s).
func (r *Recording) Stop() {
	r.once.Do(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
}

// TsharkFields runs tshark over the capture file path and returns, for
// each packet the display filter accepts, the values of fields in order
// (several occurrences of one field joined by ";"). prefs are tshark -o
// settings, "name:value". tshark's stderr (its warning about running as
// root) is ignored unless tshark fails.
func TsharkFields(tb testing.TB, path, filter string, prefs []string, fields ...string) [][]string {
	tb.Helper()
	args := []string{"-n", "-r", path, "-T", "fields", "-E", "separator=,", "-E", "quote=d", "-E", "aggregator=;"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, p := range prefs {
		args = append(args, "-o", p)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("tshark", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	cr := csv.NewReader(&stdout)
	cr.FieldsPerRecord = len(fields)
	rows, err := cr.ReadAll()
	if err != nil {
		tb.Fatalf("tshark output: %v\n%s", err, stdout.String())
	}
	return rows
}
