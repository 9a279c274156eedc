package vrrp_test

// Router tests on the simulated LAN of vrrptest, in synctest bubbles: no
// root, fake time, and the whole router (loop, sockets, watchers,
// reloads) rather than the state machine alone.

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"directord/vrrp"
	"directord/vrrp/vrrptest"
)

var (
	simVIP   = netip.MustParsePrefix("10.0.0.100/24")
	simAddrs = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("10.0.0.3/24")}
)

// simInstance is a VRRPv3 instance on eth0 with 100 ms adverts.
func simInstance(name string, vrid, prio uint8) vrrp.Config {
	return vrrp.Config{
		Name: name, Interface: "eth0", VRID: vrid,
		Params: vrrp.Params{Version: 3, Priority: prio, AdvertInterval: 100 * time.Millisecond, Preempt: true},
		VIPs:   []vrrp.VIP{{Prefix: simVIP}},
		GARP:   vrrp.GARPConfig{Repeat: 1},
	}
}

// simRouter is a running router on a simulated host.
type simRouter struct {
	host   *vrrptest.Host
	r      *vrrp.Router
	cancel context.CancelFunc
	done   chan error
}

func startSim(t *testing.T, h *vrrptest.Host, cfgs ...vrrp.Config) *simRouter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &simRouter{host: h, r: vrrp.NewRouter(h.System(), nil), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- s.r.Run(ctx, cfgs, nil) }()
	select {
	case <-s.r.Ready():
	case err := <-s.done:
		t.Fatalf("%s: %v", h.Name, err)
	}
	t.Cleanup(s.stop)
	return s
}

// stop stops the router gracefully (SIGTERM) and waits.
func (s *simRouter) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

func (s *simRouter) status(t *testing.T) map[string]vrrp.InstanceStatus {
	t.Helper()
	st, err := s.r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]vrrp.InstanceStatus{}
	for _, in := range st.Instances {
		out[in.Name] = in
	}
	return out
}

func (s *simRouter) state(t *testing.T, name string) string {
	t.Helper()
	return s.status(t)[name].State
}

// Renaming the only instance on an interface is a new instance: the old
// one's socket was closed by the reload while the new one registered on
// it, so nothing was sent any more and both routers held the VIP.
func TestReloadRenameKeepsSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		a := startSim(t, lan.AddHost("lb1", "eth0", simAddrs[0]), simInstance("web", 51, 200))
		b := startSim(t, lan.AddHost("lb2", "eth0", simAddrs[1]), simInstance("web", 51, 100))
		time.Sleep(time.Second)
		if a.state(t, "web") != "MASTER" || b.state(t, "web") != "BACKUP" {
			t.Fatalf("before: lb1 %s, lb2 %s", a.state(t, "web"), b.state(t, "web"))
		}
		if err := a.r.Reload(context.Background(), []vrrp.Config{simInstance("www", 51, 200)}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		st := a.status(t)["www"]
		if st.State != "MASTER" || st.SendErrors != 0 || st.AdvertsSent < 15 {
			t.Errorf("renamed instance: %s, %d sent, %d send errors", st.State, st.AdvertsSent, st.SendErrors)
		}
		if b.state(t, "web") != "BACKUP" || b.host.HasAddr(simVIP.Addr()) {
			t.Errorf("the peer took over: %s, holds VIP %v", b.state(t, "web"), b.host.HasAddr(simVIP.Addr()))
		}
	})
}

// Changing the VRID, the version or the ownership of the only instance
// makes a new instance too: it must send on a live socket.
func TestReloadNewIdentityKeepsSending(t *testing.T) {
	v2 := simInstance("web", 51, 200)
	v2.Params.Version = 2
	v2.Params.AdvertInterval = time.Second
	for name, next := range map[string]vrrp.Config{
		"vrid":    simInstance("web", 52, 200),
		"version": v2,
		"owner": func() vrrp.Config {
			c := simInstance("web", 51, 255)
			c.VIPs = []vrrp.VIP{{Prefix: simAddrs[0]}}
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lan := vrrptest.NewLAN(1)
				a := startSim(t, lan.AddHost("lb1", "eth0", simAddrs[0]), simInstance("web", 51, 200))
				time.Sleep(time.Second)
				if err := a.r.Reload(context.Background(), []vrrp.Config{next}, nil); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Second)
				st := a.status(t)["web"]
				if st.State != "MASTER" || st.SendErrors != 0 || st.AdvertsSent < 2 {
					t.Errorf("%s after the reload: %d sent, %d send errors", st.State, st.AdvertsSent, st.SendErrors)
				}
			})
		})
	}
}

// oneMaster checks that exactly one router is MASTER of name and that
// only it holds the VIP.
func oneMaster(t *testing.T, name string, rs ...*simRouter) {
	t.Helper()
	masters := 0
	for _, s := range rs {
		st := s.state(t, name)
		if st == "MASTER" {
			masters++
		}
		if has := s.host.HasAddr(simVIP.Addr()); has != (st == "MASTER") {
			t.Errorf("%s is %s and holds the VIP: %v", s.host.Name, st, has)
		}
	}
	if masters != 1 {
		t.Errorf("%d masters of %s", masters, name)
	}
}

// An interface deleted and made again (a VLAN or bond rebuilt,
// networkd restarted) gets a new index; the socket bound to the old one
// heard nothing and could not send, and both routers held the VIP.
func TestInterfaceRecreated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		a := startSim(t, lan.AddHost("lb1", "eth0", simAddrs[0]), simInstance("web", 51, 200))
		b := startSim(t, lan.AddHost("lb2", "eth0", simAddrs[1]), simInstance("web", 51, 100))
		time.Sleep(time.Second)
		oneMaster(t, "web", a, b)
		a.host.DeleteLink("eth0")
		time.Sleep(time.Second)
		if a.state(t, "web") != "FAULT" || b.state(t, "web") != "MASTER" {
			t.Errorf("interface gone: lb1 %s, lb2 %s", a.state(t, "web"), b.state(t, "web"))
		}
		a.host.AddLink("eth0", simAddrs[0])
		time.Sleep(2 * time.Second)
		if a.state(t, "web") != "MASTER" {
			t.Errorf("lb1 (priority 200) did not take back over: %s", a.state(t, "web"))
		}
		oneMaster(t, "web", a, b)
		before := a.status(t)["web"]
		time.Sleep(time.Second)
		after := a.status(t)["web"]
		if after.SendErrors != before.SendErrors || after.AdvertsSent-before.AdvertsSent < 9 {
			t.Errorf("lb1 in the last second: %d adverts sent, %d send errors", after.AdvertsSent-before.AdvertsSent, after.SendErrors-before.SendErrors)
		}
	})
}

// A master that cannot send adverts goes to FAULT after three failures
// in a row and drops its VIP, so its peer alone holds it; the failures
// are counted. Once sends work again, a reopened socket brings it back.
func TestSendFailuresFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		a := startSim(t, lan.AddHost("lb1", "eth0", simAddrs[0]), simInstance("web", 51, 200))
		b := startSim(t, lan.AddHost("lb2", "eth0", simAddrs[1]), simInstance("web", 51, 100))
		time.Sleep(time.Second)
		a.host.FailSends(errors.New("sendmsg: operation not permitted"))
		time.Sleep(350 * time.Millisecond)
		st := a.status(t)["web"]
		// The third failure faults it; its resignation fails as well.
		if st.State != "FAULT" || st.SendErrors < 3 || !strings.Contains(st.Fault, "3 adverts in a row not sent") {
			t.Errorf("after 3 failed adverts: %s (%q), %d send errors", st.State, st.Fault, st.SendErrors)
		}
		time.Sleep(time.Second)
		oneMaster(t, "web", a, b)
		// Still failing: each reopened socket makes lb1 master again for
		// three adverts, less and less often (1 s, 2 s, 4 s... apart).
		both := 0
		for range 200 {
			time.Sleep(100 * time.Millisecond)
			if a.state(t, "web") == "MASTER" && b.state(t, "web") == "MASTER" {
				both++
			}
		}
		if both > 15 || b.state(t, "web") != "MASTER" {
			t.Errorf("in 20 s of failing sends, lb1 was master beside lb2 for %d ms; lb2 is %s", both*100, b.state(t, "web"))
		}
		a.host.FailSends(nil)
		time.Sleep(40 * time.Second)
		if a.state(t, "web") != "MASTER" {
			t.Errorf("lb1 did not come back once sends worked: %s (%q)", a.state(t, "web"), a.status(t)["web"].Fault)
		}
		oneMaster(t, "web", a, b)
	})
}

// The gratuitous ARP bursts of a mastership end with it: a director that
// answered a split brain with a burst, then stepped down, went on
// announcing the VIP it no longer held.
func TestNoAnnouncementAfterMastership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		slowBurst := func(c vrrp.Config) vrrp.Config {
			c.GARP = vrrp.GARPConfig{Repeat: 5, Interval: time.Second, Delay: 3 * time.Second, Refresh: 2 * time.Second, RefreshRepeat: 2}
			return c
		}
		h1 := lan.AddHost("lb1", "eth0", simAddrs[0])
		h2 := lan.AddHost("lb2", "eth0", simAddrs[1])
		lan.Partition([]*vrrptest.Host{h1}, []*vrrptest.Host{h2})
		a := startSim(t, h1, slowBurst(simInstance("web", 51, 200)))
		startSim(t, h2, slowBurst(simInstance("web", 51, 100)))
		time.Sleep(10 * time.Second)
		lan.Partition() // split brain heals: lb1 answers with a burst
		time.Sleep(300 * time.Millisecond)
		c := startSim(t, lan.AddHost("lb3", "eth0", simAddrs[2]), simInstance("web", 51, 250))
		time.Sleep(time.Second)
		if a.state(t, "web") != "BACKUP" || c.state(t, "web") != "MASTER" {
			t.Fatalf("lb1 %s, lb3 %s", a.state(t, "web"), c.state(t, "web"))
		}
		st := a.status(t)["web"]
		left := st.Transitions[len(st.Transitions)-1].At
		time.Sleep(10 * time.Second)
		for _, an := range h1.Announced() {
			if an.At.After(left) {
				t.Errorf("lb1 announced %v at +%s after leaving MASTER", an.Addrs, an.At.Sub(left))
			}
		}
	})
}

// Address events lost (the netlink socket overflowed and was subscribed
// again): the router checks its VIPs and puts back what went missing.
func TestResyncRestoresVIPs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		a := startSim(t, lan.AddHost("lb1", "eth0", simAddrs[0]), simInstance("web", 51, 200))
		time.Sleep(time.Second)
		a.host.LoseAddr("eth0", simVIP.Addr())
		a.host.Resync()
		time.Sleep(100 * time.Millisecond)
		if !a.host.HasAddr(simVIP.Addr()) || a.status(t)["web"].VIPsRestored != 1 {
			t.Errorf("VIP held %v, restored %d", a.host.HasAddr(simVIP.Addr()), a.status(t)["web"].VIPsRestored)
		}
	})
}

// A resync over many VIPs lists the interface's addresses once, not once
// per VIP (each is a dump of every address on a real host), and still
// puts back the ones that went missing.
func TestResyncListsEachInterfaceOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		c := simInstance("web", 51, 200)
		// 250 more: an advert carries at most 255 (its count is a byte).
		for i := range 250 {
			c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), 32)})
		}
		a := startSim(t, lan.AddHost("lb1", "eth0", simAddrs[0]), c)
		time.Sleep(time.Second)
		lost := c.VIPs[123].Prefix.Addr()
		a.host.LoseAddr("eth0", lost)
		before := a.host.Lists()
		a.host.Resync()
		time.Sleep(100 * time.Millisecond)
		if n := a.host.Lists() - before; n != 1 {
			t.Errorf("the resync listed eth0's addresses %d times for 251 VIPs, want once", n)
		}
		if !a.host.HasAddr(lost) || a.status(t)["web"].VIPsRestored != 1 {
			t.Errorf("VIP held %v, restored %d", a.host.HasAddr(lost), a.status(t)["web"].VIPsRestored)
		}
	})
}

// Found by the simulator (seed 196): a sync group whose members all
// started in FAULT (the link down) stayed in FAULT once the link came
// back, each held by the other's fault: a member's own fault clearing
// made no transition, and only a transition re-checked the group.
func TestSyncGroupLeavesFaultTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		h := lan.AddHost("lb1", "eth0", simAddrs[0])
		h.SetLink("eth0", false)
		a, b := simInstance("a", 1, 200), simInstance("b", 2, 200)
		b.VIPs = []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.0.101/24")}}
		r := vrrp.NewRouter(h.System(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- r.Run(ctx, []vrrp.Config{a, b}, []vrrp.SyncGroup{{Name: "g", Instances: []string{"a", "b"}}})
		}()
		<-r.Ready()
		time.Sleep(time.Second)
		h.SetLink("eth0", true)
		time.Sleep(5 * time.Second)
		st, err := r.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range st.Instances {
			if in.State != "MASTER" {
				t.Errorf("%s is %s (%q) with its link back", in.Name, in.State, in.Fault)
			}
		}
		cancel()
		<-done
	})
}

// Hooks and track scripts go through System.Run: the simulator sees every
// notify hook with keepalived's arguments, in the order of the
// transitions, and a track script's exit status drives the priority.
func TestHooksAndScriptsThroughSystem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		h := lan.AddHost("lb1", "eth0", simAddrs[0])
		runner := &vrrptest.Runner{}
		sys := h.System()
		sys.Run = runner.Run
		c := simInstance("web", 51, 200)
		c.Notify = vrrp.NotifyConfig{Master: []string{"/hook", "m"}, Backup: []string{"/hook", "b"}, Fault: []string{"/hook", "f"}, Stop: []string{"/hook", "s"}, Timeout: time.Second}
		c.TrackScripts = []vrrp.TrackScript{{Name: "chk", Command: []string{"/chk"}, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 2}}
		r := vrrp.NewRouter(sys, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx, []vrrp.Config{c}, nil) }()
		<-r.Ready()
		time.Sleep(2 * time.Second)
		runner.SetExit("/chk", 1) // two failures in a row: FAULT
		time.Sleep(3 * time.Second)
		runner.SetExit("/chk", 0)
		time.Sleep(3 * time.Second)
		cancel()
		<-done
		var got []string
		for _, call := range runner.Calls("/hook") {
			got = append(got, strings.Join(call.Argv[1:], " "))
		}
		want := []string{
			"b INSTANCE web BACKUP 200",
			"m INSTANCE web MASTER 200",
			"f INSTANCE web FAULT 200",
			"b INSTANCE web BACKUP 200",
			"m INSTANCE web MASTER 200",
			"s INSTANCE web STOP 200",
		}
		if !slices.Equal(got, want) {
			t.Errorf("hooks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if n := len(runner.Calls("/chk")); n < 8 {
			t.Errorf("the track script ran %d times in 8 s at 1 s", n)
		}
	})
}

// A track_file is read through System: a value with weight 0 puts the
// instance in FAULT at the next poll, and the file gone (value 0) takes
// it out again.
func TestTrackFileThroughSystem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		h := lan.AddHost("lb1", "eth0", simAddrs[0])
		c := simInstance("web", 51, 200)
		c.TrackFiles = []vrrp.TrackFile{{Path: "/run/web.fault"}}
		a := startSim(t, h, c)
		time.Sleep(2 * time.Second)
		if s := a.state(t, "web"); s != "MASTER" {
			t.Fatalf("without the file: %s", s)
		}
		h.WriteFile("/run/web.fault", "1\n")
		time.Sleep(600 * time.Millisecond)
		if s := a.state(t, "web"); s != "FAULT" {
			t.Fatalf("a poll after the file says 1: %s, want FAULT", s)
		}
		h.RemoveFile("/run/web.fault")
		time.Sleep(5 * time.Second)
		if s := a.state(t, "web"); s != "MASTER" {
			t.Fatalf("with the file gone: %s, want MASTER", s)
		}
	})
}

// Healing a split brain, the winner announces at once and once more an
// advert interval later: the loser may still have gratuitous ARP of its
// own on the way (the end-to-end NAT test saw the real servers' gateway
// entry left on the loser).
func TestHealAnnouncesAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		h1, h2 := lan.AddHost("lb1", "eth0", simAddrs[0]), lan.AddHost("lb2", "eth0", simAddrs[1])
		lan.Partition([]*vrrptest.Host{h1}, []*vrrptest.Host{h2})
		a := startSim(t, h1, simInstance("web", 51, 200))
		b := startSim(t, h2, simInstance("web", 51, 100))
		time.Sleep(2 * time.Second)
		healed := time.Now()
		lan.Partition()
		time.Sleep(time.Second)
		if a.state(t, "web") != "MASTER" || b.state(t, "web") != "BACKUP" {
			t.Fatalf("after the heal: lb1 %s, lb2 %s", a.state(t, "web"), b.state(t, "web"))
		}
		var after []time.Duration
		for _, an := range h1.Announced() {
			if an.At.After(healed) {
				after = append(after, an.At.Sub(healed))
			}
		}
		if len(after) < 2 || after[0] > 150*time.Millisecond || after[len(after)-1] < 100*time.Millisecond {
			t.Errorf("lb1's announcements after the heal at %v; want one at once and one an advert interval later", after)
		}
	})
}
