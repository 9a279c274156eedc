// Package vrrp implements the Virtual Router Redundancy Protocol: version 3
// (RFC 9568, which obsoletes RFC 5798) over IPv4 and IPv6, and version 2
// (RFC 3768) over IPv4, as a director pair needs it to decide which
// machine holds the virtual IPs.
//
// The package has a pure core and a thin Linux shell:
//
//   - packet.go: the advertisement codec, both versions, with the RFC 5798
//     IPv4 pseudo-header checksum that keepalived sends and expects, and
//     the RFC 8200 IPv6 one.
//   - validate.go: the receive rules of RFC 9568 §7.1 and RFC 3768 §7.1,
//     each drop a named reason.
//   - fsm.go: the state machine of RFC 9568 §6.4 (Initialize, Backup,
//     Master) plus keepalived's Fault. It takes events with the time they
//     happened and returns actions; it keeps deadlines, not timers.
//   - router.go, loop.go, agenda.go: one loop owns every state machine;
//     its inputs are events and timers on System's clock, its effects go
//     through System (system.go), which vrrptest fakes.
//   - the *_linux.go files: raw IP protocol 112 sockets
//     (golang.org/x/net/ipv4 and ipv6), VIPs through netlink, gratuitous
//     ARP through mdlayher/arp and unsolicited neighbour advertisements
//     through mdlayher/ndp, link and address watching.
package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ProtocolNumber is VRRP's IP protocol number (RFC 9568 §5.1.1.3).
const ProtocolNumber = 112

// MulticastGroup is the IPv4 multicast address adverts are sent to
// (RFC 9568 §5.1.1.2).
var MulticastGroup = netip.AddrFrom4([4]byte{224, 0, 0, 18})

// MulticastGroup6 is the IPv6 multicast address adverts are sent to
// (RFC 9568 §5.1.2.2).
var MulticastGroup6 = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 0x12})

// Group is the multicast group of adverts for the family of a.
func Group(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		return MulticastGroup6
	}
	return MulticastGroup
}

// TypeAdvertisement is the only VRRP packet type (RFC 9568 §5.2.2).
const TypeAdvertisement = 1

// AuthType is the VRRPv2 authentication type (RFC 3768 §5.3.6; RFC 2338
// §5.3.6 for simple text).
type AuthType uint8

// Authentication types. Only none and simple text password are
// implemented; RFC 3768 removed the others.
const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1
	AuthAH   AuthType = 2
)

const (
	headerLen   = 8
	authDataLen = 8
	// MaxInterval3 is the largest VRRPv3 advert interval: 12 bits of
	// centiseconds.
	MaxInterval3 = 4095 * 10 * time.Millisecond
	// MaxInterval2 is the largest VRRPv2 advert interval: 8 bits of
	// seconds.
	MaxInterval2 = 255 * time.Second
)

// Errors returned by Unmarshal. Each maps to a drop reason.
var (
	ErrTruncated = errors.New("vrrp: packet shorter than its address count says")
	ErrLength    = errors.New("vrrp: packet longer than its address count says")
	ErrVersion   = errors.New("vrrp: unsupported version")
	ErrType      = errors.New("vrrp: not an advertisement")
	ErrNoAddrs   = errors.New("vrrp: address count is zero")
)

// Packet is a VRRP advertisement carrying IPv4 or IPv6 addresses (all of
// one family: the family of the IP packet it travels in).
type Packet struct {
	Version  int // 2 or 3
	Type     uint8
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: centiseconds on the wire in
	// version 3, seconds in version 2.
	Interval time.Duration
	// AuthType and AuthData exist in version 2 only.
	AuthType AuthType
	AuthData [authDataLen]byte
	Addrs    []netip.Addr
	// Checksum is the value read by Unmarshal; Marshal computes its own.
	Checksum uint16
}

// is6 reports whether p carries IPv6 addresses.
func (p *Packet) is6() bool { return len(p.Addrs) > 0 && p.Addrs[0].Is6() }

// Len is the encoded length of p.
func (p *Packet) Len() int {
	size := 4
	if p.is6() {
		size = 16
	}
	n := headerLen + size*len(p.Addrs)
	if p.Version == 2 {
		n += authDataLen
	}
	return n
}

// Marshal encodes p. A version 3 checksum covers the pseudo-header made of
// src and dst (over IPv4 the RFC 5798 form that keepalived sends; over
// IPv6 the RFC 8200 §8.1 one that RFC 9568 requires), so both must be the
// addresses of the IP header the packet goes out in, and of the family
// of p's addresses.
func (p *Packet) Marshal(src, dst netip.Addr) ([]byte, error) {
	return p.AppendMarshal(make([]byte, 0, p.Len()), src, dst)
}

// AppendMarshal is Marshal appending to b.
func (p *Packet) AppendMarshal(b []byte, src, dst netip.Addr) ([]byte, error) {
	if len(p.Addrs) == 0 || len(p.Addrs) > 255 {
		return nil, fmt.Errorf("vrrp: %d addresses, want 1 to 255", len(p.Addrs))
	}
	v6 := p.is6()
	if v6 && p.Version == 2 {
		return nil, errors.New("vrrp: version 2 is IPv4 only (RFC 3768)")
	}
	if src.Is6() != v6 || dst.Is6() != v6 {
		return nil, fmt.Errorf("vrrp: addresses of one family in an IP packet of another (%s to %s)", src, dst)
	}
	var second uint16
	switch p.Version {
	case 3:
		cs := p.Interval / (10 * time.Millisecond)
		if p.Interval%(10*time.Millisecond) != 0 || cs < 1 || p.Interval > MaxInterval3 {
			return nil, fmt.Errorf("vrrp: v3 interval %s is not 10ms to %s in 10ms steps", p.Interval, MaxInterval3)
		}
		second = uint16(cs)
	case 2:
		s := p.Interval / time.Second
		if p.Interval%time.Second != 0 || s < 1 || p.Interval > MaxInterval2 {
			return nil, fmt.Errorf("vrrp: v2 interval %s is not whole seconds 1 to 255", p.Interval)
		}
		second = uint16(p.AuthType)<<8 | uint16(s)
	default:
		return nil, fmt.Errorf("%w %d", ErrVersion, p.Version)
	}
	start := len(b)
	b = append(b, byte(p.Version)<<4|p.Type&0x0f, p.VRID, p.Priority, byte(len(p.Addrs)))
	b = binary.BigEndian.AppendUint16(b, second)
	b = append(b, 0, 0) // checksum, filled below
	for _, a := range p.Addrs {
		switch {
		case v6 && a.Is6() && !a.Is4In6():
			a16 := a.As16()
			b = append(b, a16[:]...)
		case !v6 && a.Is4():
			a4 := a.As4()
			b = append(b, a4[:]...)
		default:
			return nil, fmt.Errorf("vrrp: %s is not of the family of the first address, %s", a, p.Addrs[0])
		}
	}
	if p.Version == 2 {
		b = append(b, p.AuthData[:]...)
	}
	msg := b[start:]
	var sum uint16
	if p.Version == 3 {
		sum = checksum(pseudoHeaderSum(src, dst, len(msg)), msg)
	} else {
		sum = checksum(0, msg)
	}
	binary.BigEndian.PutUint16(msg[6:], sum)
	return b, nil
}

// Unmarshal decodes an advertisement that arrived over IPv4. It checks the
// structure (version, type, address count against the length) but not the
// checksum, which needs the IP header: see ChecksumOK.
func Unmarshal(b []byte) (*Packet, error) { return unmarshal(b, 4) }

// Unmarshal6 decodes an advertisement that arrived over IPv6: version 3
// only, with 16-byte addresses.
func Unmarshal6(b []byte) (*Packet, error) {
	if len(b) > 0 && b[0]>>4 != 3 {
		return nil, fmt.Errorf("%w %d over IPv6", ErrVersion, b[0]>>4)
	}
	return unmarshal(b, 16)
}

func unmarshal(b []byte, size int) (*Packet, error) {
	if len(b) < headerLen {
		return nil, ErrTruncated
	}
	p := &Packet{
		Version:  int(b[0] >> 4),
		Type:     b[0] & 0x0f,
		VRID:     b[1],
		Priority: b[2],
		Checksum: binary.BigEndian.Uint16(b[6:]),
	}
	count := int(b[3])
	want := headerLen + size*count
	switch p.Version {
	case 3:
		p.Interval = time.Duration(binary.BigEndian.Uint16(b[4:])&0x0fff) * 10 * time.Millisecond
	case 2:
		p.AuthType = AuthType(b[4])
		p.Interval = time.Duration(b[5]) * time.Second
		want += authDataLen
	default:
		return nil, fmt.Errorf("%w %d", ErrVersion, p.Version)
	}
	if p.Type != TypeAdvertisement {
		return nil, fmt.Errorf("%w: type %d", ErrType, p.Type)
	}
	if count == 0 {
		return nil, ErrNoAddrs
	}
	switch {
	case len(b) < want:
		return nil, ErrTruncated
	case len(b) > want:
		return nil, ErrLength
	}
	p.Addrs = make([]netip.Addr, count)
	for i := range count {
		if size == 16 {
			p.Addrs[i] = netip.AddrFrom16([16]byte(b[headerLen+16*i:]))
		} else {
			p.Addrs[i] = netip.AddrFrom4([4]byte(b[headerLen+4*i:]))
		}
	}
	if p.Version == 2 {
		copy(p.AuthData[:], b[headerLen+size*count:])
	}
	return p, nil
}

// ChecksumOK verifies the checksum of the encoded advertisement msg that
// arrived in an IP packet from src to dst. Over IPv4, version 2 sums the
// message only (RFC 3768 §5.3.8), and version 3 is accepted in both forms
// in use: with the IPv4 pseudo-header (RFC 5798 §5.2.8, what keepalived
// sends) and over the message alone (RFC 9568 §5.2.8 for IPv4). Over
// IPv6 the pseudo-header is required (RFC 9568 §5.2.8, RFC 8200 §8.1).
func ChecksumOK(msg []byte, src, dst netip.Addr) bool {
	if len(msg) < headerLen {
		return false
	}
	if src.Is6() {
		return checksum(pseudoHeaderSum(src, dst, len(msg)), msg) == 0
	}
	if checksum(0, msg) == 0 {
		return true
	}
	return msg[0]>>4 == 3 && checksum(pseudoHeaderSum(src, dst, len(msg)), msg) == 0
}

// pseudoHeaderSum is the one's-complement partial sum of the
// pseudo-header of src's family: over IPv4 source, destination, zero,
// protocol, length; over IPv6 source, destination, the 32-bit upper-layer
// length, zeros, next header.
func pseudoHeaderSum(src, dst netip.Addr, length int) uint32 {
	if src.Is6() {
		var sum uint32
		for _, a := range [2][16]byte{src.As16(), dst.As16()} {
			for i := 0; i < 16; i += 2 {
				sum += uint32(a[i])<<8 | uint32(a[i+1])
			}
		}
		return sum + uint32(length>>16) + uint32(length&0xffff) + ProtocolNumber
	}
	s4, d4 := src.As4(), dst.As4()
	var sum uint32
	sum += uint32(s4[0])<<8 | uint32(s4[1])
	sum += uint32(s4[2])<<8 | uint32(s4[3])
	sum += uint32(d4[0])<<8 | uint32(d4[1])
	sum += uint32(d4[2])<<8 | uint32(d4[3])
	sum += ProtocolNumber
	sum += uint32(length)
	return sum
}

// checksum is the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial. Over data that contains a correct checksum it
// returns 0.
func checksum(initial uint32, b []byte) uint16 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// PassData pads a VRRPv2 simple text password to the 8 bytes of
// authentication data.
func PassData(password string) [authDataLen]byte {
	var d [authDataLen]byte
	copy(d[:], password)
	return d
}
