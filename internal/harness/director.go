package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/netnstest"
)

// Director is one directord process in a namespace.
type Director struct {
	Name   string
	Bin    string
	NS     *netnstest.NS
	Port   *netnstest.Port // its eth0 on the LAN
	Dir    string          // config, socket and log live here
	Config string          // path of the HCL file
	Socket string          // status socket path
	Env    []string        // added to the daemon's environment

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *syncBuffer
}

// NewDirector prepares a director in ns; Start runs it.
func NewDirector(tb testing.TB, bin, name string, port *netnstest.Port) *Director {
	tb.Helper()
	dir := tb.TempDir()
	d := &Director{
		Name:   name,
		Bin:    bin,
		NS:     port.NS,
		Port:   port,
		Dir:    dir,
		Config: filepath.Join(dir, name+".hcl"),
		Socket: filepath.Join(dir, name+".sock"),
		log:    &syncBuffer{},
	}
	tb.Cleanup(func() {
		d.Kill()
		if tb.Failed() {
			tb.Logf("log of %s:\n%s", name, d.Log())
		}
	})
	return d
}

// WriteConfig writes the director's HCL; the director block naming the
// status socket and JSON logs is added in front of body.
func (d *Director) WriteConfig(tb testing.TB, body string) {
	tb.Helper()
	head := fmt.Sprintf("director {\n  router_id = %q\n  status_socket = %q\n  log_format = \"json\"\n  log_level = \"debug\"\n}\n\n", d.Name, d.Socket)
	if err := os.WriteFile(d.Config, []byte(head+body), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Start runs `directord run` and waits until its status socket answers.
func (d *Director) Start(tb testing.TB) {
	tb.Helper()
	d.mu.Lock()
	fmt.Fprintf(d.log, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := d.NS.Command(context.Background(), d.Bin, "run", "--config", d.Config)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if len(d.Env) > 0 {
		cmd.Env = append(os.Environ(), d.Env...)
	}
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		tb.Fatalf("start %s: %v", d.Name, err)
	}
	done := make(chan struct{})
	d.cmd, d.done, d.err = cmd, done, nil
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := d.TryStatus(); err == nil {
			return
		}
		select {
		case <-done:
			tb.Fatalf("%s exited at start: %v\n%s", d.Name, d.err, d.Log())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: status socket never answered\n%s", d.Name, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running reports whether the process is alive.
func (d *Director) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process.
func (d *Director) Signal(sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return fmt.Errorf("%s is not running", d.Name)
	}
	return d.cmd.Process.Signal(sig)
}

// Wait waits for the process to exit and returns how it ended.
func (d *Director) Wait(timeout time.Duration) (error, bool) {
	d.mu.Lock()
	done := d.done
	d.mu.Unlock()
	if done == nil {
		return nil, true
	}
	select {
	case <-done:
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Kill is kill -9, as when the machine or the daemon dies.
func (d *Director) Kill() {
	if d.Running() {
		_ = d.Signal(syscall.SIGKILL)
		d.Wait(5 * time.Second)
	}
}

// Stop sends SIGTERM and waits for the exit; it fails tb if the daemon
// does not exit 0 within timeout.
func (d *Director) Stop(tb testing.TB, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := d.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	err, ok := d.Wait(timeout)
	if !ok {
		tb.Fatalf("%s did not exit within %s of SIGTERM", d.Name, timeout)
	}
	if err != nil {
		tb.Fatalf("%s exited with %v", d.Name, err)
	}
	return time.Since(start)
}

// TryStatus reads the status socket once.
func (d *Director) TryStatus() (daemon.StatusDoc, error) {
	var doc daemon.StatusDoc
	c := http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.Socket)
		}},
	}
	resp, err := c.Get("http://directord/v1/status")
	if err != nil {
		return doc, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return doc, fmt.Errorf("status: %s", resp.Status)
	}
	return doc, json.NewDecoder(resp.Body).Decode(&doc)
}

// Status reads the status socket, failing tb on error.
func (d *Director) Status(tb testing.TB) daemon.StatusDoc {
	tb.Helper()
	doc, err := d.TryStatus()
	if err != nil {
		tb.Fatalf("%s status: %v", d.Name, err)
	}
	return doc
}

// State is the state of the named VRRP instance, "" if unknown.
func (d *Director) State(instance string) string {
	doc, err := d.TryStatus()
	if err != nil {
		return ""
	}
	for _, in := range doc.VRRP.Instances {
		if in.Name == instance {
			return in.State
		}
	}
	return ""
}

// WaitState waits until the instance is in state.
func (d *Director) WaitState(tb testing.TB, instance, state string, timeout time.Duration) time.Time {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if d.State(instance) == state {
			return time.Now()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: instance %s is %q, not %s, after %s", d.Name, instance, d.State(instance), state, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// HasAddr reports whether addr is on the director's eth0 (or dev).
func (d *Director) HasAddr(tb testing.TB, addr string) bool {
	tb.Helper()
	out, err := d.NS.Run("ip", "-o", "-4", "addr", "show")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Contains(out, " "+addr+"/")
}

// Log is everything the daemon printed.
func (d *Director) Log() string { return d.log.String() }

// LogLines returns the JSON log records whose msg is msg.
func (d *Director) LogLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.Log()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
