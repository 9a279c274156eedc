package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchProc is a daemon a benchmark measures.
type benchProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startProc starts cmd with its output in the file logPath.
func startProc(tb testing.TB, cmd *exec.Cmd, logPath string) *benchProc {
	tb.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &benchProc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p
}

// waitUntil polls cond until it holds and returns how long that took; it
// fails if the daemon exits first or 5 minutes pass.
func (p *benchProc) waitUntil(tb testing.TB, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		select {
		case <-p.exited:
			log, _ := os.ReadFile(p.log)
			tb.Fatalf("%s exited before it was %s:\n%s", p.cmd.Path, what, lastBytes(log))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > 5*time.Minute {
			log, _ := os.ReadFile(p.log)
			tb.Fatalf("%s not %s within 5 minutes:\n%s", p.cmd.Path, what, lastBytes(log))
		}
	}
	return time.Since(start)
}

// stop stops the daemon (its process group, if it leads one), then
// empties the IPVS table and takes the benchmark's VIPs off eth0 for
// the next start: directord leaves its table in place when it stops.
func (p *benchProc) stop(tb testing.TB) {
	pid := p.cmd.Process.Pid
	if p.cmd.SysProcAttr != nil && p.cmd.SysProcAttr.Setpgid {
		pid = -pid
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		tb.Error("did not stop within 60 s")
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-p.exited
	}
	runCmd(tb, "ipvsadm", "-C")
	runCmd(tb, "ip", "-4", "addr", "flush", "dev", "eth0", "to", "198.18.0.0/15")
}

// memory is a process group's, in bytes: peak and current RSS, the
// current one's anonymous and file-backed (shmem included: a binary on
// tmpfs) parts, and its proportional share (PSS).
type memory struct {
	hwm, rss, anon, file, pss float64
}

// groupMemory sums the memory of the processes of pid's process group,
// or of pid alone when it leads none.
func groupMemory(tb testing.TB, pid int) memory {
	tb.Helper()
	pids := []int{pid}
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil || p == pid {
				continue
			}
			if g, err := syscall.Getpgid(p); err == nil && g == pid {
				pids = append(pids, p)
			}
		}
	}
	var m memory
	from := map[string]map[string]*float64{
		"status":       {"VmHWM:": &m.hwm, "VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file, "RssShmem:": &m.file},
		"smaps_rollup": {"Pss:": &m.pss},
	}
	for _, p := range pids {
		for file, fields := range from {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", p, file))
			if err != nil {
				tb.Fatalf("process %d: %v", p, err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				fs := strings.Fields(line)
				if len(fs) >= 2 && fields[fs[0]] != nil {
					kb, _ := strconv.ParseFloat(fs[1], 64)
					*fields[fs[0]] += kb * 1024
				}
			}
		}
	}
	return m
}

// printGoMemory prints the Go runtime's view of a directord's memory,
// from its metrics at addr (read after its RSS: the page is large at
// 10,000 reals).
func printGoMemory(tb testing.TB, addr string) {
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var out []string
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		switch name {
		case "go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes",
			"go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_goroutines":
			if f, err := strconv.ParseFloat(v, 64); ok && err == nil {
				if strings.HasSuffix(name, "_bytes") {
					v = fmt.Sprintf("%.1f MB", f/1e6)
				}
				out = append(out, strings.TrimPrefix(name, "go_memstats_")+" "+v)
			}
		}
	}
	fmt.Printf("  directord's Go runtime: %s\n", strings.Join(out, ", "))
}
