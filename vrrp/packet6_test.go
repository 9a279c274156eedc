package vrrp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// ipv6PseudoHeader is RFC 8200 §8.1's pseudo-header, built byte by byte
// here so that the test does not share the codec's arithmetic.
func ipv6PseudoHeader(src, dst netip.Addr, length int) []byte {
	b := append(src.AsSlice(), dst.AsSlice()...)
	b = binary.BigEndian.AppendUint32(b, uint32(length))
	return append(b, 0, 0, 0, ProtocolNumber)
}

func TestMarshal6(t *testing.T) {
	src := netip.MustParseAddr("fe80::1")
	p := Packet{Version: 3, Type: TypeAdvertisement, VRID: 7, Priority: 100, Interval: 1500 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("fe80::100"), netip.MustParseAddr("2001:db8::100")}}
	b, err := p.Marshal(src, MulticastGroup6)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8+2*16 || p.Len() != len(b) {
		t.Fatalf("length %d (Len %d), want 40", len(b), p.Len())
	}
	if got := b[:6]; string(got) != string([]byte{0x31, 7, 100, 2, 0, 150}) {
		t.Errorf("header % x", got)
	}
	if checksum(0, append(ipv6PseudoHeader(src, MulticastGroup6, len(b)), b...)) != 0 {
		t.Error("checksum does not cover the IPv6 pseudo-header")
	}
	if !ChecksumOK(b, src, MulticastGroup6) {
		t.Error("ChecksumOK refuses its own packet")
	}
	if ChecksumOK(b, netip.MustParseAddr("fe80::2"), MulticastGroup6) {
		t.Error("ChecksumOK accepts the packet from another source")
	}
	// Over IPv6 the checksum without the pseudo-header (accepted over
	// IPv4, where implementations differ) is wrong.
	msgOnly := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(msgOnly[6:], 0)
	binary.BigEndian.PutUint16(msgOnly[6:], checksum(0, msgOnly))
	if ChecksumOK(msgOnly, src, MulticastGroup6) {
		t.Error("ChecksumOK accepts a message-only checksum over IPv6")
	}
	q, err := Unmarshal6(b)
	if err != nil {
		t.Fatal(err)
	}
	p.Checksum = binary.BigEndian.Uint16(b[6:])
	if !equalPacket(*q, p) {
		t.Errorf("round trip gave %+v, want %+v", *q, p)
	}
}

func TestMarshal6Refuses(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v4 := netip.MustParseAddr("192.0.2.1")
	cases := map[string]struct {
		p        Packet
		src, dst netip.Addr
	}{
		"version 2 over IPv6": {Packet{Version: 2, Type: 1, VRID: 1, Priority: 1, Interval: time.Second, Addrs: []netip.Addr{v6}}, v6, MulticastGroup6},
		"mixed addresses":     {Packet{Version: 3, Type: 1, VRID: 1, Priority: 1, Interval: time.Second, Addrs: []netip.Addr{v6, v4}}, v6, MulticastGroup6},
		"IPv6 over IPv4":      {Packet{Version: 3, Type: 1, VRID: 1, Priority: 1, Interval: time.Second, Addrs: []netip.Addr{v6}}, v4, MulticastGroup},
		"IPv4 over IPv6":      {Packet{Version: 3, Type: 1, VRID: 1, Priority: 1, Interval: time.Second, Addrs: []netip.Addr{v4}}, v6, MulticastGroup6},
	}
	for name, c := range cases {
		if _, err := c.p.Marshal(c.src, c.dst); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	if _, err := Unmarshal6([]byte{0x21, 1, 100, 1, 0, 1, 0, 0}); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2 over IPv6: %v, want ErrVersion", err)
	}
	if _, err := Unmarshal6(append([]byte{0x31, 1, 100, 1, 0, 100, 0, 0}, make([]byte, 4)...)); !errors.Is(err, ErrTruncated) {
		t.Errorf("an IPv4-sized address over IPv6: %v, want ErrTruncated", err)
	}
}

func TestGroup(t *testing.T) {
	if Group(netip.MustParseAddr("fe80::1")) != netip.MustParseAddr("ff02::12") {
		t.Error("IPv6 group")
	}
	if Group(netip.MustParseAddr("10.0.0.1")) != netip.MustParseAddr("224.0.0.18") {
		t.Error("IPv4 group")
	}
}

func FuzzUnmarshal6(f *testing.F) {
	src := netip.MustParseAddr("fe80::1")
	seed, _ := (&Packet{Version: 3, Type: 1, VRID: 1, Priority: 100, Interval: time.Second,
		Addrs: []netip.Addr{netip.MustParseAddr("fe80::100")}}).Marshal(src, MulticastGroup6)
	f.Add(seed)
	f.Add([]byte{0x31, 1, 100, 0, 0, 100, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal6(b)
		_ = ChecksumOK(b, src, MulticastGroup6)
		if err != nil {
			return
		}
		if p.Len() != len(b) {
			t.Fatalf("decoded %d bytes into a packet of length %d", len(b), p.Len())
		}
		if p.Interval == 0 || p.Interval > MaxInterval3 {
			return // not encodable, by design
		}
		out, err := p.Marshal(src, MulticastGroup6)
		if err != nil {
			return // an address that is v4-mapped decodes as IPv6 but is refused: by design
		}
		q, err := Unmarshal6(out)
		if err != nil || !equalPacket(*p, *q) {
			t.Fatalf("re-encoding changed the packet: %v %+v %+v", err, p, q)
		}
	})
}
