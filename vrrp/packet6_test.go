package vrrp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv6"
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
	for _, c := range keepalived6Captures(f) {
		f.Add(c.msg)
	}
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

// capture6 is one IPv6 packet keepalived sent: its fixed header and the
// VRRP message after it.
type capture6 struct {
	hdr *ipv6.Header
	msg []byte
}

func (c capture6) src() netip.Addr { a, _ := netip.AddrFromSlice(c.hdr.Src); return a }
func (c capture6) dst() netip.Addr { a, _ := netip.AddrFromSlice(c.hdr.Dst); return a }

// keepalived6Captures reads testdata/keepalived6.txt (made by
// keepalived6.sh).
func keepalived6Captures(t testing.TB) map[string]capture6 {
	t.Helper()
	f, err := os.Open("testdata/keepalived6.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]capture6{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hx, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h, err := ipv6.ParseHeader(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = capture6{h, b[ipv6.HeaderLen:]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// keepalived's IPv6 adverts decode field by field, pass the checksum over
// the pseudo-header of the addresses they travelled between, and our
// encoder produces their bytes exactly, checksum included.
func TestDecodeKeepalived6Captures(t *testing.T) {
	caps := keepalived6Captures(t)
	kaLL := addr("fe80::ff:fe00:5101")
	tests := []struct {
		name     string
		src, dst netip.Addr
		hopLimit int
		vrid     uint8
		prio     uint8
		cs       int // the Max Adver Int field: centiseconds
		addrs    []netip.Addr
	}{
		{"v6-slow", kaLL, MulticastGroup6, 255, 51, 150, 100, []netip.Addr{addr("2001:db8:51::100")}},
		{"v6-slow-stop", kaLL, MulticastGroup6, 255, 51, 0, 100, []netip.Addr{addr("2001:db8:51::100")}},
		{"v6-fast", kaLL, MulticastGroup6, 255, 52, 200, 10, []netip.Addr{addr("fe80::52"), addr("2001:db8:52::100")}},
		{"v6-fast-stop", kaLL, MulticastGroup6, 255, 52, 0, 10, []netip.Addr{addr("fe80::52"), addr("2001:db8:52::100")}},
		// keepalived 2.2.7 sets the hop limit of multicast only: its
		// unicast adverts leave at the default 64, which RFC 9568 §7.1
		// has a receiver drop (Decode does, below).
		{"v6-unicast", addr("2001:db8:53::1"), addr("2001:db8:53::2"), 64, 53, 100, 100, []netip.Addr{addr("2001:db8:53::100")}},
	}
	if len(caps) != len(tests) {
		t.Errorf("%d captures in testdata, %d cases", len(caps), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := caps[tt.name]
			if !ok {
				t.Fatalf("capture %s missing", tt.name)
			}
			h := c.hdr
			if h.Version != 6 || h.NextHeader != ProtocolNumber || h.PayloadLen != len(c.msg) ||
				h.HopLimit != tt.hopLimit || c.src() != tt.src || c.dst() != tt.dst {
				t.Fatalf("IPv6 header %+v, want next header 112, payload %d, hop limit %d, %s to %s",
					h, len(c.msg), tt.hopLimit, tt.src, tt.dst)
			}
			checkKeepalived6(t, c, Packet{Version: 3, Type: TypeAdvertisement, VRID: tt.vrid, Priority: tt.prio,
				Interval: time.Duration(tt.cs) * 10 * time.Millisecond, Addrs: tt.addrs}, tt.cs)
			// The receive rules take every one: the unicast advert's
			// hop limit 64 is its instance's to judge, which takes it
			// from a listed peer and from nobody else.
			p, drop, vrid := Decode(Received{Src: c.src(), Dst: c.dst(), TTL: h.HopLimit, Data: c.msg})
			if drop != "" || vrid != int(tt.vrid) {
				t.Fatalf("Decode: drop %q vrid %d, want none %d", drop, vrid, tt.vrid)
			}
			if tt.hopLimit != 255 {
				peer := Policy{Version: 3, VIPs: tt.addrs, Peers: []netip.Addr{tt.src}}
				none := Policy{Version: 3, VIPs: tt.addrs}
				if d, _ := peer.Check(p, tt.src, tt.hopLimit); d != "" {
					t.Errorf("an instance that lists keepalived as its peer drops its unicast advert: %q", d)
				}
				if d, _ := none.Check(p, tt.src, tt.hopLimit); d != DropTTL {
					t.Errorf("an instance without peers takes a hop limit %d advert: %q", tt.hopLimit, d)
				}
			}
		})
	}
}

// checkKeepalived6 decodes c, compares it with want, re-encodes it, and
// checks that every single flipped bit breaks the checksum.
func checkKeepalived6(t *testing.T, c capture6, want Packet, cs int) {
	t.Helper()
	p, err := Unmarshal6(c.msg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 || p.Type != TypeAdvertisement || p.VRID != want.VRID || p.Priority != want.Priority {
		t.Errorf("version %d type %d vrid %d priority %d, want 3 1 %d %d", p.Version, p.Type, p.VRID, p.Priority, want.VRID, want.Priority)
	}
	// The 4 reserved bits are zero and the 12 others are centiseconds.
	if raw := binary.BigEndian.Uint16(c.msg[4:]); raw != uint16(cs) || p.Interval != want.Interval {
		t.Errorf("interval field %#04x (%s), want %d cs", raw, p.Interval, cs)
	}
	if p.Checksum != binary.BigEndian.Uint16(c.msg[6:]) {
		t.Errorf("Checksum %#04x, wire % x", p.Checksum, c.msg[6:8])
	}
	if !equalPacket(*p, want) {
		t.Errorf("decoded %+v\nwant      %+v", *p, want)
	}
	if !ChecksumOK(c.msg, c.src(), c.dst()) {
		t.Error("checksum of keepalived's packet rejected")
	}
	// The test's own pseudo-header, not the codec's arithmetic.
	if checksum(0, append(ipv6PseudoHeader(c.src(), c.dst(), len(c.msg)), c.msg...)) != 0 {
		t.Error("keepalived's checksum does not cover the RFC 8200 pseudo-header")
	}
	b, err := want.Marshal(c.src(), c.dst())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, c.msg) {
		t.Errorf("encoded    % x\nkeepalived % x", b, c.msg)
	}
	for i := range len(c.msg) * 8 {
		bad := append([]byte(nil), c.msg...)
		bad[i/8] ^= 0x80 >> (i % 8)
		if ChecksumOK(bad, c.src(), c.dst()) {
			t.Fatalf("checksum accepts the packet with bit %d flipped", i)
		}
	}
	for i := range 128 {
		s := c.src().As16()
		s[i/8] ^= 0x80 >> (i % 8)
		if ChecksumOK(c.msg, netip.AddrFrom16(s), c.dst()) {
			t.Fatalf("checksum accepts the packet from a source with bit %d flipped", i)
		}
	}
}
