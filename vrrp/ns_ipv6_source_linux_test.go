package vrrp_test

import (
	"net"
	"strings"
	"testing"
	"time"
)

// An IPv6 VIP must never become the master's own source address: its
// health checks go to real servers that hold the same VIP on lo in DR
// mode, and a check sent from the VIP is answered to the real itself.
// IPv6 has no primary and secondary addresses, and Linux prefers the
// newest of equal candidates, so the VIP is added deprecated (preferred
// lifetime 0): still a local address for every packet sent to it, never
// picked as a source (RFC 6724 rule 3).
func TestIPv6VIPIsNeverTheSource(t *testing.T) {
	p, _ := bed6(t)
	if _, err := p.LB2.NS().Run("ip", "-6", "addr", "add", "2001:db8:9::2/64", "dev", "eth0", "nodad"); err != nil {
		t.Fatal(err)
	}
	startPair(t, p, instance6("web", 51, 100), instance6("web", 51, 200), p.LB2)
	deadline := time.Now().Add(2 * time.Second)
	for !p.LB2.HasAddr(t, vip6.String()) {
		if time.Now().After(deadline) {
			t.Fatal("the master never added the VIP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := p.LB2.NS().Run("ip", "-6", "-o", "addr", "show", "dev", "eth0", "to", vip6.String())
	if err != nil || !strings.Contains(out, "deprecated") || !strings.Contains(out, "valid_lft forever") {
		t.Errorf("the VIP is not deprecated with a permanent lifetime (%v): %s", err, out)
	}
	// A destination in the VIP's subnet, where both addresses tie on
	// every rule before rule 3.
	route, err := p.LB2.NS().Run("ip", "-6", "route", "get", "2001:db8:9::50")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(route, "src 2001:db8:9::2 ") {
		t.Errorf("the master's source towards its subnet is not its own address: %s", route)
	}
	// The VIP still takes connections: the observer opens one to it.
	var ln net.Listener
	if err := p.LB2.NS().Do(func() (err error) {
		ln, err = net.Listen("tcp6", net.JoinHostPort(vip6.String(), "8080"))
		return err
	}); err != nil {
		t.Fatalf("listen on the deprecated VIP: %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	if err := p.Observer.Do(func() error {
		c, err := net.DialTimeout("tcp6", net.JoinHostPort(vip6.String(), "8080"), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Errorf("the observer cannot connect to the deprecated VIP: %v", err)
	}
}

// The advert source is the interface's own link-local address, never a
// link-local VIP: the kernel lists the newest address first, and a VIP
// (added without DAD) is never tentative, so a restart after kill -9,
// which finds the crashed run's fe80::100 still there, took it as its
// source. Adverts from a moving address break RFC 9568 §5.1.2.1, and
// two directors that both picked the VIP drop each other's adverts as
// their own: two masters for good.
func TestIPv6SourceIsNeverAVIP(t *testing.T) {
	p, wire := bed6(t)
	own := linkLocalOf(t, p.LB2.NS())
	startPair(t, p, instance6("web", 51, 100), instance6("web", 51, 200), p.LB2)
	p.LB2.Kill() // leaves fe80::100 and the global VIP on eth0
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	if !p.LB2.HasAddr(t, "fe80::100") {
		t.Fatal("kill -9 left no link-local VIP: the test would prove nothing")
	}
	// Something else on the link changes addresses (a router
	// advertisement, DHCP): the router looks for its source again.
	back := time.Now()
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	if _, err := p.LB2.NS().Run("ip", "-6", "addr", "add", "2001:db8:9::7/64", "dev", "eth0", "nodad"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if src := instanceStatus(t, p.LB2, "web").Source; src != own.String() {
		t.Errorf("lb2's advert source is %s, want its own link-local %s", src, own)
	}
	for _, f := range wire.Frames() {
		if f.At.After(back) && f.VRRP && f.SrcMAC == macOf(p, p.LB2) && f.Src != own {
			t.Errorf("lb2 advertised from %s, not its own link-local %s: %s", f.Src, own, f.Line)
			break
		}
	}
	if s := p.LB1.State("web"); s != "BACKUP" {
		t.Errorf("lb1 is %s beside lb2", s)
	}
}

// An IPv6 instance on an interface that is down at start (no link-local
// address until it is up) must not stop the daemon: it waits, and takes
// its place once the link comes up with its address.
func TestIPv6StartsWithTheLinkDown(t *testing.T) {
	p, _ := bed6(t)
	own := linkLocalOf(t, p.LB2.NS())
	if _, err := p.LB2.NS().Run("ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatal(err)
	}
	startPair(t, p, instance6("web", 51, 100), instance6("web", 51, 200), p.LB1)
	if s := p.LB2.State("web"); s == "MASTER" {
		t.Fatalf("lb2 is %s with its link down", s)
	}
	up := time.Now()
	if _, err := p.LB2.NS().Run("ip", "link", "set", "eth0", "up"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 10*time.Second)
	t.Logf("lb2 master %s after its link came up (DAD, then preemption)", time.Since(up).Round(time.Millisecond))
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	if src := instanceStatus(t, p.LB2, "web").Source; src != own.String() {
		t.Errorf("lb2's source is %s, want its link-local %s", src, own)
	}
}
