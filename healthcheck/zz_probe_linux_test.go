package healthcheck_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/netnstest"
)

func straceFor(tb testing.TB, pid int, d time.Duration) string {
	if f := os.Getenv("PERFH"); f != "" {
		out, _ := exec.Command("perf", "record", "-g", "-o", f+strconv.Itoa(pid), "-p", strconv.Itoa(pid), "--", "sleep", "10").CombinedOutput()
		return string(out)
	}
	if os.Getenv("USYS") != "" {
		u0, s0 := uSys(pid)
		time.Sleep(d)
		u1, s1 := uSys(pid)
		return fmt.Sprintf("user %d ticks, sys %d ticks in %s", u1-u0, s1-s0, d)
	}
	out, _ := exec.Command("timeout", "-s", "INT", strconv.Itoa(int(d.Seconds())), "strace", "-c", "-f", "-p", strconv.Itoa(pid)).CombinedOutput()
	return string(out)
}

func TestZZStrace(t *testing.T) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("N")); err == nil {
		n = v
	}
	bin, err := harness.BuildDirectord()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netnstest.NewT(t).AddNS("chk")
	if err != nil {
		t.Fatal(err)
	}
	ts := listenTargets(t, ns, n)
	cfg := benchConfig(t, ts, "1s", "500ms")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := ts.command(ctx, bin, "check", "--config", cfg)
	cmd.Stderr = os.Stderr
	if os.Getenv("GCT") != "" {
		cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if os.Getenv("GCT") != "" {
		time.Sleep(10 * time.Second)
		return
	}
	if os.Getenv("PERF") != "" {
		out, _ := exec.Command("perf", "record", "-g", "-o", "/var/tmp/perf.data", "-p", strconv.Itoa(cmd.Process.Pid), "--", "sleep", "10").CombinedOutput()
		fmt.Println(string(out))
	} else {
		fmt.Println("directord:\n", straceFor(t, cmd.Process.Pid, 10*time.Second))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if os.Getenv("PERF") != "" {
		return
	}
	h := measureHAProxyStrace(t, ts)
	fmt.Println("haproxy:\n", h)
}

func measureHAProxyStrace(tb testing.TB, ts *targets) string {
	dir := tb.TempDir()
	conf := dir + "/h.cfg"
	s := "global\n  nbthread 1\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 500ms\n  timeout client 5s\n  timeout server 5s\n"
	s += fmt.Sprintf("frontend unused\n  bind unix@%s/h.sock\n  default_backend bench\nbackend bench\n  default-server check inter 1s rise 2 fall 3\n", dir)
	for i, a := range ts.addrs {
		s += fmt.Sprintf("  server s%d %s\n", i, a)
	}
	os.WriteFile(conf, []byte(s), 0o644)
	cmd := ts.command(context.Background(), "haproxy", "-db", "-q", "-f", conf)
	cmd.Start()
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	time.Sleep(3 * time.Second)
	return straceFor(tb, cmd.Process.Pid, 10*time.Second)
}

func uSys(pid int) (u, s int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	str := string(b)
	f := strings.Fields(str[strings.LastIndexByte(str, ')')+2:])
	u, _ = strconv.Atoi(f[11])
	s, _ = strconv.Atoi(f[12])
	return
}
