package lab_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/testenv"
	"directord/internal/uml"
)

// labDir is a config directory the guest can see (not under /tmp).
func labDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "directord-lab-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func binary(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		_, kerr := uml.FindKernel()
		testenv.Require(t, kerr == nil, "no IPVS here and %v", kerr)
	}
	bin, err := harness.BuildDirectord()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// hostLeftovers lists what a lab run by pid could have left on the host:
// guest kernel processes tagged with it, its UML directory, namespaces.
func hostLeftovers(pid int) []string {
	var out []string
	marker := []byte(fmt.Sprintf("%s=lab-%d\x00", uml.EnvTag, pid))
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, marker) {
			stat, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
			if !strings.Contains(string(stat), ") Z ") {
				out = append(out, "process "+filepath.Base(filepath.Dir(p)))
			}
		}
	}
	dirs, _ := filepath.Glob(fmt.Sprintf("/tmp/directord-uml-%d-*", pid))
	for _, d := range dirs {
		out = append(out, "directory "+d)
	}
	ns, _ := filepath.Glob(fmt.Sprintf("/run/netns/dd-%d-*", pid))
	for _, n := range ns {
		out = append(out, "namespace "+n)
	}
	return out
}

// `directord lab --script`, as CI runs it: the report says the master
// changed, the failed real's weight reached 0 and came back, and every
// request after each failover window succeeded; nothing is left behind.
func TestLabScript(t *testing.T) {
	runScript(t, nil, scriptReport)
}

// `directord lab --script --ipv6`: the same scenario with the IPv6 VIP
// beside the IPv4 one; the report covers both families, and the real's
// weight goes to 0 and back in both services.
func TestLabScriptIPv6(t *testing.T) {
	runScript(t, []string{"--ipv6"}, append(scriptReport,
		`(?m)^directord lab --script: the seed's LVS-DR setup \(VIP 192\.168\.11\.100:80 and \[2001:db8:11::100\]:80,`,
		`(?m)^\s+[\d.]+s\s+traffic IPv6\s+\d+ requests, \d+ failed.*; answered by rs1 \d+, rs2 \d+, rs3 \d+$`,
		`(?m)^\d+ requests over IPv6, \d+ failed, each inside a failover window$`,
	))
}

// scriptReport is what every run's report must say.
var scriptReport = []string{
	`(?m)^\s+[\d.]+s\s+kill master\s+kill -9 directord on lb1$`,
	`(?m)^\s+[\d.]+s\s+failover\s+lb2 MASTER after \d+ms$`,
	`(?m)^\s+[\d.]+s\s+weight 0\s+rs2 weight 0 on lb2 after \d+ms`,
	`(?m)^\s+[\d.]+s\s+preempt\s+lb1 MASTER again`,
	`(?m)^\s+[\d.]+s\s+weight back\s+rs2 weight 4 on lb1`,
	`(?m)^result: master change: ok; rs2 weight 0 and back: ok; every request after each failover window succeeded: ok$`,
	`(?m)^cleanup: \d+ namespaces removed with their veths and processes; 0 namespaces and 0 lab processes left$`,
}

func runScript(t *testing.T, flags, want []string) {
	bin := binary(t)
	cmd := exec.Command(bin, append([]string{"lab", "--script", "--dir", labDir(t)}, flags...)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	// The guest's console ends its lines with CR LF.
	report := strings.ReplaceAll(string(out), "\r", "")
	t.Logf("lab --script %s took %s:\n%s", strings.Join(flags, " "), time.Since(start).Round(time.Second), report)
	if err != nil {
		t.Fatalf("lab --script: %v", err)
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(report) {
			t.Errorf("report does not match %s", w)
		}
	}
	if left := hostLeftovers(cmd.Process.Pid); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A lab killed with SIGKILL cannot clean up; the next start removes what
// it left.
func TestLabCleansUpAfterAKilledRun(t *testing.T) {
	bin := binary(t)
	dir := labDir(t)
	killed := exec.Command(bin, "lab", "--script", "--dir", dir)
	// A file, not a pipe: the killed lab's orphans may hold its output
	// open, and Wait would wait for them.
	outFile := filepath.Join(dir, "killed.out")
	f, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	killed.Stdout, killed.Stderr = f, f
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(outFile); bytes.Contains(b, []byte("traffic")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = killed.Process.Signal(syscall.SIGKILL)
	_ = killed.Wait()
	left := hostLeftovers(killed.Process.Pid)
	t.Logf("a killed lab left: %v", left)

	next := exec.Command(bin, "lab", "--script", "--dir", dir)
	report, err := next.CombinedOutput()
	if err != nil {
		t.Fatalf("the next lab: %v\n%s", err, report)
	}
	if len(left) > 0 && !strings.Contains(string(report), "left by a killed lab") {
		t.Errorf("the next start did not say it cleaned up:\n%s", report)
	}
	if still := hostLeftovers(killed.Process.Pid); len(still) > 0 {
		t.Errorf("still left after the next start: %v", still)
	}
}
