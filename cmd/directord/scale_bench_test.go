package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"directord/internal/harness"
)

// Goals of issue 16 for a file of 10,000 real servers: the peak RSS of
// validate and check --once (MB of 10^6 bytes), and validate's wall time.
const (
	scaleGoalBytes    = 50e6
	scaleStretchBytes = 40e6
	scaleGoalWall   = 300 * time.Millisecond
	scaleRuns       = 5
)

// EnvConfigRef names another directord binary (the old decoder, built
// from main) that BenchmarkConfigScale measures in the same run, so the
// before and after share the machine's load.
const EnvConfigRef = "DIRECTORD_CONFIG_REF"

// scaleConfig writes vss virtual servers of reals real servers each, as
// an operator would: a tcp check per service, every real on a loopback
// address nothing listens on (check --once then ends at the first RST).
func scaleConfig(tb testing.TB, vss, reals int) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("director {\n  router_id = \"bench\"\n}\n\n")
	n := 0
	for v := 0; v < vss; v++ {
		fmt.Fprintf(&b, "virtual_server \"web-%d\" {\n  address   = \"10.%d.%d.%d\"\n  port      = 80\n  protocol  = \"tcp\"\n  scheduler = \"wrr\"\n\n",
			v, 1+v>>16, v>>8&0xff, v&0xff)
		b.WriteString("  health_check \"tcp\" {\n    interval = \"2s\"\n    timeout  = \"1s\"\n    rise     = 2\n    fall     = 3\n  }\n\n")
		for i := 0; i < reals; i++ {
			n++
			fmt.Fprintf(&b, "  real_server \"127.%d.%d.%d\" {\n    weight = %d\n  }\n", 1+n>>16, n>>8&0xff, n&0xff, 1+n%5)
		}
		b.WriteString("}\n\n")
	}
	p := filepath.Join(tb.TempDir(), fmt.Sprintf("scale-%dx%d.hcl", vss, reals))
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// scaleRun is one child process: its wall time and peak RSS.
type scaleRun struct {
	wall  time.Duration
	hwKiB int64
}

// runScale runs bin with args and measures it; check --once exits 3 (the
// reals are down), anything else but 0 is a failure.
func runScale(tb testing.TB, bin string, args ...string) scaleRun {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if code := cmd.ProcessState.ExitCode(); err != nil && code != exitDown {
		tb.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	// Linux reports ru_maxrss in KiB.
	return scaleRun{wall: wall, hwKiB: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss}
}

// scaleFigures are the median and max of scaleRuns runs.
type scaleFigures struct {
	wallMedian, wallMax time.Duration
	hwMedian, hwMax     int64
}

func measureScale(tb testing.TB, bin string, args ...string) scaleFigures {
	tb.Helper()
	var walls []time.Duration
	var hws []int64
	for i := 0; i < scaleRuns; i++ {
		r := runScale(tb, bin, args...)
		walls, hws = append(walls, r.wall), append(hws, r.hwKiB)
	}
	slices.Sort(walls)
	slices.Sort(hws)
	return scaleFigures{walls[len(walls)/2], walls[len(walls)-1], hws[len(hws)/2], hws[len(hws)-1]}
}

func mb(kib int64) string { return fmt.Sprintf("%.1f MB", float64(kib)*1024/1e6) }

func (f scaleFigures) String() string {
	return fmt.Sprintf("wall %7.1f ms (max %7.1f)   VmHWM %8s (max %8s)",
		float64(f.wallMedian.Microseconds())/1000, float64(f.wallMax.Microseconds())/1000, mb(f.hwMedian), mb(f.hwMax))
}

// BenchmarkConfigScale measures directord validate and check --once on
// a file of 10,000 real servers (2,500 services of 4, and one service of
// 10,000), against the goals and the floor: what directord version, which
// reads no file, touches. With $DIRECTORD_CONFIG_REF it measures that
// binary too.
func BenchmarkConfigScale(b *testing.B) {
	bin, err := harness.BuildDirectord()
	if err != nil {
		b.Fatal(err)
	}
	bins := []struct{ name, path string }{{"directord", bin}}
	if ref := os.Getenv(EnvConfigRef); ref != "" {
		bins = append(bins, struct{ name, path string }{"reference", ref})
	}
	files := []struct{ name, path string }{
		{"2,500 services x 4 reals", scaleConfig(b, 2500, 4)},
		{"1 service x 10,000 reals", scaleConfig(b, 1, 10000)},
	}
	for i := 0; i < b.N; i++ {
		fmt.Printf("\nConfig at 10,000 real servers: medians of %d runs (goal VmHWM ≤ %s in every run, stretch %s; validate ≤ %s)\n",
			scaleRuns, "50 MB", "40 MB", scaleGoalWall)
		for _, bn := range bins {
			floor := measureScale(b, bn.path, "version")
			fmt.Printf("  %-9s version (floor)                           %s\n", bn.name, floor)
			for _, f := range files {
				v := measureScale(b, bn.path, "validate", "--config", f.path)
				c := measureScale(b, bn.path, "check", "--once", "--config", f.path)
				fmt.Printf("  %-9s validate      %-26s  %s  %s\n", bn.name, f.name, v, verdict(v, true))
				fmt.Printf("  %-9s check --once  %-26s  %s  %s\n", bn.name, f.name, c, verdict(c, false))
				if bn.name == "directord" && f == files[0] {
					b.ReportMetric(float64(v.wallMedian.Microseconds())/1000, "ms-validate")
					b.ReportMetric(float64(v.hwMedian)*1024/1e6, "MB-hwm-validate")
					b.ReportMetric(float64(c.hwMedian)*1024/1e6, "MB-hwm-check")
				}
			}
		}
	}
}

// verdict says which goals every run met (max, not median).
func verdict(f scaleFigures, timed bool) string {
	var out []string
	switch {
	case f.hwMax*1024 <= scaleStretchBytes:
		out = append(out, "memory: stretch met")
	case f.hwMax*1024 <= scaleGoalBytes:
		out = append(out, "memory: goal met")
	default:
		out = append(out, "memory: goal MISSED")
	}
	if timed {
		if f.wallMedian <= scaleGoalWall {
			out = append(out, "time: met")
		} else {
			out = append(out, "time: MISSED")
		}
	}
	return strings.Join(out, ", ")
}
