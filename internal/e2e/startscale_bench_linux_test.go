package e2e

import (
	"fmt"
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
// 0, as directord does) and VRRP instances, its three processes' peaks
// summed (the parent, the VRRP and the checker child; their PSS too,
// since they share pages).
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
	printStart("directord", dd)
	printStart("keepalived", ka)
	fmt.Println("  (keepalived's three processes share pages: their RSS and peaks are summed, which counts those")
	fmt.Println("  two or three times; PSS divides each shared page among its processes.)")
	hwm := func(f startFigures) float64 { return f.mem.hwm }
	pss := func(f startFigures) float64 { return f.mem.pss }
	scraped := func(f startFigures) float64 { return f.scraped }
	fmt.Printf("  directord's peak RSS after one scrape of its metrics too: %5.1f MB [%5.1f]\n", medianOf(dd, scraped)/1e6, maxOf(dd, scraped)/1e6)
	verdict := "met"
	if maxOf(dd, hwm) > startScaleGoal || maxOf(dd, scraped) > startScaleGoal {
		verdict = "MISSED"
	}
	fmt.Printf("  ratio directord/keepalived: peak RSS %.2f, PSS %.2f (medians); goal ≤ 50 MB in every run, a scrape included: %s\n",
		medianOf(dd, hwm)/medianOf(ka, hwm), medianOf(dd, pss)/medianOf(ka, pss), verdict)
	b.ReportMetric(medianOf(dd, hwm)/1e6, "MB-hwm")
	b.ReportMetric(medianOf(ka, hwm)/1e6, "MB-hwm-keepalived")
	b.ReportMetric(medianOf(dd, scraped)/1e6, "MB-hwm-scraped")
}

// startFigures are one start's: its memory once settled, and the time
// until the daemon was running (directord: its "directord running";
// keepalived: every real in the IPVS table).
type startFigures struct {
	mem memory
	up  time.Duration
	// scraped is the peak RSS after one scrape of the metrics too
	// (directord only): a scrape writes a series per real, service and
	// destination, and Prometheus asks every 15 s or so.
	scraped float64
}

// printStart prints one daemon's line: medians, the peak's max.
func printStart(name string, fs []startFigures) {
	med := func(v func(memory) float64) float64 {
		return medianOf(fs, func(f startFigures) float64 { return v(f.mem) }) / 1e6
	}
	fmt.Printf("  %-10s  peak RSS (VmHWM) %5.1f MB [%5.1f]; after %s: RSS %5.1f MB (anonymous %5.1f, file and shmem %5.1f), PSS %5.1f MB; running after %5.2f s\n",
		name, med(func(m memory) float64 { return m.hwm }), maxOf(fs, func(f startFigures) float64 { return f.mem.hwm })/1e6,
		startScaleSettle, med(func(m memory) float64 { return m.rss }), med(func(m memory) float64 { return m.anon }),
		med(func(m memory) float64 { return m.file }), med(func(m memory) float64 { return m.pss }),
		medianOf(fs, func(f startFigures) float64 { return f.up.Seconds() }))
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
	p := startProc(tb, exec.Command(bin, "run", "--config", path), logPath)
	defer p.stop(tb)
	var f startFigures
	f.up = p.waitUntil(tb, "running", func() bool {
		log, _ := os.ReadFile(logPath)
		return strings.Contains(string(log), `"msg":"directord running"`)
	})
	time.Sleep(startScaleSettle)
	f.mem = groupMemory(tb, p.cmd.Process.Pid)
	printGoMemory(tb, startScaleMetrics)
	f.scraped = groupMemory(tb, p.cmd.Process.Pid).hwm
	return f
}

// startScaleMetrics is where the daemon serves its metrics.
const startScaleMetrics = "127.0.0.1:9100"

// startKeepalivedScale starts keepalived on conf, waits for every real
// of s in the IPVS table, lets it check for startScaleSettle, reads its
// processes' memory and stops it.
func startKeepalivedScale(tb testing.TB, dir, conf string, s daemontest.Scale) startFigures {
	tb.Helper()
	cmd := exec.Command("keepalived", "--dont-fork", "--log-console", "--no-syslog", "--use-file", conf,
		"--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"), "--checkers_pid", filepath.Join(dir, "c.pid"))
	// The parent and its VRRP and checker children: one group to sum
	// and to stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := startProc(tb, cmd, filepath.Join(dir, "keepalived.log"))
	defer p.stop(tb)
	var f startFigures
	f.up = p.waitUntil(tb, "with every real in the IPVS table", func() bool { return dests(tb) >= s.Dests() })
	time.Sleep(startScaleSettle)
	f.mem = groupMemory(tb, p.cmd.Process.Pid)
	return f
}

// dests counts the real servers in the IPVS table.
func dests(tb testing.TB) int {
	b, err := os.ReadFile("/proc/net/ip_vs")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Count(string(b), "  -> ") - strings.Count(string(b), "  -> RemoteAddress")
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
