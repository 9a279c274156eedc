package healthcheck_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spinMeter measures the CPU that everything else takes from a one-CPU
// guest: a process at the idle scheduling class (chrt --idle) counts in
// a loop, so it runs only when nothing else wants the CPU, and the time
// it did not get is the others'. The guest's own accounting cannot tell:
// it charges a tick to whoever runs when the tick comes, and a checker
// whose batches start on a grid driven by the same clock as the tick can
// be charged almost nothing or five times its share, from one window to
// the next. This counts what a checker costs the machine, its kernel work
// on the targets' side included.
type spinMeter struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	t0   time.Time
	rate float64 // counts a second with nothing else running
}

func startSpinMeter(tb testing.TB, calibrate time.Duration) *spinMeter {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("chrt", "--idle", "0", exe)
	cmd.Env = append(os.Environ(), envSpin+"=1", "GOMAXPROCS=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &spinMeter{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	tb.Cleanup(func() {
		in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	time.Sleep(200 * time.Millisecond)
	n0, t0 := s.count(tb)
	time.Sleep(calibrate)
	n1, t1 := s.count(tb)
	s.rate = float64(n1-n0) / t1.Sub(t0).Seconds()
	s.t0 = t0.Add(-time.Duration(float64(n0) / s.rate * 1e9)) // when it started counting
	tb.Logf("CPU meter: %.0f counts/s at the idle class", s.rate)
	return s
}

func (s *spinMeter) count(tb testing.TB) (uint64, time.Time) {
	tb.Helper()
	if _, err := io.WriteString(s.in, "\n"); err != nil {
		tb.Fatal(err)
	}
	if !s.out.Scan() {
		tb.Fatalf("spinner: %v", s.out.Err())
	}
	at := time.Now()
	n, err := strconv.ParseUint(strings.TrimSpace(s.out.Text()), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n, at
}

// taken is the CPU time others have taken since the meter started: the
// time that passed less the time the spinner's count accounts for.
func (s *spinMeter) taken(tb testing.TB) time.Duration {
	n, at := s.count(tb)
	return at.Sub(s.t0) - time.Duration(float64(n)/s.rate*1e9)
}
