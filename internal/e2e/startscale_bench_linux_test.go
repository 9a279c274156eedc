package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"directord/internal/daemon/daemontest"
	"directord/internal/harness"
	"directord/internal/uml"
	"directord/internal/vmtest"
)

// startScaleRuns is how many times each daemon is started, unless
// $DIRECTORD_BENCH_RUNS says.
const (
	startScaleRuns = 3
	envStartRuns   = "DIRECTORD_BENCH_RUNS"
)

// startScaleSettle is how long a daemon checks its reals after it is
// running (every check's first results in, fall 3 at 1 s passed) before
// its memory is read.
const startScaleSettle = 10 * time.Second

// startScaleGoal is issue 16's bound on the peak RSS at 10,000 reals.
const startScaleGoal = 50e6

// BenchmarkStartScale starts the real `directord run` on 2,500 virtual
// services x 4 reals (10,000 real servers, each with a TCP check every
// second; 625 VIPs x 4 ports held by three VRRP instances) against the
// guest kernel's IPVS, three times, and reads its peak RSS (VmHWM) once
// it has been running and checking for 10 s. The reals are loopback
// addresses nothing listens on: every check is refused, so the daemon
// also writes every real's weight 0. The reference is keepalived 2.2.7
// with the same virtual servers, TCP_CHECKs (inhibit_on_failure: weight
// 0, as directord does) and VRRP instances, its processes' peaks summed
// (the parent, the VRRP and the checker child).
//
//	sudo go test ./internal/e2e -run '^$' -bench StartScale -benchtime 1x
func BenchmarkStartScale(b *testing.B) {
	bin, err := harness.BuildDirectord()
	if err != nil {
		b.Fatal(err)
	}
	if !uml.InGuest() {
		env := map[string]string{harness.EnvBinary: bin}
		for _, k := range []string{"GOGC", "GOMEMLIMIT", envStartRuns} {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
		vmtest.RunInGuest(b, vmtest.WithEnv(env), vmtest.WithOutput(os.Stdout), vmtest.WithMem("2G"))
		return
	}
	runs := startScaleRuns
	if v, err := strconv.Atoi(os.Getenv(envStartRuns)); err == nil && v > 0 {
		runs = v
	}
	bin = harness.Installed(b, bin)
	runCmd(b, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
	runCmd(b, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	runCmd(b, "ip", "link", "set", "eth0", "up")
	runCmd(b, "ip", "link", "set", "peer0", "up")
	// Every real (10.0.0.0/8) is local and refuses: a check's answer
	// comes at once, as from a real whose service is stopped.
	runCmd(b, "ip", "link", "set", "lo", "up")
	runCmd(b, "ip", "addr", "add", "10.0.0.0/8", "dev", "lo")
	s := daemontest.Scale{VIPs: 625, Ports: 4, Reals: 4, Interface: "eth0", Advert: "1s",
		Check: `health_check "tcp" {
    interval = "1s"
    timeout = "500ms"
    rise = 2
    fall = 3
  }`}
	dir, err := os.MkdirTemp("/run", "start-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s.Extra = fmt.Sprintf("status_socket = %q\n  log_format = \"json\"\n  metrics_listen = %q", filepath.Join(dir, "d.sock"), startScaleMetrics)
	path := filepath.Join(dir, "scale.hcl")
	if err := os.WriteFile(path, []byte(s.Config(nil)), 0o600); err != nil {
		b.Fatal(err)
	}
	kaConf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(kaConf, []byte(keepalivedScaleConfig(s)), 0o600); err != nil {
		b.Fatal(err)
	}

	var dd, ka []startFigures
	for range runs {
		dd = append(dd, startDirectordScale(b, bin, path))
		ka = append(ka, startKeepalivedScale(b, dir, kaConf, s))
	}
	fmt.Printf("\nStart-up at %d real servers in one UML guest (%d services x %d reals, a TCP check each every 1s, %d VIPs in %d VRRP instances), %d runs each, median [max]:\n",
		s.Dests(), s.Services(), s.Reals, s.VIPs, (s.VIPs+249)/250, runs)
	for _, r := range []struct {
		name string
		f    []startFigures
	}{{"directord", dd}, {"keepalived", ka}} {
		hwm := func(f startFigures) float64 { return f.hwm }
		rss := func(f startFigures) float64 { return f.rss }
		anon := func(f startFigures) float64 { return f.anon }
		file := func(f startFigures) float64 { return f.file }
		up := func(f startFigures) float64 { return f.up.Seconds() }
		fmt.Printf("  %-10s  peak RSS (VmHWM) %5.1f MB [%5.1f]   RSS after %s %5.1f MB (anonymous %5.1f, file %5.1f)   started in %5.2f s\n", r.name,
			medianOf(r.f, hwm)/1e6, maxOf(r.f, hwm)/1e6, startScaleSettle, medianOf(r.f, rss)/1e6, medianOf(r.f, anon)/1e6, medianOf(r.f, file)/1e6, medianOf(r.f, up))
	}
	worst := maxOf(dd, func(f startFigures) float64 { return f.hwm })
	verdict := "met"
	if worst > startScaleGoal {
		verdict = "MISSED"
	}
	fmt.Printf("  ratio directord/keepalived (peak RSS, medians) %.2f; goal ≤ 50 MB in every run: %s\n",
		medianOf(dd, func(f startFigures) float64 { return f.hwm })/medianOf(ka, func(f startFigures) float64 { return f.hwm }), verdict)
	b.ReportMetric(medianOf(dd, func(f startFigures) float64 { return f.hwm })/1e6, "MB-hwm")
	b.ReportMetric(medianOf(ka, func(f startFigures) float64 { return f.hwm })/1e6, "MB-hwm-keepalived")
}

// startFigures are one start's: peak and current RSS in bytes, and the
// time until the daemon was running (directord: its "directord running";
// keepalived: every real in the IPVS table).
type startFigures struct {
	hwm, rss, anon, file float64
	up                   time.Duration
}

func medianOf(fs []startFigures, v func(startFigures) float64) float64 {
	s := make([]float64, len(fs))
	for i, f := range fs {
		s[i] = v(f)
	}
	slices.Sort(s)
	return s[len(s)/2]
}

func maxOf(fs []startFigures, v func(startFigures) float64) float64 {
	m := 0.0
	for _, f := range fs {
		m = max(m, v(f))
	}
	return m
}

// startDirectordScale starts directord on path, lets it check for
// startScaleSettle once running, reads its memory and stops it.
func startDirectordScale(tb testing.TB, bin, path string) startFigures {
	tb.Helper()
	logPath := filepath.Join(filepath.Dir(path), "directord.log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer stopGroup(tb, cmd, syscall.SIGTERM)
	var f startFigures
	deadline := start.Add(5 * time.Minute)
	for f.up == 0 {
		if log, _ := os.ReadFile(logPath); strings.Contains(string(log), `"msg":"directord running"`) {
			f.up = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			tb.Fatalf("directord did not start within 5 minutes:\n%s", lastBytes(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(startScaleSettle)
	f.hwm, f.rss, f.anon, f.file = groupMemory(tb, cmd.Process.Pid)
	printGoMemory(tb)
	return f
}

// startScaleMetrics is where the daemon serves its metrics.
const startScaleMetrics = "127.0.0.1:9100"

// printGoMemory prints the Go runtime's view of the daemon's memory,
// from its metrics (read after its RSS: the page is large at 10,000
// reals).
func printGoMemory(tb testing.TB) {
	resp, err := http.Get("http://" + startScaleMetrics + "/metrics")
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

// startKeepalivedScale starts keepalived on conf, waits for every real
// of s in the IPVS table, lets it check for startScaleSettle, reads its
// processes' memory and stops it.
func startKeepalivedScale(tb testing.TB, dir, conf string, s daemontest.Scale) startFigures {
	tb.Helper()
	cmd := exec.Command("keepalived", "--dont-fork", "--no-syslog", "--use-file", conf,
		"--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"), "--checkers_pid", filepath.Join(dir, "c.pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer stopGroup(tb, cmd, syscall.SIGTERM)
	var f startFigures
	deadline := start.Add(5 * time.Minute)
	for {
		if dests(tb) >= s.Dests() {
			f.up = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("keepalived did not fill the IPVS table within 5 minutes (%d of %d reals)", dests(tb), s.Dests())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(startScaleSettle)
	f.hwm, f.rss, f.anon, f.file = groupMemory(tb, cmd.Process.Pid)
	return f
}

// stopGroup stops cmd (and, for keepalived, its children in its process
// group), then empties the IPVS table for the next start.
func stopGroup(tb testing.TB, cmd *exec.Cmd, sig syscall.Signal) {
	pid := cmd.Process.Pid
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid {
		pid = -pid
	}
	_ = syscall.Kill(pid, sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		tb.Error("did not stop within 60 s")
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
	}
	runCmd(tb, "ipvsadm", "-C")
	runCmd(tb, "ip", "-4", "addr", "flush", "dev", "eth0", "to", "198.18.0.0/15")
}

// dests counts the real servers in the IPVS table.
func dests(tb testing.TB) int {
	b, err := os.ReadFile("/proc/net/ip_vs")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Count(string(b), "  -> ") - strings.Count(string(b), "  -> RemoteAddress")
}

// groupMemory sums VmHWM, VmRSS and its anonymous and file-backed parts
// (bytes) over the processes of pid's process group, or of pid alone
// when it leads none.
func groupMemory(tb testing.TB, pid int) (hwm, rss, anon, file float64) {
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
	for _, p := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			tb.Fatalf("process %d: %v", p, err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			fs := strings.Fields(line)
			if len(fs) < 2 {
				continue
			}
			kb, _ := strconv.ParseFloat(fs[1], 64)
			switch fs[0] {
			case "VmHWM:":
				hwm += kb * 1024
			case "VmRSS:":
				rss += kb * 1024
			case "RssAnon:":
				anon += kb * 1024
			case "RssFile:":
				file += kb * 1024
			}
		}
	}
	return hwm, rss, anon, file
}

// keepalivedScaleConfig is s for keepalived: the same VRRP instances,
// virtual servers and reals, a TCP_CHECK each with directord's interval
// and timeout.
func keepalivedScaleConfig(s daemontest.Scale) string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id scale\n}\n")
	for first := 0; first < s.VIPs; first += 250 {
		fmt.Fprintf(&b, "vrrp_instance v%d {\n  state BACKUP\n  interface %s\n  virtual_router_id %d\n  priority 150\n  advert_int 1\n  version 3\n  virtual_ipaddress {\n",
			first/250, s.Interface, 1+first/250)
		for i := first; i < min(first+250, s.VIPs); i++ {
			fmt.Fprintf(&b, "    %s/32\n", s.VIP(i))
		}
		b.WriteString("  }\n}\n")
	}
	for i := range s.VIPs {
		for p := range s.Ports {
			fmt.Fprintf(&b, "virtual_server %s %d {\n  delay_loop 1\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP\n", s.VIP(i), s.Port(p))
			for j := range s.Reals {
				fmt.Fprintf(&b, "  real_server %s %d {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 0.5\n    }\n    inhibit_on_failure\n  }\n", s.Real(i, j), s.Port(p))
			}
			b.WriteString("}\n")
		}
	}
	return b.String()
}
