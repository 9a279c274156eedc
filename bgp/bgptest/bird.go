package bgptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BIRD is a BIRD 2 router. StartBIRD's (AS 65000) takes IPv4 routes from
// one directord (AS 65001) and exports nothing, anywhere: it has no kernel
// protocol, so no routing table changes; StartBIRDConf's is the caller's.
type BIRD struct {
	Sock string
}

// StartBIRD runs BIRD at local, peering with neighbor; inNS makes the
// command that runs it in the router's network namespace.
func StartBIRD(tb testing.TB, inNS func(name string, args ...string) *exec.Cmd, local, neighbor string) *BIRD {
	tb.Helper()
	return StartBIRDConf(tb, inNS, fmt.Sprintf(`router id %s;
protocol device {}
protocol bgp directors {
  local %s as 65000;
  neighbor %s as 65001;
  passive on;
  hold time 3;
  ipv4 { import all; export none; };
}
`, local, local, neighbor))
}

// StartBIRDConf runs BIRD with the configuration conf.
func StartBIRDConf(tb testing.TB, inNS func(name string, args ...string) *exec.Cmd, conf string) *BIRD {
	tb.Helper()
	exe, err := exec.LookPath("bird")
	if err != nil {
		exe = "/usr/sbin/bird"
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	b := &BIRD{Sock: filepath.Join(dir, "bird.ctl")}
	cmd := inNS(exe, "-f", "-c", filepath.Join(dir, "bird.conf"), "-s", b.Sock, "-P", filepath.Join(dir, "bird.pid"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	b.Eventually(tb, "BIRD's control socket", 10*time.Second, func(string) bool { _, err := os.Stat(b.Sock); return err == nil }, "show", "status")
	return b
}

// CLI runs a birdc command.
func (b *BIRD) CLI(args ...string) string {
	out, _ := exec.Command("birdc", append([]string{"-s", b.Sock}, args...)...).CombinedOutput()
	return string(out)
}

// Eventually polls a birdc command every 20 ms until ok holds, and
// returns its output and how long it took.
func (b *BIRD) Eventually(tb testing.TB, what string, timeout time.Duration, ok func(string) bool, args ...string) (string, time.Duration) {
	tb.Helper()
	start := time.Now()
	var out string
	for time.Since(start) < timeout {
		if out = b.CLI(args...); ok(out) {
			return out, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("%s: not within %s; birdc %s says:\n%s", what, timeout, strings.Join(args, " "), out)
	return "", 0
}

// EstablishedSince reads `birdc show protocols NAME`: the time of day the
// session came up ("15:04:05.000"), if it is established.
func EstablishedSince(out string) (string, bool) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "BGP" && f[3] == "up" && f[5] == "Established" {
			return f[4], true
		}
	}
	return "", false
}

// KeptSince reports whether the session was established before at
// (a time of day in BIRD's format) and still is: a reset would show a
// later time.
func KeptSince(out string, at time.Time) bool {
	since, ok := EstablishedSince(out)
	return ok && since < at.Format("15:04:05.000")
}
