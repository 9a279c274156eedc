package vrrp_test

// IPv6 between two real directors: VRRPv3 to ff02::12 from link-local
// addresses, IPv6 VIPs added without DAD, and unsolicited neighbour
// advertisements that move the LAN's neighbour entries on a takeover.

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/labnet"
	"directord/vrrp"
)

var vip6 = netip.MustParseAddr("2001:db8:9::100")

func instance6(name string, vrid, prio int, extra ...string) string {
	return fmt.Sprintf("vrrp_instance %q {\n  interface = \"eth0\"\n  virtual_router_id = %d\n  priority = %d\n  advert_interval = \"100ms\"\n  virtual_ips = [\"fe80::100/64\", \"%s/64\"]\n%s}\n",
		name, vrid, prio, vip6, strings.Join(append(extra, ""), "\n"))
}

// waitLinkLocal waits until ns's eth0 has a link-local address that has
// passed duplicate address detection: the source of IPv6 adverts.
func waitLinkLocal(t testing.TB, ns *labnet.NS) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := ns.Run("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link-local address past DAD on eth0: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIPv6Failover(t *testing.T) {
	p := newPair(t)
	for _, ns := range []*labnet.NS{p.LB1.NS(), p.LB2.NS(), p.Observer} {
		waitLinkLocal(t, ns)
	}
	// The observer is a host of the VIP's subnet.
	if _, err := p.Observer.Run("ip", "-6", "addr", "add", "2001:db8:9::9/64", "dev", "eth0", "nodad"); err != nil {
		t.Fatal(err)
	}
	wire := harness.Tcpdump(t, p.Observer, "eth0", "ip6 proto 112 or icmp6")
	start := time.Now()
	startPair(t, p, instance6("web", 51, 100), instance6("web", 51, 200), p.LB2)
	// lb1 stays BACKUP: it accepts lb2's adverts, which it does only at
	// hop limit 255 with a correct pseudo-header checksum.
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	time.Sleep(500 * time.Millisecond)
	if s := p.LB1.State("web"); s != "BACKUP" {
		t.Fatalf("lb1 is %s beside lb2", s)
	}
	f, ok := wire.WaitFor(start, 2*time.Second, func(f harness.Frame) bool {
		return f.VRRP && f.Dst == vrrp.MulticastGroup6 && f.Priority == 200
	})
	if !ok {
		t.Fatal("the observer saw no VRRPv3 advert to ff02::12")
	}
	if !f.Src.IsLinkLocalUnicast() || f.Version != 3 || f.SrcMAC != macOf(p, p.LB2) {
		t.Errorf("advert %s: want VRRPv3 from lb2's link-local address", f.Line)
	}
	if !p.LB2.HasAddr(t, vip6.String()) || p.LB1.HasAddr(t, vip6.String()) {
		t.Fatal("the VIP is not on the master alone")
	}
	harness.Touch(t, p.Observer, vip6)
	harness.WaitNeighbour(t, p.Observer, vip6, macOf(p, p.LB2), 2*time.Second)

	// SIGTERM: lb2 resigns, lb1 takes over and its neighbour
	// advertisement (Override set) moves the observer's entry at once.
	took := time.Now()
	p.LB2.Stop(t, 5*time.Second)
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	harness.WaitNeighbour(t, p.Observer, vip6, macOf(p, p.LB1), time.Second)
	na, ok := wire.WaitFor(took, time.Second, func(f harness.Frame) bool { return f.NA && f.Target == vip6 })
	if !ok {
		t.Fatal("no neighbour advertisement for the VIP after the takeover")
	}
	if na.SrcMAC != macOf(p, p.LB1) || na.Dst != netip.MustParseAddr("ff02::1") {
		t.Errorf("neighbour advertisement %s: want from lb1 to ff02::1", na.Line)
	}
}

// bed6 is the pair with IPv6 ready: link-local addresses past DAD, the
// observer in the VIP's subnet, and a capture of VRRP and ICMPv6.
func bed6(t *testing.T) (*harness.Pair, *harness.Capture) {
	t.Helper()
	p := newPair(t)
	for _, ns := range []*labnet.NS{p.LB1.NS(), p.LB2.NS(), p.Observer} {
		waitLinkLocal(t, ns)
	}
	if _, err := p.Observer.Run("ip", "-6", "addr", "add", "2001:db8:9::9/64", "dev", "eth0", "nodad"); err != nil {
		t.Fatal(err)
	}
	return p, harness.Tcpdump(t, p.Observer, "eth0", "ip6 proto 112 or icmp6")
}

// linkLocalOf is ns's link-local address on eth0.
func linkLocalOf(t *testing.T, ns *labnet.NS) netip.Addr {
	t.Helper()
	out, err := ns.Run("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	t.Fatalf("no link-local address in %q", out)
	return netip.Addr{}
}

// kill -9 of the master: the backup takes over after Master_Down_Interval
// and the observer's neighbour entry follows; the master restarted with
// the higher priority preempts back, and the entry follows again.
func TestIPv6KillAndPreemptBack(t *testing.T) {
	p, wire := bed6(t)
	startPair(t, p, instance6("web", 51, 100), instance6("web", 51, 200), p.LB2)
	harness.Touch(t, p.Observer, vip6)
	harness.WaitNeighbour(t, p.Observer, vip6, macOf(p, p.LB2), 2*time.Second)

	p.LB2.Kill()
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	harness.WaitNeighbour(t, p.Observer, vip6, macOf(p, p.LB1), time.Second)

	back := time.Now()
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	harness.WaitNeighbour(t, p.Observer, vip6, macOf(p, p.LB2), time.Second)
	if _, ok := wire.WaitFor(back, time.Second, func(f harness.Frame) bool {
		return f.NA && f.Target == vip6 && f.SrcMAC == macOf(p, p.LB2)
	}); !ok {
		t.Error("no neighbour advertisement from lb2 after it preempted back")
	}
	if p.LB1.HasAddr(t, vip6.String()) {
		t.Error("lb1 kept the VIP after lb2 preempted back")
	}
}

// Unicast peers over IPv6: adverts go to the peer's link-local address
// only (none to ff02::12), and a failover still moves the VIP.
func TestIPv6UnicastPeers(t *testing.T) {
	p, wire := bed6(t)
	ll1, ll2 := linkLocalOf(t, p.LB1.NS()), linkLocalOf(t, p.LB2.NS())
	start := time.Now()
	startPair(t, p,
		instance6("web", 51, 100, fmt.Sprintf("  unicast_peers = [%q]", ll2)),
		instance6("web", 51, 200, fmt.Sprintf("  unicast_peers = [%q]", ll1)), p.LB2)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	time.Sleep(500 * time.Millisecond)
	if s := p.LB1.State("web"); s != "BACKUP" {
		t.Fatalf("lb1 is %s beside lb2: the unicast adverts did not arrive", s)
	}
	for _, f := range wire.Frames() {
		if f.VRRP && f.At.After(start) && f.Dst != ll1 {
			t.Fatalf("advert to %s, want only to lb1's %s: %s", f.Dst, ll1, f.Line)
		}
	}
	p.LB2.Kill()
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	if !p.LB1.HasAddr(t, vip6.String()) {
		t.Error("lb1 took over without the VIP")
	}
}
