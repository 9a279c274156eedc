package vrrp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

type capture struct {
	hdr *ipv4.Header
	msg []byte
}

// keepaliveCaptures reads packets keepalived sent, captured with tcpdump.
func keepalivedCaptures(t testing.TB) map[string]capture {
	t.Helper()
	f, err := os.Open("testdata/keepalived.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]capture{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hx, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ipv4.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = capture{h, b[h.Len:]}
	}
	return out
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func src(c capture) netip.Addr { a, _ := netip.AddrFromSlice(c.hdr.Src.To4()); return a }
func dst(c capture) netip.Addr { a, _ := netip.AddrFromSlice(c.hdr.Dst.To4()); return a }

func TestDecodeKeepalivedCaptures(t *testing.T) {
	caps := keepalivedCaptures(t)
	tests := []struct {
		name string
		want Packet
	}{
		{"v3-multicast", Packet{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{addr("192.168.11.100")}}},
		{"v3-stop", Packet{Version: 3, Type: 1, VRID: 51, Priority: 0, Interval: time.Second, Addrs: []netip.Addr{addr("192.168.11.100")}}},
		{"v2-pass", Packet{Version: 2, Type: 1, VRID: 20, Priority: 150, Interval: time.Second, AuthType: AuthPass, AuthData: PassData("shop20"), Addrs: []netip.Addr{addr("192.168.20.100")}}},
		{"v3-unicast", Packet{Version: 3, Type: 1, VRID: 80, Priority: 200, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{addr("198.51.100.80")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := caps[tt.name]
			if !ok {
				t.Fatalf("capture %s missing", tt.name)
			}
			if c.hdr.TTL != 255 || c.hdr.Protocol != ProtocolNumber {
				t.Errorf("keepalived sent TTL %d protocol %d", c.hdr.TTL, c.hdr.Protocol)
			}
			p, err := Unmarshal(c.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !ChecksumOK(c.msg, src(c), dst(c)) {
				t.Errorf("checksum of keepalived's packet rejected")
			}
			got := *p
			got.Checksum = 0
			if !equalPacket(got, tt.want) {
				t.Errorf("decoded %+v\nwant      %+v", got, tt.want)
			}
			// Our encoder must produce keepalived's bytes exactly,
			// checksum included.
			b, err := tt.want.Marshal(src(c), dst(c))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, c.msg) {
				t.Errorf("encoded % x\nkeepalived % x", b, c.msg)
			}
		})
	}
}

func equalPacket(a, b Packet) bool {
	if a.Version != b.Version || a.Type != b.Type || a.VRID != b.VRID || a.Priority != b.Priority ||
		a.Interval != b.Interval || a.AuthType != b.AuthType || a.AuthData != b.AuthData || len(a.Addrs) != len(b.Addrs) {
		return false
	}
	for i := range a.Addrs {
		if a.Addrs[i] != b.Addrs[i] {
			return false
		}
	}
	return true
}

// A v3 packet checksummed over the message alone (RFC 9568's IPv4 form) is
// accepted too; a corrupted one is not.
func TestChecksumForms(t *testing.T) {
	p := Packet{Version: 3, Type: 1, VRID: 9, Priority: 100, Interval: 20 * time.Millisecond, Addrs: []netip.Addr{addr("10.0.0.9"), addr("10.0.0.10")}}
	s, d := addr("10.0.0.1"), MulticastGroup
	b, err := p.Marshal(s, d)
	if err != nil {
		t.Fatal(err)
	}
	if !ChecksumOK(b, s, d) {
		t.Fatal("pseudo-header checksum rejected")
	}
	if ChecksumOK(b, addr("10.0.0.2"), d) {
		t.Error("pseudo-header checksum accepted with a different source")
	}
	msgOnly := append([]byte(nil), b...)
	msgOnly[6], msgOnly[7] = 0, 0
	c := checksum(0, msgOnly)
	msgOnly[6], msgOnly[7] = byte(c>>8), byte(c)
	if !ChecksumOK(msgOnly, s, d) {
		t.Error("RFC 9568 message-only checksum rejected")
	}
	bad := append([]byte(nil), b...)
	bad[2] ^= 0x01
	if ChecksumOK(bad, s, d) {
		t.Error("corrupted packet accepted")
	}
	// v2 has the message-only form only.
	p2 := Packet{Version: 2, Type: 1, VRID: 9, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{addr("10.0.0.9")}}
	b2, _ := p2.Marshal(s, d)
	if checksum(0, b2) != 0 || !ChecksumOK(b2, s, d) {
		t.Error("v2 checksum wrong")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good, _ := (&Packet{Version: 3, Type: 1, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{addr("10.0.0.1")}}).Marshal(addr("10.0.0.2"), MulticastGroup)
	good2, _ := (&Packet{Version: 2, Type: 1, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{addr("10.0.0.1")}}).Marshal(addr("10.0.0.2"), MulticastGroup)
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"header only", good[:7], ErrTruncated},
		{"address cut", good[:10], ErrTruncated},
		{"v2 without auth data", good2[:12], ErrTruncated},
		{"trailing bytes", append(append([]byte(nil), good...), 0, 0, 0, 0), ErrLength},
		{"count too high", mod(good, func(b []byte) []byte { b[3] = 2; return b }), ErrTruncated},
		{"count zero", mod(good, func(b []byte) []byte { b[3] = 0; return b[:8] }), ErrNoAddrs},
		{"version 4", mod(good, func(b []byte) []byte { b[0] = 0x41; return b }), ErrVersion},
		{"version 1", mod(good, func(b []byte) []byte { b[0] = 0x11; return b }), ErrVersion},
		{"type 2", mod(good, func(b []byte) []byte { b[0] = 0x32; return b }), ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	s, d := addr("10.0.0.1"), MulticastGroup
	one := []netip.Addr{addr("10.0.0.9")}
	for _, p := range []Packet{
		{Version: 3, Type: 1, Interval: 15 * time.Millisecond, Addrs: one},
		{Version: 3, Type: 1, Interval: 41 * time.Second, Addrs: one},
		{Version: 2, Type: 1, Interval: 1500 * time.Millisecond, Addrs: one},
		{Version: 2, Type: 1, Interval: 256 * time.Second, Addrs: one},
		{Version: 3, Type: 1, Interval: time.Second},
		{Version: 3, Type: 1, Interval: time.Second, Addrs: []netip.Addr{addr("2001:db8::1")}},
		{Version: 5, Type: 1, Interval: time.Second, Addrs: one},
	} {
		if _, err := p.Marshal(s, d); err == nil {
			t.Errorf("Marshal(%+v) succeeded", p)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s, d := addr("192.0.2.1"), addr("192.0.2.2")
	for _, p := range []Packet{
		{Version: 3, Type: 1, VRID: 255, Priority: 255, Interval: MaxInterval3, Addrs: []netip.Addr{addr("192.0.2.10")}},
		{Version: 3, Type: 1, VRID: 1, Priority: 1, Interval: 10 * time.Millisecond, Addrs: []netip.Addr{addr("192.0.2.10"), addr("192.0.2.11"), addr("192.0.2.12")}},
		{Version: 2, Type: 1, VRID: 7, Priority: 0, Interval: MaxInterval2, AuthType: AuthPass, AuthData: PassData("12345678"), Addrs: []netip.Addr{addr("192.0.2.10")}},
	} {
		b, err := p.Marshal(s, d)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != p.Len() {
			t.Errorf("len %d, Len() %d", len(b), p.Len())
		}
		q, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if !ChecksumOK(b, s, d) || !equalPacket(*q, p) {
			t.Errorf("round trip of %+v gave %+v", p, *q)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, c := range keepalivedCaptures(f) {
		f.Add(c.msg)
	}
	f.Add([]byte{0x31, 1, 100, 0, 0, 100, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		_ = ChecksumOK(b, addr("10.0.0.1"), MulticastGroup)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same length and
		// decode again to the same packet.
		if p.Len() != len(b) {
			t.Fatalf("decoded %d bytes into a packet of length %d", len(b), p.Len())
		}
		if p.Interval == 0 || (p.Version == 3 && p.Interval > MaxInterval3) {
			return // not encodable, by design
		}
		out, err := p.Marshal(addr("10.0.0.1"), MulticastGroup)
		if err != nil {
			return
		}
		q, err := Unmarshal(out)
		if err != nil || !equalPacket(*p, *q) {
			t.Fatalf("re-encoding changed the packet: %v %+v %+v", err, p, q)
		}
	})
}
