package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"directord/internal/harness"
)

// Goals of issue 16 for a file of 10,000 real servers: the peak RSS of
// validate and check --once (MB of 10^6 bytes), and validate's wall time.
const (
	scaleGoalBytes    = 50e6
	scaleStretchBytes = 40e6
	scaleGoalWall     = 300 * time.Millisecond
	scaleRuns         = 5
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

// scaleRun is one child process: its wall time, CPU time (user and
// system: less at the mercy of a shared machine than wall time) and peak
// RSS.
type scaleRun struct {
	wall, cpu time.Duration
	hwKiB     int64
}

// measurerSrc runs its arguments as a command and prints the wall time,
// ru_maxrss (KiB) and exit status. The benchmark runs directord through
// it because Go starts a child with vfork: the child execs while still
// sharing its parent's memory, and Linux carries the larger of that
// memory's peak and the new program's into ru_maxrss. From the test
// process (40 MB) every figure would read at least 40 MB; from this
// small program, only directord's own peak (VmHWM) shows.
const measurerSrc = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = cmd.Wait()
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Println(wall.Nanoseconds(), cpu.Nanoseconds(), ru.Maxrss, cmd.ProcessState.ExitCode())
}
`

// buildMeasurer builds measurerSrc.
func buildMeasurer(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "measure.go"), []byte(measurerSrc), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", "measure", "measure.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build the measurer: %v\n%s", err, out)
	}
	return filepath.Join(dir, "measure")
}

// runScale runs bin with args through the measurer; check --once exits
// 3 (the reals are down), anything else but 0 is a failure.
func runScale(tb testing.TB, measurer, bin string, args ...string) scaleRun {
	tb.Helper()
	cmd := exec.Command(measurer, append([]string{bin}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ns, cpu, kib int64
	var code int
	if err == nil {
		_, err = fmt.Sscan(string(out), &ns, &cpu, &kib, &code)
	}
	if err != nil || (code != 0 && code != exitDown) {
		tb.Fatalf("%s %s: %v, exit %d\n%s", bin, strings.Join(args, " "), err, code, stderr.String())
	}
	return scaleRun{wall: time.Duration(ns), cpu: time.Duration(cpu), hwKiB: kib}
}

// scaleFigures are the median and max of scaleRuns runs.
type scaleFigures struct {
	wallMedian, wallMax, cpuMedian time.Duration
	hwMedian, hwMax                int64
}

func measureScale(tb testing.TB, measurer, bin string, args ...string) scaleFigures {
	tb.Helper()
	var walls, cpus []time.Duration
	var hws []int64
	for i := 0; i < scaleRuns; i++ {
		r := runScale(tb, measurer, bin, args...)
		walls, cpus, hws = append(walls, r.wall), append(cpus, r.cpu), append(hws, r.hwKiB)
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	slices.Sort(hws)
	return scaleFigures{walls[len(walls)/2], walls[len(walls)-1], cpus[len(cpus)/2], hws[len(hws)/2], hws[len(hws)-1]}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mb(kib int64) string { return fmt.Sprintf("%.1f MB", float64(kib)*1024/1e6) }

func (f scaleFigures) String() string {
	return fmt.Sprintf("wall %7.1f ms (max %7.1f)  cpu %7.1f ms   VmHWM %8s (max %8s)",
		ms(f.wallMedian), ms(f.wallMax), ms(f.cpuMedian), mb(f.hwMedian), mb(f.hwMax))
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
	measurer := buildMeasurer(b)
	bins := []struct{ name, path string }{{"directord", harness.Installed(b, bin)}}
	if ref := os.Getenv(EnvConfigRef); ref != "" {
		bins = append(bins, struct{ name, path string }{"reference", harness.Installed(b, ref)})
	}
	files := []struct{ name, path string }{
		{"2,500 services x 4 reals", scaleConfig(b, 2500, 4)},
		{"1 service x 10,000 reals", scaleConfig(b, 1, 10000)},
	}
	for i := 0; i < b.N; i++ {
		fmt.Printf("\nConfig at 10,000 real servers: medians of %d runs (goal VmHWM ≤ %s in every run, stretch %s; validate ≤ %s)\n",
			scaleRuns, "50 MB", "40 MB", scaleGoalWall)
		for _, bn := range bins {
			floor := measureScale(b, measurer, bn.path, "version")
			fmt.Printf("  %-9s version (floor)                           %s\n", bn.name, floor)
			for _, f := range files {
				v := measureScale(b, measurer, bn.path, "validate", "--config", f.path)
				c := measureScale(b, measurer, bn.path, "check", "--once", "--config", f.path)
				fmt.Printf("  %-9s validate      %-26s  %s  %s\n", bn.name, f.name, v, verdict(v, true))
				fmt.Printf("  %-9s check --once  %-26s  %s  %s\n", bn.name, f.name, c, verdict(c, false))
				if bn.name == "directord" && f == files[0] {
					b.ReportMetric(ms(v.wallMedian), "ms-validate")
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
