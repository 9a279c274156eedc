package daemon_test

// The daemon's own safety, with real processes in namespaces: one daemon
// per configuration, and a SIGHUP during start-up.

import (
	"context"
	"errors"
	"net/netip"
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

// advertisers counts, per source, the adverts of VRID 51 (priority above
// 0) the observer saw in [from, to), and reports who holds the VIP now.
func advertisers(t *testing.T, p *harness.Pair, from, to time.Time) (adverts map[netip.Addr]int, holders []string) {
	t.Helper()
	adverts = map[netip.Addr]int{}
	for _, f := range p.Wire.Frames() {
		if f.VRRP && f.VRID == 51 && f.Priority > 0 && !f.At.Before(from) && f.At.Before(to) {
			adverts[f.Src]++
		}
	}
	for _, d := range []*harness.Director{p.LB1, p.LB2} {
		if d.HasAddr(t, harness.VIP.String()) {
			holders = append(holders, d.Name)
		}
	}
	return adverts, holders
}

// oneMasterOnTheWire checks, over one second from now, that exactly one
// director sends adverts and that it alone holds the VIP.
func oneMasterOnTheWire(t *testing.T, p *harness.Pair, want netip.Addr) {
	t.Helper()
	from := time.Now()
	time.Sleep(time.Second)
	adverts, holders := advertisers(t, p, from, time.Now())
	if len(adverts) != 1 || adverts[want] < 5 || len(holders) != 1 {
		t.Errorf("over one second: adverts by source %v, VIP held by %v; want only %s", adverts, holders, want)
	}
}

// Renaming the only instance is a new instance: before the fix it was
// registered on the socket the reload had just closed, sent nothing, and
// both directors held the VIP.
func TestReloadRenameOneMasterOnTheWire(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 100, "100ms"))
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 200, "100ms"))
	p.LB2.Start(t)
	p.LB1.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB2.WriteConfig(t, harness.Instance("www", 51, 200, "100ms"))
	if err := p.LB2.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "www", "MASTER", 3*time.Second)
	time.Sleep(time.Second)
	oneMasterOnTheWire(t, p, harness.LB2Addr)
	if in := instance(t, p.LB2, "www"); in.SendErrors != 0 {
		t.Errorf("%d send errors after the rename", in.SendErrors)
	}
}

// An interface deleted and made again (a VLAN or bond rebuilt): before the
// fix the socket stayed bound to the dead ifindex, deaf and unable to send,
// and both directors held the VIP.
func TestInterfaceRecreatedOneMasterOnTheWire(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 100, "100ms"))
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 200, "100ms"))
	p.LB2.Start(t)
	p.LB1.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	if _, err := p.LB2.NS().Run("ip", "link", "del", "eth0"); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	port, err := p.LAN.Net.Connect(p.LB2.NS(), p.LAN.Bridge, "eth0", netip.PrefixFrom(harness.LB2Addr, 24))
	if err != nil {
		t.Fatal(err)
	}
	p.LB2.Port = port
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	time.Sleep(500 * time.Millisecond)
	oneMasterOnTheWire(t, p, harness.LB2Addr)
}

// script_user: a real daemon runs its track script and notify hook as
// that user. The track script fails (weight 0: FAULT) unless its uid is
// nobody's; the hook writes its uid.
func TestScriptUserRunsScriptsAsThatUser(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	out, err := os.MkdirTemp("", "directord-script-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	if err := os.Chmod(out, 0o777); err != nil { // nobody writes here
		t.Fatal(err)
	}
	uidFile := out + "/uid"
	p.LB1.DirectorExtra = []string{`script_user = "nobody"`}
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 200, "100ms",
		`track_script "as-nobody" {`,
		`  command = ["/bin/sh", "-c", "test \"$(id -u)\" = 65534"]`,
		`  interval = "1s"`,
		`  weight = 0`,
		`}`,
		`notify {`,
		`  master = ["/bin/sh", "-c", "id -u > `+uidFile+`"]`,
		`}`))
	p.LB1.Start(t)
	p.LB1.WaitState(t, "web", "MASTER", 3*time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, err := os.ReadFile(uidFile)
		if err == nil && strings.TrimSpace(string(b)) == "65534" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the notify hook wrote %q (%v), want nobody's uid 65534", b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
