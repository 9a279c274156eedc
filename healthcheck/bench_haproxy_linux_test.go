package healthcheck_test

import (
	"context"
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

	"directord/internal/harness"
	"directord/internal/netnstest"
)

// measureHAProxyCheck runs HAProxy with one server per target, `check
// inter 1s` (a TCP connect), and measures it like directord.
func measureHAProxyCheck(tb testing.TB, ts *targets, window time.Duration) checkFigures {
	tb.Helper()
	dir := tb.TempDir()
	var b strings.Builder
	// One thread: HAProxy at its cheapest, the reference to beat. Checks
	// do not count against maxconn, and a large one would ask for more
	// descriptors than the test's limit.
	b.WriteString("global\n  nbthread 1\n  maxconn 100\n")
	b.WriteString("defaults\n  mode tcp\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n")
	// HAProxy refuses to start without a listener; a socket in the
	// test's directory is one that nobody uses.
	fmt.Fprintf(&b, "frontend unused\n  bind unix@%s\n  default_backend bench\n", filepath.Join(dir, "h.sock"))
	b.WriteString("backend bench\n  default-server check inter 1s rise 2 fall 3\n")
	for i, a := range ts.addrs {
		fmt.Fprintf(&b, "  server s%d %s\n", i, a)
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := ts.command(context.Background(), "haproxy", "-db", "-q", "-f", conf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	return sampleChecks(tb, ts, 3*time.Second, window, func() (time.Duration, uint64, uint64) {
		return groupUsage(tb, cmd.Process.Pid)
	})
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkChecks: TCP checks every second of 10,000 and of 1,000 targets
// on loopback addresses, by the real `directord check` process and by
// HAProxy against the same listeners, in turns (three rounds each):
// checks per second (counted by the targets), CPU per check and share of
// one core (user+sys from /proc), memory, the ratio of directord's CPU to
// HAProxy's, and directord's detection latency of a stopped target
// against fall × interval + timeout.
//
//	sudo go test ./healthcheck -run '^$' -bench 'Checks$' -benchtime 1x
func BenchmarkChecks(b *testing.B) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		b.Fatal("haproxy is the reference: ./scripts/deps.sh installs it")
	}
	bin, err := harness.BuildDirectord()
	if err != nil {
		b.Fatal(err)
	}
	// Its peak RSS is reported: run it as installed (harness.Installed).
	bin = harness.Installed(b, bin)
	sizes := []int{10000, 1000}
	if v, err := strconv.Atoi(os.Getenv("DIRECTORD_BENCH_TARGETS")); err == nil && v > 0 {
		sizes = []int{v}
	}
	ns, err := netnstest.NewT(b).AddNS("chk")
	if err != nil {
		b.Fatal(err)
	}
	all := listenTargets(b, ns, slices.Max(sizes))
	const rounds = 3
	for _, n := range sizes {
		ts := all.sub(n)
		var dd, ha []checkFigures
		var ratios []float64
		for r := range rounds {
			// The last round times detections, stopping targets that
			// the next (smaller) size does not use.
			detections, from := 0, 0
			if r == rounds-1 {
				detections, from = 10, slices.Min(sizes)
				if n == from {
					from = 0
				}
			}
			d := measureDirectordCheck(b, bin, ts, 10*time.Second, detections, from)
			h := measureHAProxyCheck(b, ts, 10*time.Second)
			dd, ha = append(dd, d), append(ha, h)
			ratios = append(ratios, d.coreShare/h.coreShare)
		}
		printCheckTable(n, dd, ha, ratios)
		b.ReportMetric(medianOf(ratios), fmt.Sprintf("cpu-ratio-vs-haproxy-%d", n))
	}
}

// printRounds prints directord's and a reference's figures over rounds:
// medians, [min–max] of the share of a core, and the CPU ratio.
func printRounds(title, ref string, dd, rf []checkFigures, ratios []float64, goal string) {
	fmt.Printf("\n%s; medians of %d rounds [min–max]\n", title, len(dd))
	fmt.Printf("  %-11s %10s %12s %20s %12s\n", "checker", "checks/s", "CPU/check", "share of a core", "peak RSS")
	for _, r := range []struct {
		name string
		fs   []checkFigures
	}{{"directord", dd}, {ref, rf}} {
		share := col(r.fs, func(f checkFigures) float64 { return 100 * f.coreShare })
		fmt.Printf("  %-11s %10.0f %10.1fµs %8.1f%% [%.1f–%.1f] %9.1fMB\n", r.name,
			medianOf(col(r.fs, func(f checkFigures) float64 { return f.perSecond })),
			medianOf(col(r.fs, func(f checkFigures) float64 { return float64(f.cpuPerCheck) / 1e3 })),
			medianOf(share), slices.Min(share), slices.Max(share),
			medianOf(col(r.fs, func(f checkFigures) float64 { return float64(f.hwm) / 1e6 })))
	}
	fmt.Printf("  CPU, directord / %s: %.2f× [%.2f–%.2f]   (%s)\n", ref, medianOf(ratios), slices.Min(ratios), slices.Max(ratios), goal)
}

// col is one figure of each round.
func col(fs []checkFigures, f func(checkFigures) float64) []float64 {
	var out []float64
	for _, x := range fs {
		out = append(out, f(x))
	}
	return out
}

func printCheckTable(n int, dd, ha []checkFigures, ratios []float64) {
	printRounds(fmt.Sprintf("TCP checks: %d targets, interval 1s, timeout 500ms, rise 2, fall 3", n), "haproxy", dd, ha, ratios, "goal ≤ 1.0×, stretch 0.5×")
	if det := dd[len(dd)-1].detect; len(det) > 0 {
		fmt.Printf("  detection, %d targets stopped: median %s  p90 %s  max %s   (bound %s + 5ms)\n", len(det),
			ms(pct(det, 50)), ms(pct(det, 90)), ms(slices.Max(det)), ms(dd[len(dd)-1].bound))
	}
}
