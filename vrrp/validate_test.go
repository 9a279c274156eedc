package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

func TestDecodeRules(t *testing.T) {
	s, d := addr("10.0.0.1"), MulticastGroup
	good := func() []byte {
		b, _ := (&Packet{Version: 3, Type: 1, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{addr("10.0.0.100")}}).Marshal(s, d)
		return b
	}
	tests := []struct {
		name string
		ttl  int
		b    []byte
		drop Drop
		vrid int
	}{
		{"accepted", 255, good(), "", 51},
		{"TTL 64 (a routed packet)", 64, good(), DropTTL, 51},
		{"bad checksum", 255, func() []byte { b := good(); b[7] ^= 0xff; return b }(), DropChecksum, 51},
		{"truncated", 255, good()[:10], DropLength, 51},
		{"version 1", 255, func() []byte { b := good(); b[0] = 0x11; return b }(), DropVersion, 51},
		{"type 2", 255, func() []byte { b := good(); b[0] = 0x32; return b }(), DropType, 51},
		{"one byte", 255, []byte{0x31}, DropLength, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, drop, vrid := Decode(Received{Src: s, Dst: d, TTL: tt.ttl, Data: tt.b})
			if drop != tt.drop || vrid != tt.vrid || (drop == "") != (p != nil) {
				t.Fatalf("Decode = %v, %q, %d; want drop %q vrid %d", p, drop, vrid, tt.drop, tt.vrid)
			}
		})
	}
	// IPv6 unicast (keepalived's leaves at hop limit 64): the hop limit
	// is the instance policy's to judge, the other checks still hold.
	// IPv4 unicast keeps the rule whole: keepalived sends TTL 255.
	s6, uni6 := addr("2001:db8::1"), addr("2001:db8::2")
	b, _ := (&Packet{Version: 3, Type: 1, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{addr("2001:db8::100")}}).Marshal(s6, uni6)
	if _, drop, _ := Decode(Received{Src: s6, Dst: uni6, TTL: 64, Data: b}); drop != "" {
		t.Errorf("IPv6 unicast at hop limit 64: Decode dropped it for %q", drop)
	}
	b[7] ^= 0xff
	if _, drop, _ := Decode(Received{Src: s6, Dst: uni6, TTL: 64, Data: b}); drop != DropChecksum {
		t.Errorf("IPv6 unicast at hop limit 64 with a bad checksum: Decode said %q", drop)
	}
	uni := addr("10.0.0.2")
	b4, _ := (&Packet{Version: 3, Type: 1, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{addr("10.0.0.100")}}).Marshal(s, uni)
	if _, drop, _ := Decode(Received{Src: s, Dst: uni, TTL: 64, Data: b4}); drop != DropTTL {
		t.Errorf("IPv4 unicast at TTL 64: Decode said %q, want %q", drop, DropTTL)
	}
}

func TestPolicyCheck(t *testing.T) {
	vip := []netip.Addr{addr("10.0.0.100")}
	v3 := Policy{Version: 3, VIPs: vip, Self: []netip.Addr{addr("10.0.0.2")}}
	v2 := Policy{Version: 2, AuthType: AuthPass, AuthData: PassData("secret"), Interval: time.Second, VIPs: vip}
	uni := Policy{Version: 3, VIPs: vip, Peers: []netip.Addr{addr("10.0.0.3")}}
	owner := Policy{Version: 3, Owner: true, VIPs: vip}
	p3 := &Packet{Version: 3, Priority: 100, Interval: time.Second, Addrs: vip}
	p2 := &Packet{Version: 2, Priority: 100, Interval: time.Second, AuthType: AuthPass, AuthData: PassData("secret"), Addrs: vip}
	with := func(p *Packet, f func(*Packet)) *Packet { q := *p; f(&q); return &q }
	tests := []struct {
		name     string
		pol      Policy
		p        *Packet
		src      string
		drop     Drop
		mismatch bool
	}{
		{"v3 accepted", v3, p3, "10.0.0.3", "", false},
		{"v2 packet on a v3 instance", v3, p2, "10.0.0.3", DropVersion, false},
		{"own address", v3, p3, "10.0.0.2", DropOwnAddr, false},
		{"v3 interval 0", v3, with(p3, func(p *Packet) { p.Interval = 0 }), "10.0.0.3", DropInterval, false},
		{"v3 other interval is adopted, not dropped", v3, with(p3, func(p *Packet) { p.Interval = 3 * time.Second }), "10.0.0.3", "", false},
		{"address list mismatch is reported, not dropped", v3, with(p3, func(p *Packet) { p.Addrs = []netip.Addr{addr("10.0.0.101")} }), "10.0.0.3", "", true},
		{"v2 accepted", v2, p2, "10.0.0.3", "", false},
		{"v2 wrong password", v2, with(p2, func(p *Packet) { p.AuthData = PassData("guess") }), "10.0.0.3", DropAuth, false},
		{"v2 no authentication", v2, with(p2, func(p *Packet) { p.AuthType = AuthNone; p.AuthData = [8]byte{} }), "10.0.0.3", DropAuth, false},
		{"v2 interval mismatch", v2, with(p2, func(p *Packet) { p.Interval = 2 * time.Second }), "10.0.0.3", DropInterval, false},
		{"unicast from a listed peer", uni, p3, "10.0.0.3", "", false},
		{"unicast from a stranger", uni, p3, "10.0.0.9", DropPeer, false},
		{"the owner discards everything", owner, p3, "10.0.0.3", DropOwner, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drop, mm := tt.pol.Check(tt.p, addr(tt.src), 255)
			if drop != tt.drop || mm != tt.mismatch {
				t.Fatalf("Check = %q, %v; want %q, %v", drop, mm, tt.drop, tt.mismatch)
			}
		})
	}
	// Below TTL 255 (a unicast advert, as Decode lets through): only
	// from a listed peer.
	for _, tt := range []struct {
		name string
		pol  Policy
		src  string
		drop Drop
	}{
		{"TTL 64 from a listed peer", uni, "10.0.0.3", ""},
		{"TTL 64 from a stranger", uni, "10.0.0.9", DropPeer},
		{"TTL 64 on an instance without peers", v3, "10.0.0.3", DropTTL},
	} {
		if drop, _ := tt.pol.Check(p3, addr(tt.src), 64); drop != tt.drop {
			t.Errorf("%s: Check = %q, want %q", tt.name, drop, tt.drop)
		}
	}
}
