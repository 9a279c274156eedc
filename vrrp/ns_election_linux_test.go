package vrrp_test

// Integration tests of the election: who becomes master, failover,
// preemption, unicast, authentication, split brain.

import (
	"net/netip"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/vrrp"
)

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
	sameTransitions(t, "kill-master", map[string][]vrrp.TransitionRecord{
		"lb1": transitions(t, p.LB1, "web"), "lb2": transitions(t, p.LB2, "web")})
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
	sameTransitions(t, "preempt-delay", map[string][]vrrp.TransitionRecord{
		"lb1": transitions(t, p.LB1, "web"), "lb2": transitions(t, p.LB2, "web")})
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
	sameTransitions(t, "split-brain", map[string][]vrrp.TransitionRecord{
		"lb1": transitions(t, p.LB1, "web"), "lb2": transitions(t, p.LB2, "web")})
}
