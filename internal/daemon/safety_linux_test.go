package daemon_test

// The daemon's own safety, with real processes in namespaces: one daemon
// per configuration, and a SIGHUP during start-up.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"directord/internal/harness"
)

// A second `run` of the same configuration exits 1 naming the first's
// pid, before it touches anything: the first keeps its socket, its VIP
// and its mastership, and nothing resigns on the wire.
func TestSecondRunRefused(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 200, "100ms"))
	p.LB1.Start(t)
	p.LB1.WaitState(t, "web", "MASTER", 3*time.Second)
	pid := p.LB1.Status(t).PID

	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := p.LB1.NS().Command(ctx, p.LB1.Process.Argv[0], p.LB1.Process.Argv[1:]...).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second run: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "pid "+strconv.Itoa(pid)) {
		t.Errorf("second run does not name the running pid %d:\n%s", pid, out)
	}
	time.Sleep(300 * time.Millisecond)
	if st, err := os.Lstat(p.LB1.Socket); err != nil || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("the first daemon's socket is gone: %v", err)
	}
	if doc := p.LB1.Status(t); doc.PID != pid {
		t.Errorf("status answered by pid %d, want %d", doc.PID, pid)
	}
	if s := p.LB1.State("web"); s != "MASTER" || !p.LB1.HasAddr(t, harness.VIP.String()) {
		t.Errorf("first daemon: %s, VIP held %v", s, p.LB1.HasAddr(t, harness.VIP.String()))
	}
	adverts := 0
	for _, f := range p.Wire.Frames() {
		if f.VRRP && f.At.After(started) {
			if f.Priority != 200 {
				t.Errorf("advert with priority %d after the second run: %s", f.Priority, f.Line)
			}
			adverts++
		}
	}
	if adverts == 0 {
		t.Error("no advert seen after the second run")
	}
}

// A SIGHUP before the daemon is ready (its first track script still
// running) does not kill it: it becomes a reload once the daemon is.
func TestHangupBeforeReady(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 200, "100ms",
		`track_script "slow" {`,
		`  command = ["/bin/sleep", "1"]`,
		`  interval = "10s"`,
		`  timeout = "5s"`,
		`}`))
	if err := p.LB1.Process.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(p.LB1.Socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status socket:\n%s", p.LB1.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.LB1.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 5*time.Second)
	deadline = time.Now().Add(3 * time.Second)
	for p.LB1.Status(t).Reloads.Succeeded != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the early SIGHUP was not applied as a reload: %+v", p.LB1.Status(t).Reloads)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !p.LB1.Running() {
		t.Fatal("the daemon died")
	}
}
