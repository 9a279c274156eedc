package daemon_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
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

// write renders the file with weight (nil: every real at 1), and the
// comment lines given.
func (l *scaleLab) write(tb testing.TB, weight func(vip, port, real int) int, comments ...string) {
	tb.Helper()
	src := l.s.Config(weight)
	for _, c := range comments {
		src += "# " + c + "\n"
	}
	if err := os.WriteFile(l.path, []byte(src), 0o600); err != nil {
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
	t.Logf("the same file: %d writes in %s", len(ops), took)
	if len(ops) != 0 {
		t.Errorf("a reload of the same file wrote %v", ops)
	}
	// A comment changes the bytes, not the configuration: decoded and
	// diffed in full, and still nothing to write.
	l.write(t, oneReal(7), "a comment")
	ops, took = l.reload(t)
	t.Logf("a comment added: %d writes in %s", len(ops), took)
	if len(ops) != 0 {
		t.Errorf("a reload that changes only a comment wrote %v", ops)
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

// BenchmarkReloadScale runs 10,000 virtual services x 4 reals (2,500 VIPs
// x 4 ports, ten VRRP instances) in the process, on the fakes, and
// reloads it: a file that changes one real's weight, and one that
// changes nothing, five times each. It reports the medians of the whole
// reload and of its part spent reading and decoding the file, the IPVS
// writes of each kind and the VIPs added or removed (keepalived's issue
// #2318: 100-130 s to reload 37,000 reals before its fix).
func BenchmarkReloadScale(b *testing.B) {
	s := daemontest.Scale{VIPs: 2500, Ports: 4, Reals: 4}
	for range b.N {
		start := time.Now()
		l := startScale(b, s)
		cold := time.Since(start)
		b.Logf("%d services x %d reals: cold start (load, %d IPVS writes, every instance MASTER) %s",
			s.Services(), s.Reals, len(l.Kernel.Ops()), cold.Round(time.Millisecond))
		var one, same, comment reloadRuns
		for i := range 5 {
			l.write(b, oneReal(2+i%2))
			one.add(l.reloadResult(b))
			same.add(l.reloadResult(b))
			l.write(b, oneReal(2+i%2), fmt.Sprint("comment ", i))
			comment.add(l.reloadResult(b))
		}
		one.report(b, "onereal")
		same.report(b, "noop")
		comment.report(b, "comment")
		b.ReportMetric(float64(l.flaps.Load()), "vip-flaps")
		b.ReportMetric(cold.Seconds(), "cold-s")
		if l.flaps.Load() != 0 || one.maxWrites != 1 || same.maxWrites != 0 || comment.maxWrites != 0 {
			b.Errorf("writes: one real %d, the same file %d, a comment %d; VIP flaps %d; want 1, 0, 0, 0",
				one.maxWrites, same.maxWrites, comment.maxWrites, l.flaps.Load())
		}
	}
}

// reloadRuns are the results of repeated reloads of one kind.
type reloadRuns struct {
	took, load []time.Duration
	maxWrites  int
}

func (r *reloadRuns) add(res daemon.ReloadResult, writes int) {
	r.took = append(r.took, time.Duration(res.Seconds*float64(time.Second)))
	r.load = append(r.load, time.Duration(res.LoadSeconds*float64(time.Second)))
	r.maxWrites = max(r.maxWrites, writes)
}

func (r *reloadRuns) report(b *testing.B, name string) {
	took, load := median(r.took), median(r.load)
	b.Logf("%s: reload %s (median of %d; reading and decoding the file %s, the rest %s), at most %d IPVS writes",
		name, took.Round(time.Millisecond), len(r.took), load.Round(time.Millisecond), (took - load).Round(time.Millisecond), r.maxWrites)
	b.ReportMetric(took.Seconds()*1000, name+"-ms")
	b.ReportMetric((took-load).Seconds()*1000, name+"-apply-ms")
	b.ReportMetric(float64(r.maxWrites), name+"-writes")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// reloadResult reloads and returns the result and the IPVS writes.
func (l *scaleLab) reloadResult(tb testing.TB) (daemon.ReloadResult, int) {
	tb.Helper()
	before := len(l.Kernel.Ops())
	res := l.Reload(context.Background())
	if !res.OK {
		tb.Fatalf("reload: %s\n%s", res.Error, res.Diagnostics)
	}
	return res, len(l.Kernel.Ops()) - before
}
