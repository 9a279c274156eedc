package vrrp_test

// RFC 9568 §7.1 over IPv6 on the real kernel: adverts a correct router
// never sends, injected from the observer with a priority that would win,
// are dropped by both directors and counted under their reason, and move
// neither the state nor the Master_Down_Timer. A correct advert from the
// same socket proves the injection path.

import (
	"net/netip"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/labnet"
	"directord/vrrp"
)

// advert6 is one hand-made advert and the hop limit it leaves with.
type advert6 struct {
	name     string
	hopLimit int
	msg      []byte
	reason   vrrp.Drop // empty: it must be accepted
}

// fakeAdverts6 are the observer's adverts at priority 254 for VRID 51.
func fakeAdverts6(t *testing.T, src netip.Addr) (good advert6, bad []advert6) {
	t.Helper()
	p := vrrp.Packet{Version: 3, Type: vrrp.TypeAdvertisement, VRID: 51, Priority: 254, Interval: 100 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("fe80::100"), vip6}}
	msg, err := p.Marshal(src, vrrp.MulticastGroup6)
	if err != nil {
		t.Fatal(err)
	}
	badSum := append([]byte(nil), msg...)
	badSum[6] ^= 0x55
	// The checksum over the message alone: right over IPv4 per RFC 9568
	// §5.2.8 (and accepted there), wrong over IPv6.
	noPseudo := append([]byte(nil), msg...)
	noPseudo[6], noPseudo[7] = 0, 0
	noPseudo[6], noPseudo[7] = inetChecksum(noPseudo)
	return advert6{"valid", 255, msg, ""}, []advert6{
		{"hop limit 254", 254, msg, vrrp.DropTTL},
		{"bad checksum", 255, badSum, vrrp.DropChecksum},
		{"checksum without pseudo-header", 255, noPseudo, vrrp.DropChecksum},
	}
}

// inetChecksum is RFC 1071's checksum of b, high byte first.
func inetChecksum(b []byte) (byte, byte) {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	return byte(c >> 8), byte(c)
}

func inject6(t *testing.T, ns *labnet.NS, src netip.Addr, a advert6) {
	t.Helper()
	if err := harness.SendIPv6(ns, "eth0", vrrp.ProtocolNumber, a.hopLimit, src, vrrp.MulticastGroup6, a.msg); err != nil {
		t.Fatalf("%s: %v", a.name, err)
	}
}

// injectUntil sends the adverts in turn, one every 25 ms, until done
// holds or timeout passes. It returns how many it sent of each reason.
func injectUntil(t *testing.T, ns *labnet.NS, src netip.Addr, adverts []advert6, timeout time.Duration, done func() bool) (map[vrrp.Drop]uint64, bool) {
	t.Helper()
	sent := map[vrrp.Drop]uint64{}
	deadline := time.Now().Add(timeout)
	for i := 0; time.Now().Before(deadline); i++ {
		a := adverts[i%len(adverts)]
		inject6(t, ns, src, a)
		sent[a.reason]++
		if done() {
			return sent, true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return sent, false
}

// waitDrops waits until d's instance "web" counts want drops of reason.
func waitDrops(t *testing.T, d *harness.Director, reason vrrp.Drop, want uint64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := instanceStatus(t, d, "web").Drops[reason]
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s counts %d %q drops, want %d", d.Name, got, reason, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func follows(t *testing.T, d *harness.Director, master netip.Addr) bool {
	return instanceStatus(t, d, "web").Master == master.String()
}

func TestIPv6ReceiveRules(t *testing.T) {
	p, _ := bed6(t)
	obsLL, lb2LL := linkLocalOf(t, p.Observer), linkLocalOf(t, p.LB2.NS())
	good, bad := fakeAdverts6(t, obsLL)
	// Every VRRP packet on the LAN whose hop limit is not 255: the
	// injected ones must be there, at 254, and no director's.
	odd := harness.Tcpdump(t, p.Observer, "eth0", "ip6 proto 112 and ip6[7] != 255")
	startPair(t, p, instance6("web", 51, 100), instance6("web", 51, 200), p.LB2)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	if !follows(t, p.LB1, lb2LL) {
		t.Fatalf("lb1 follows %q, want lb2's %s", instanceStatus(t, p.LB1, "web").Master, lb2LL)
	}
	tr1, tr2 := len(transitions(t, p.LB1, "web")), len(transitions(t, p.LB2, "web"))

	// One at a time: the master and the backup each count it.
	for _, a := range bad {
		n1, n2 := instanceStatus(t, p.LB1, "web").Drops[a.reason], instanceStatus(t, p.LB2, "web").Drops[a.reason]
		inject6(t, p.Observer, obsLL, a)
		waitDrops(t, p.LB1, a.reason, n1+1)
		waitDrops(t, p.LB2, a.reason, n2+1)
		if !follows(t, p.LB1, lb2LL) || p.LB2.State("web") != "MASTER" {
			t.Fatalf("%s: lb1 follows %q, lb2 is %s", a.name, instanceStatus(t, p.LB1, "web").Master, p.LB2.State("web"))
		}
	}
	if n1, n2 := len(transitions(t, p.LB1, "web")), len(transitions(t, p.LB2, "web")); n1 != tr1 || n2 != tr2 {
		t.Fatalf("bad adverts changed state: lb1 %d transitions (was %d), lb2 %d (was %d)", n1, tr1, n2, tr2)
	}

	// The control: the same advert, correct, as a live master would send
	// it. lb2 steps down and lb1 follows the observer.
	_, ok := injectUntil(t, p.Observer, obsLL, []advert6{good}, 2*time.Second, func() bool {
		return p.LB2.State("web") == "BACKUP" && follows(t, p.LB1, obsLL)
	})
	if !ok {
		t.Fatalf("the valid advert was not followed: lb2 is %s, lb1 follows %q", p.LB2.State("web"), instanceStatus(t, p.LB1, "web").Master)
	}
	p.LB2.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)

	sentTTL := ipv6DropsKeepTimer(t, p, obsLL, bad)

	// Each hop limit 254 advert is on the wire at 254: what the
	// directors dropped is what the test says it sent.
	hop254 := 0
	for _, f := range odd.Frames() {
		if !f.VRRP || f.Src != obsLL || f.TTL != 254 {
			t.Errorf("a VRRP packet at a hop limit other than 255 that is not the observer's at 254: %s", f.Line)
		}
		hop254++
	}
	if want := sentTTL + 1; uint64(hop254) != want {
		t.Errorf("%d adverts at hop limit 254 on the wire, %d sent", hop254, want)
	}
}

// ipv6DropsKeepTimer kills the master and floods the backup with the bad
// adverts: had it taken any, its Master_Down_Timer would restart on each
// (a priority 254 above its own), and it would never take over. Every one
// is counted. It returns how many it sent at hop limit 254.
func ipv6DropsKeepTimer(t *testing.T, p *harness.Pair, src netip.Addr, bad []advert6) uint64 {
	t.Helper()
	before := instanceStatus(t, p.LB1, "web").Drops
	killed := time.Now()
	p.LB2.Kill()
	sent, ok := injectUntil(t, p.Observer, src, bad, 3*time.Second, func() bool { return p.LB1.State("web") == "MASTER" })
	if !ok {
		t.Fatalf("lb1 is %s %s after the master died, under bad adverts", p.LB1.State("web"), time.Since(killed).Round(time.Millisecond))
	}
	t.Logf("lb1 took over %s after the kill, through %v bad adverts", time.Since(killed).Round(time.Millisecond), sent)
	for reason, n := range sent {
		waitDrops(t, p.LB1, reason, before[reason]+n)
	}
	if s := p.LB1.State("web"); s != "MASTER" {
		t.Errorf("lb1 is %s after the flood", s)
	}
	if !p.LB1.HasAddr(t, vip6.String()) {
		t.Error("lb1 took over without the VIP")
	}
	return sent[vrrp.DropTTL]
}
