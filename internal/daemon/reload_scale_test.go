package daemon_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/lvs"
	"directord/vrrp/vrrptest"
)

// scaleLab is a daemon running a daemontest.Scale file on the fakes,
// every instance MASTER, with the VIP additions and removals counted
// from the moment it is ready.
type scaleLab struct {
	*daemontest.Daemon
	s     daemontest.Scale
	path  string
	flaps atomic.Int64
}

func startScale(tb testing.TB, s daemontest.Scale) *scaleLab {
	tb.Helper()
	s.Interface = "eth0"
	path := filepath.Join(tb.TempDir(), "scale.hcl")
	l := &scaleLab{s: s, path: path}
	l.write(tb, nil)
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	l.Daemon = daemontest.StartFile(tb, path, daemontest.Setup{}, host)
	l.Wait(tb, 30*time.Second, func(doc daemon.StatusDoc) bool {
		for _, in := range doc.VRRP.Instances {
			if in.State != "MASTER" {
				return false
			}
		}
		return len(doc.VRRP.Instances) > 0
	})
	for i := range s.VIPs {
		if !host.HasAddr(s.VIP(i)) {
			tb.Fatalf("VIP %s is not on the host", s.VIP(i))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	addrs, err := host.Addrs(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		for ev := range addrs {
			if !ev.Resync {
				l.flaps.Add(1)
			}
		}
	}()
	return l
}

// write renders the file with weight (nil: every real at 1).
func (l *scaleLab) write(tb testing.TB, weight func(vip, port, real int) int) {
	tb.Helper()
	if err := os.WriteFile(l.path, []byte(l.s.Config(weight)), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// reload reloads and returns the IPVS writes it made and how long it
// took.
func (l *scaleLab) reload(tb testing.TB) ([]lvs.Op, time.Duration) {
	tb.Helper()
	before := len(l.Kernel.Ops())
	start := time.Now()
	res := l.Reload(context.Background())
	took := time.Since(start)
	if !res.OK {
		tb.Fatalf("reload: %s\n%s", res.Error, res.Diagnostics)
	}
	return l.Kernel.Ops()[before:], took
}

// oneReal changes real 0 of VIP 0's port 0 to weight w.
func oneReal(w int) func(vip, port, real int) int {
	return func(vip, port, real int) int {
		if vip == 0 && port == 0 && real == 0 {
			return w
		}
		return 1
	}
}

// A reload of a large table writes only what changed: one real's new
// weight is one IPVS write, a file that changes nothing none, and
// neither takes a VIP off or puts one on again. (keepalived before its
// fix for issue #2318 took minutes to reload 37,000 reals.) The full
// 10,000 x 4 runs in BenchmarkReloadScale; this is a quarter of it, to
// stay fast in CI.
func TestReloadScale(t *testing.T) {
	s := daemontest.Scale{VIPs: 625, Ports: 4, Reals: 4}
	l := startScale(t, s)
	if n := len(l.Kernel.Table()); n != s.Services() {
		t.Fatalf("the table has %d services, want %d", n, s.Services())
	}

	l.write(t, oneReal(7))
	ops, took := l.reload(t)
	t.Logf("one real changed: %d writes in %s", len(ops), took)
	if len(ops) != 1 || ops[0].Kind != lvs.UpdateDest || ops[0].Dest.Weight != 7 ||
		ops[0].Dest.Addr != s.Real(0, 0) || ops[0].Service.Port != uint16(s.Port(0)) {
		t.Errorf("one real's weight changed: writes %v, want one update-dest of %s to weight 7", ops, s.Real(0, 0))
	}

	ops, took = l.reload(t)
	t.Logf("nothing changed: %d writes in %s", len(ops), took)
	if len(ops) != 0 {
		t.Errorf("a reload that changes nothing wrote %v", ops)
	}
	if n := l.flaps.Load(); n != 0 {
		t.Errorf("the reloads added or removed a VIP %d times, want none", n)
	}
	doc := l.Wait(t, time.Second, func(daemon.StatusDoc) bool { return true })
	for _, in := range doc.VRRP.Instances {
		if in.State != "MASTER" {
			t.Errorf("instance %s is %s after the reloads, want MASTER", in.Name, in.State)
		}
	}
}
