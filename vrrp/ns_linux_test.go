package vrrp_test

// Integration tests: the real directord binary in network namespaces on
// this kernel, two directors and an observer on a bridge, raw sockets,
// netlink and gratuitous ARP for real.

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/netnstest"
	"directord/internal/testenv"
	"directord/vrrp"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func directord(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "tcpdump")
	buildOnce.Do(func() { binPath, buildErr = harness.BuildDirectord() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func newPair(t *testing.T) *harness.Pair {
	return harness.NewPair(t, directord(t))
}

func macOf(p *harness.Pair, d *harness.Director) string { return d.Port.MAC.String() }

// startPair runs lb1 and lb2 with the given instance blocks and waits for
// the expected master.
func startPair(t *testing.T, p *harness.Pair, lb1, lb2 string, master *harness.Director) {
	t.Helper()
	p.LB1.WriteConfig(t, lb1)
	p.LB2.WriteConfig(t, lb2)
	p.LB1.Start(t)
	p.LB2.Start(t)
	master.WaitState(t, "web", "MASTER", 5*time.Second)
}

func transitions(t *testing.T, d *harness.Director, instance string) []vrrp.TransitionRecord {
	t.Helper()
	for _, in := range d.Status(t).VRRP.Instances {
		if in.Name == instance {
			return in.Transitions
		}
	}
	t.Fatalf("%s has no instance %s", d.Name, instance)
	return nil
}

func instanceStatus(t *testing.T, d *harness.Director, instance string) vrrp.InstanceStatus {
	t.Helper()
	for _, in := range d.Status(t).VRRP.Instances {
		if in.Name == instance {
			return in
		}
	}
	t.Fatalf("%s has no instance %s", d.Name, instance)
	return vrrp.InstanceStatus{}
}

// onlyHolder checks that exactly `holder` has the VIP.
func onlyHolder(t *testing.T, p *harness.Pair, holder *harness.Director) {
	t.Helper()
	for _, d := range []*harness.Director{p.LB1, p.LB2} {
		if got := d.HasAddr(t, harness.VIP.String()); got != (d == holder) {
			t.Errorf("%s has the VIP: %v, want %v", d.Name, got, d == holder)
		}
	}
}

func TestElectionByPriority(t *testing.T) {
	p := newPair(t)
	start := time.Now()
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), harness.Instance("web", 51, 200, "100ms"), p.LB2)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	onlyHolder(t, p, p.LB2)
	if _, ok := p.Wire.WaitFor(start, 2*time.Second, func(f harness.Frame) bool {
		return f.Gratuitous(harness.VIP) && f.SrcMAC == macOf(p, p.LB2)
	}); !ok {
		t.Error("the observer saw no gratuitous ARP from the master")
	}
	for _, tr := range transitions(t, p.LB1, "web") {
		if tr.To == "MASTER" {
			t.Errorf("the lower-priority router was master: %+v", tr)
		}
	}
}

// Two masters of equal priority meet (their link was isolated while they
// started): the one with the higher primary address stays master.
func TestElectionByAddressOnEqualPriority(t *testing.T) {
	p := newPair(t)
	if err := p.LB1.Port.Isolate(true); err != nil {
		t.Fatal(err)
	}
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 150, "100ms"))
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 150, "100ms"))
	p.LB1.Start(t)
	p.LB2.Start(t)
	p.LB1.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	if err := p.LB1.Port.Isolate(false); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "BACKUP", 2*time.Second)
	trs := transitions(t, p.LB1, "web")
	if last := trs[len(trs)-1]; last.Reason != string(vrrp.ReasonHigherAddr) {
		t.Errorf("lb1 stepped down for %q, want %q", last.Reason, vrrp.ReasonHigherAddr)
	}
	time.Sleep(300 * time.Millisecond)
	if p.LB2.State("web") != "MASTER" {
		t.Error("lb2 (10.9.0.2) should have stayed master")
	}
	onlyHolder(t, p, p.LB2)
}

// kill -9 of the master: the backup takes the VIP and the observer's
// neighbour entry follows it, by gratuitous ARP alone. The killed daemon
// left its VIP behind; on restart it removes it before rejoining.
func TestKillMasterFailoverAndRestart(t *testing.T) {
	p := newPair(t)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), harness.Instance("web", 51, 200, "100ms"), p.LB2)
	harness.Touch(t, p.Observer, harness.VIP)
	harness.WaitNeighbour(t, p.Observer, harness.VIP, macOf(p, p.LB2), 2*time.Second)
	time.Sleep(1100 * time.Millisecond) // past the neighbour table's locktime

	killed := time.Now()
	p.LB2.Kill()
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	harness.WaitNeighbour(t, p.Observer, harness.VIP, macOf(p, p.LB1), time.Second)
	if f, ok := p.Wire.WaitFor(killed, time.Second, func(f harness.Frame) bool {
		return f.Gratuitous(harness.VIP) && f.SrcMAC == macOf(p, p.LB1)
	}); !ok {
		t.Error("no gratuitous ARP from the new master")
	} else {
		t.Logf("kill -9 to the backup's first GARP: %s (Master_Down_Interval 360.9ms)", f.At.Sub(killed).Round(time.Millisecond))
	}
	if !p.LB2.HasAddr(t, harness.VIP.String()) {
		t.Fatal("the killed daemon's VIP should still be on its interface")
	}

	p.LB2.Start(t)
	removed := p.LB2.LogLines("removed a VIP left by an earlier run")
	if len(removed) != 1 {
		t.Fatalf("restart did not report removing the stale VIP:\n%s", p.LB2.Log())
	}
	trs := transitions(t, p.LB2, "web")
	if len(trs) == 0 || trs[0].To != "BACKUP" {
		t.Fatalf("after restart lb2 should start as backup: %+v", trs)
	}
	// It preempts (priority 200) once it has rejoined.
	p.LB2.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	onlyHolder(t, p, p.LB2)
}

// The master's cable is pulled: the backup takes over. Plugged back, the
// higher priority takes over again once, and then nothing moves.
func TestLinkCutFailover(t *testing.T) {
	p := newPair(t)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), harness.Instance("web", 51, 200, "100ms"), p.LB2)
	if err := p.LB2.Port.SetLink(false); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "web", "FAULT", time.Second)
	if p.LB2.HasAddr(t, harness.VIP.String()) {
		t.Error("a router without its link must drop the VIP")
	}
	if err := p.LB2.Port.SetLink(true); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	n1, n2 := len(transitions(t, p.LB1, "web")), len(transitions(t, p.LB2, "web"))
	time.Sleep(2 * time.Second)
	if m1, m2 := len(transitions(t, p.LB1, "web")), len(transitions(t, p.LB2, "web")); m1 != n1 || m2 != n2 {
		t.Errorf("flapping after the link came back: lb1 %d→%d, lb2 %d→%d transitions", n1, m1, n2, m2)
	}
	onlyHolder(t, p, p.LB2)
}

// SIGTERM: the master resigns with priority 0 and the backup takes over
// after Skew_Time, not Master_Down_Interval.
func TestGracefulHandover(t *testing.T) {
	p := newPair(t)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), harness.Instance("web", 51, 200, "100ms"), p.LB2)
	start := time.Now()
	took := p.LB2.Stop(t, time.Second)
	t.Logf("SIGTERM to exit: %s", took.Round(time.Millisecond))
	resign, ok := p.Wire.WaitFor(start, time.Second, func(f harness.Frame) bool {
		return f.VRRP && f.Src == harness.LB2Addr && f.Priority == 0
	})
	if !ok {
		t.Fatal("no priority 0 advert from the stopping master")
	}
	garp, ok := p.Wire.WaitFor(resign.At, time.Second, func(f harness.Frame) bool {
		return f.Gratuitous(harness.VIP) && f.SrcMAC == macOf(p, p.LB1)
	})
	if !ok {
		t.Fatal("no gratuitous ARP from the backup")
	}
	gap := garp.At.Sub(resign.At)
	t.Logf("priority 0 advert to the backup's first GARP: %s (Skew_Time 60.9ms)", gap.Round(time.Millisecond))
	// Master_Down_Interval is 360.9ms: well under it proves Skew_Time.
	if gap > 180*time.Millisecond {
		t.Errorf("handover took %s, want about Skew_Time (60.9ms)", gap)
	}
	if p.LB2.HasAddr(t, harness.VIP.String()) {
		t.Error("the stopped master left its VIP")
	}
	onlyHolder(t, p, p.LB1)
}

func TestPreemptBack(t *testing.T) {
	p := newPair(t)
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 100, "100ms"))
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 200, "100ms"))
	p.LB1.Start(t)
	p.LB1.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB2.WaitState(t, "web", "BACKUP", time.Second)
	onlyHolder(t, p, p.LB1)
}

func TestNoPreemptStays(t *testing.T) {
	p := newPair(t)
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 100, "100ms"))
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 200, "100ms", "preempt = false"))
	p.LB1.Start(t)
	time.Sleep(1500 * time.Millisecond) // four Master_Down_Intervals
	if s := p.LB1.State("web"); s != "BACKUP" {
		t.Fatalf("nopreempt router is %s", s)
	}
	onlyHolder(t, p, p.LB2)
	// It still takes over when the master goes.
	p.LB2.Kill()
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
}

func TestPreemptDelay(t *testing.T) {
	p := newPair(t)
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 100, "100ms"))
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB1.WriteConfig(t, harness.Instance("web", 51, 200, "100ms", `preempt_delay = "1500ms"`))
	started := time.Now()
	p.LB1.Start(t)
	at := p.LB1.WaitState(t, "web", "MASTER", 5*time.Second)
	waited := at.Sub(started)
	t.Logf("preempted %s after start (preempt_delay 1.5s, Master_Down_Interval 323ms)", waited.Round(time.Millisecond))
	if waited < 1500*time.Millisecond {
		t.Errorf("preempted after %s, before preempt_delay", waited)
	}
	if waited > 1500*time.Millisecond+time.Second {
		t.Errorf("preempted only after %s", waited)
	}
	p.LB2.WaitState(t, "web", "BACKUP", time.Second)
}

func TestUnicastPair(t *testing.T) {
	p := newPair(t)
	uni := func(self, peer netip.Addr) []string {
		return []string{`unicast_src = "` + self.String() + `"`, `unicast_peers = ["` + peer.String() + `"]`}
	}
	// Once the bridge has learnt the MACs, unicast never reaches the
	// observer: watch lb1's own wire.
	wire := harness.Tcpdump(t, p.LB1.NS(), "eth0", "ip proto 112")
	start := time.Now()
	startPair(t, p,
		harness.Instance("web", 51, 100, "100ms", uni(harness.LB1Addr, harness.LB2Addr)...),
		harness.Instance("web", 51, 200, "100ms", uni(harness.LB2Addr, harness.LB1Addr)...), p.LB2)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	if _, ok := wire.WaitFor(start, time.Second, func(f harness.Frame) bool {
		return f.VRRP && f.Src == harness.LB2Addr && f.Dst == harness.LB1Addr
	}); !ok {
		t.Error("no unicast advert from lb2 to lb1 on the wire")
	}
	for _, f := range append(wire.Frames(), p.Wire.Frames()...) {
		if f.VRRP && f.Dst == vrrp.MulticastGroup {
			t.Fatalf("a unicast pair sent multicast: %s", f.Line)
		}
	}
	if in := instanceStatus(t, p.LB1, "web"); in.AdvertsReceived == 0 || in.Master != harness.LB2Addr.String() {
		t.Errorf("lb1 status: received %d, master %q", in.AdvertsReceived, in.Master)
	}
	p.LB2.Kill()
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
}

// VRRPv2 with PASS authentication; a third router with the wrong password
// is not heard, whatever its priority.
func TestV2PassAuth(t *testing.T) {
	p := newPair(t)
	v2 := func(pass string) []string {
		return []string{"version = 2", `authentication {`, `  type = "pass"`, `  password = "` + pass + `"`, `}`}
	}
	startPair(t, p, harness.Instance("web", 51, 100, "1s", v2("secret")...), harness.Instance("web", 51, 200, "1s", v2("secret")...), p.LB2)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	port := p.LAN.AddHost(t, "lb3", "10.9.0.3/24")
	lb3 := harness.NewDirector(t, directord(t), "lb3", port)
	lb3.WriteConfig(t, harness.Instance("web", 51, 250, "1s", v2("guess")...))
	lb3.Start(t)
	deadline := time.Now().Add(5 * time.Second)
	for instanceStatus(t, p.LB1, "web").Drops[vrrp.DropAuth] < 2 || instanceStatus(t, p.LB2, "web").Drops[vrrp.DropAuth] < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("wrong-password adverts were not counted as auth drops: lb1 %v lb2 %v",
				instanceStatus(t, p.LB1, "web").Drops, instanceStatus(t, p.LB2, "web").Drops)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p.LB2.State("web") != "MASTER" || p.LB1.State("web") != "BACKUP" {
		t.Errorf("the wrong password changed the election: lb1 %s, lb2 %s", p.LB1.State("web"), p.LB2.State("web"))
	}
	if in := instanceStatus(t, p.LB1, "web"); in.Master != harness.LB2Addr.String() {
		t.Errorf("lb1 follows %s, want lb2", in.Master)
	}
}

// track_interface: with weight 0 a down link is Fault; with a negative
// weight the priority drops and the peer preempts.
func TestTrackInterface(t *testing.T) {
	p := newPair(t)
	addTrackLink(t, p.LB2)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"),
		harness.Instance("web", 51, 200, "100ms", `track_interface "trk0" {}`), p.LB2)
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "down"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "FAULT", time.Second)
	p.LB1.WaitState(t, "web", "MASTER", time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.Fault != "interface trk0" {
		t.Errorf("fault cause %q", in.Fault)
	}
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "up"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
}

func TestTrackInterfaceWeight(t *testing.T) {
	p := newPair(t)
	addTrackLink(t, p.LB2)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"),
		harness.Instance("web", 51, 200, "100ms", `track_interface "trk0" { weight = -150 }`), p.LB2)
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "down"); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "web", "BACKUP", time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.EffectivePriority != 50 || in.Priority != 200 {
		t.Errorf("priority %d effective %d, want 200 and 50", in.Priority, in.EffectivePriority)
	}
}

// Split brain: the master is cut off behind a dead switch port (its link
// stays up), so both become master. Healed, the lower one steps down
// within one advert interval and the winner re-announces the VIP.
func TestSplitBrainHeals(t *testing.T) {
	p := newPair(t)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), harness.Instance("web", 51, 200, "100ms"), p.LB2)
	if err := p.LB2.Port.Isolate(true); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	if p.LB2.State("web") != "MASTER" {
		t.Fatal("the isolated master should still believe it is master")
	}
	healed := time.Now()
	if err := p.LB2.Port.Isolate(false); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	trs := transitions(t, p.LB1, "web")
	down := trs[len(trs)-1]
	took := down.At.Sub(healed)
	t.Logf("lb1 stepped down %s after the heal", took.Round(time.Millisecond))
	if took > 100*time.Millisecond+50*time.Millisecond {
		t.Errorf("two masters for %s after the heal, want at most one advert interval (100ms)", took)
	}
	if _, ok := p.Wire.WaitFor(healed, time.Second, func(f harness.Frame) bool {
		return f.Gratuitous(harness.VIP) && f.SrcMAC == macOf(p, p.LB2)
	}); !ok {
		t.Error("the winner did not re-send gratuitous ARP after the heal")
	}
	if p.LB2.State("web") != "MASTER" {
		t.Error("lb2 lost mastership")
	}
	onlyHolder(t, p, p.LB2)
}

// Every receive rule of RFC 9568 §7.1: a hand-made bad packet from the
// observer, with a priority that would win if accepted, is dropped,
// counted under its reason, and changes no state. A good one, last, proves
// the path works.
func TestReceiveRules(t *testing.T) {
	p := newPair(t)
	v2 := `vrrp_instance "shop" {
  interface = "eth0"
  virtual_router_id = 52
  priority = 200
  version = 2
  advert_interval = "1s"
  virtual_ips = ["10.9.0.101/24"]
  authentication {
    type = "pass"
    password = "secret"
  }
}
`
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 200, "100ms")+v2)
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB2.WaitState(t, "shop", "MASTER", 5*time.Second)

	v3 := func(vrid uint8) []byte {
		b, err := (&vrrp.Packet{Version: 3, Type: 1, VRID: vrid, Priority: 254, Interval: 100 * time.Millisecond,
			Addrs: []netip.Addr{harness.VIP}}).Marshal(harness.ObsAddr, vrrp.MulticastGroup)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongAuth, _ := (&vrrp.Packet{Version: 2, Type: 1, VRID: 52, Priority: 254, Interval: time.Second,
		AuthType: vrrp.AuthPass, AuthData: vrrp.PassData("guess"), Addrs: []netip.Addr{netip.MustParseAddr("10.9.0.101")}}).
		Marshal(harness.ObsAddr, vrrp.MulticastGroup)
	badSum := v3(51)
	badSum[6] ^= 0x55
	cases := []struct {
		name     string
		ttl      int
		msg      []byte
		instance string
		reason   vrrp.Drop
	}{
		{"TTL 64", 64, v3(51), "web", vrrp.DropTTL},
		{"bad checksum", 255, badSum, "web", vrrp.DropChecksum},
		{"truncated", 255, v3(51)[:10], "web", vrrp.DropLength},
		{"wrong auth", 255, wrongAuth, "shop", vrrp.DropAuth},
		{"wrong VRID", 255, v3(99), "", vrrp.DropVRID},
	}
	before := map[string]int{"web": len(transitions(t, p.LB2, "web")), "shop": len(transitions(t, p.LB2, "shop"))}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			count := func() uint64 {
				doc := p.LB2.Status(t)
				if c.instance == "" {
					return doc.VRRP.UnclaimedDrops["eth0"][c.reason]
				}
				return instanceStatus(t, p.LB2, c.instance).Drops[c.reason]
			}
			n := count()
			if err := harness.SendIPv4(p.Observer, "eth0", vrrp.ProtocolNumber, c.ttl, harness.ObsAddr, vrrp.MulticastGroup, c.msg); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for count() != n+1 {
				if time.Now().After(deadline) {
					t.Fatalf("%s drops: %d, want %d", c.reason, count(), n+1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	for name, n := range before {
		if got := len(transitions(t, p.LB2, name)); got != n || p.LB2.State(name) != "MASTER" {
			t.Errorf("%s changed state on bad packets: %d transitions (was %d), state %s", name, got, n, p.LB2.State(name))
		}
	}
	// The control: the same packet, correct, makes the master step down.
	if err := harness.SendIPv4(p.Observer, "eth0", vrrp.ProtocolNumber, 255, harness.ObsAddr, vrrp.MulticastGroup, v3(51)); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "BACKUP", time.Second)
}

// A VIP removed behind our back while master is put back and announced.
func TestVIPRestored(t *testing.T) {
	p := newPair(t)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), harness.Instance("web", 51, 200, "100ms"), p.LB2)
	removed := time.Now()
	if _, err := p.LB2.NS().Run("ip", "addr", "del", harness.VIP.String()+"/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !p.LB2.HasAddr(t, harness.VIP.String()) {
		if time.Now().After(deadline) {
			t.Fatal("the VIP was not restored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := p.Wire.WaitFor(removed, time.Second, func(f harness.Frame) bool {
		return f.Gratuitous(harness.VIP) && f.SrcMAC == macOf(p, p.LB2)
	}); !ok {
		t.Error("no gratuitous ARP after restoring the VIP")
	}
	if in := instanceStatus(t, p.LB2, "web"); in.VIPsRestored != 1 {
		t.Errorf("vips_restored = %d, want 1", in.VIPsRestored)
	}
}

// Notify hooks run without a shell, in order, with keepalived's arguments
// and our environment; a failing one is logged and changes nothing.
func TestNotifyHooks(t *testing.T) {
	p := newPair(t)
	out := p.LB2.Dir + "/hooks.log"
	hook := func(tag string) string {
		return `["/bin/sh", "-c", "echo ` + tag + ` \"$@\" $DIRECTORD_STATE $DIRECTORD_PRIORITY >> ` + out + `", "hook"]`
	}
	body := harness.Instance("web", 51, 200, "100ms",
		"notify {", "  master = "+hook("m"), "  backup = "+hook("b"), `  fault = ["/bin/false"]`, "  stop = "+hook("s"), "}")
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), body, p.LB2)
	p.LB2.Stop(t, 2*time.Second)
	got := readFile(t, out)
	want := "m INSTANCE web MASTER 200 MASTER 200\ns INSTANCE web STOP 200 STOP 200\n"
	if !strings.HasPrefix(got, "b INSTANCE web BACKUP 200 BACKUP 200\n") || !strings.HasSuffix(got, want) {
		t.Errorf("hooks ran:\n%s\nwant a backup line, then:\n%s", got, want)
	}
}

func TestSyncGroupMovesTogether(t *testing.T) {
	p := newPair(t)
	second := `vrrp_instance "db" {
  interface = "eth0"
  virtual_router_id = 52
  priority = %d
  advert_interval = "100ms"
  virtual_ips = ["10.9.0.101/24"]
}
vrrp_sync_group "g" {
  instances = ["web", "db"]
}
`
	addTrackLink(t, p.LB2)
	cfg1 := harness.Instance("web", 51, 100, "100ms") + strings.Replace(second, "%d", "100", 1)
	cfg2 := harness.Instance("web", 51, 200, "100ms") + strings.Replace(second, "%d", "200", 1)
	cfg2 = strings.Replace(cfg2, `virtual_ips = ["10.9.0.101/24"]`, `virtual_ips = ["10.9.0.101/24"]
  track_interface "trk0" {}`, 1)
	startPair(t, p, cfg1, cfg2, p.LB2)
	p.LB2.WaitState(t, "db", "MASTER", time.Second)
	// Only "db" tracks trk0, but the whole group goes.
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "down"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "FAULT", time.Second)
	p.LB2.WaitState(t, "db", "FAULT", time.Second)
	p.LB1.WaitState(t, "web", "MASTER", time.Second)
	p.LB1.WaitState(t, "db", "MASTER", time.Second)
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "up"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "db", "MASTER", 2*time.Second)
}

// addTrackLink gives d a link "trk0" to track: a veth pair inside its
// namespace, both ends up.
func addTrackLink(t *testing.T, d *harness.Director) {
	t.Helper()
	if _, err := d.NS().Run("sh", "-c", "ip link add trk0 type veth peer name trk1 && ip link set trk1 up && ip link set trk0 up"); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// track_script with rise/fall and a negative weight, and track_file with
// weight 0 (a non-zero value is a fault).
func TestTrackScriptAndFile(t *testing.T) {
	p := newPair(t)
	flag := p.LB2.Dir + "/healthy"
	level := p.LB2.Dir + "/level"
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	body := harness.Instance("web", 51, 200, "100ms",
		`track_script "chk" {`,
		`  command = ["/bin/sh", "-c", "test -e `+flag+`"]`,
		`  interval = "100ms"`,
		`  rise = 2`,
		`  fall = 2`,
		`  weight = -150`,
		`}`,
		`track_file "`+level+`" { weight = 0 }`)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), body, p.LB2)
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 3*time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.EffectivePriority != 50 || in.State != "BACKUP" {
		t.Errorf("failing script: priority %d, state %s; want 50, BACKUP", in.EffectivePriority, in.State)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	if err := os.WriteFile(level, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "FAULT", 2*time.Second)
	p.LB1.WaitState(t, "web", "MASTER", time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.Fault != "file "+level {
		t.Errorf("fault cause %q", in.Fault)
	}
	if err := os.WriteFile(level, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
}

// Instances on two interfaces are independent: cutting one link moves
// only the instance on it. The VIP there carries a label.
func TestTwoInterfaces(t *testing.T) {
	p := newPair(t)
	br1, err := p.LAN.Net.AddBridge("br1")
	if err != nil {
		t.Fatal(err)
	}
	var lb2eth1 *netnstest.Port
	for _, h := range []struct {
		d    *harness.Director
		addr string
	}{{p.LB1, "10.9.1.1/24"}, {p.LB2, "10.9.1.2/24"}} {
		port, err := p.LAN.Net.Connect(h.d.NS(), br1, "eth1", netip.MustParsePrefix(h.addr))
		if err != nil {
			t.Fatal(err)
		}
		if h.d == p.LB2 {
			lb2eth1 = port
		}
	}
	inside := func(prio int) string {
		return `vrrp_instance "inside" {
  interface = "eth1"
  virtual_router_id = 51
  priority = ` + strconv.Itoa(prio) + `
  advert_interval = "100ms"
  virtual_ips = ["10.9.1.100/24 label eth1:gw"]
}
`
	}
	startPair(t, p, harness.Instance("web", 51, 100, "100ms")+inside(100), harness.Instance("web", 51, 200, "100ms")+inside(200), p.LB2)
	p.LB2.WaitState(t, "inside", "MASTER", 2*time.Second)
	out, err := p.LB2.NS().Run("ip", "-o", "addr", "show", "dev", "eth1")
	if err != nil || !strings.Contains(out, "10.9.1.100/24") || !strings.Contains(out, "eth1:gw") {
		t.Errorf("VIP with label not on eth1: %v\n%s", err, out)
	}
	if err := lb2eth1.SetLink(false); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "inside", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "inside", "FAULT", time.Second)
	time.Sleep(500 * time.Millisecond)
	if p.LB2.State("web") != "MASTER" || p.LB1.State("web") != "BACKUP" {
		t.Errorf("eth0's instance moved too: lb1 %s, lb2 %s", p.LB1.State("web"), p.LB2.State("web"))
	}
}
