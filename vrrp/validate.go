package vrrp

import (
	"errors"
	"net/netip"
	"slices"
	"time"
)

// Drop names why a received packet was discarded. The values are fixed
// tokens: they label counters and metrics.
type Drop string

// Drop reasons, in the order RFC 9568 §7.1 checks them.
const (
	DropTTL      Drop = "ttl"      // IPv4 TTL or IPv6 hop limit is not 255
	DropVersion  Drop = "version"  // not the version configured for the VRID
	DropType     Drop = "type"     // not an advertisement
	DropLength   Drop = "length"   // truncated, or count inconsistent with length
	DropChecksum Drop = "checksum" // bad checksum
	DropVRID     Drop = "vrid"     // no instance with this VRID on the interface
	DropOwner    Drop = "owner"    // we are the address owner (priority 255)
	DropAuth     Drop = "auth"     // v2 authentication type or data mismatch
	DropInterval Drop = "interval" // v2 advert interval mismatch, or v3 interval 0
	DropPeer     Drop = "peer"     // unicast instance and the source is not a listed peer
	DropOwnAddr  Drop = "own_addr" // the source is our own address (a looped packet)
)

// Drops lists every reason, for counters that must show zeros.
var Drops = []Drop{DropTTL, DropVersion, DropType, DropLength, DropChecksum, DropVRID, DropOwner, DropAuth, DropInterval, DropPeer, DropOwnAddr}

// Received is one packet as the transport read it.
type Received struct {
	Src, Dst netip.Addr
	TTL      int
	IfIndex  int
	Data     []byte // the VRRP message, after the IP header
	At       time.Time
}

// Decode applies the checks that need no configuration: TTL, version,
// type, length and checksum. On a drop, vrid is the VRID byte when the
// packet had one, so the drop can be counted on that instance.
//
// An advert needs TTL (hop limit) 255, RFC 9568 §7.1's proof that it
// was sent on this link. One exception: keepalived sends IPv6 unicast
// adverts at the default hop limit 64 (and checks no TTL on unicast
// unless told to), so an IPv6 unicast advert's hop limit is left to the
// instance's Policy, which takes one below 255 only from a configured
// peer. keepalived's IPv4 unicast adverts carry TTL 255, and IPv4 keeps
// the rule whole.
func Decode(r Received) (p *Packet, drop Drop, vrid int) {
	vrid = -1
	if len(r.Data) >= 2 {
		vrid = int(r.Data[1])
	}
	if r.TTL != 255 && !(r.Src.Is6() && isUnicast(r.Dst)) {
		return nil, DropTTL, vrid
	}
	unmarshal := Unmarshal
	if r.Src.Is6() {
		// TTL is then the hop limit, read from the control message:
		// a raw IPv6 socket hands no header.
		unmarshal = Unmarshal6
	}
	p, err := unmarshal(r.Data)
	switch {
	case errors.Is(err, ErrVersion):
		return nil, DropVersion, vrid
	case errors.Is(err, ErrType):
		return nil, DropType, vrid
	case err != nil:
		return nil, DropLength, vrid
	}
	if !ChecksumOK(r.Data, r.Src, r.Dst) {
		return nil, DropChecksum, vrid
	}
	return p, "", vrid
}

// Policy is what one instance requires of the adverts it accepts.
type Policy struct {
	Version  int
	Owner    bool
	AuthType AuthType
	AuthData [authDataLen]byte
	// Interval is checked in version 2 only: RFC 3768 §7.1 discards a
	// mismatch, while a version 3 backup adopts the master's interval.
	Interval time.Duration
	// Peers, when not empty, are the only sources accepted (unicast).
	Peers []netip.Addr
	// Self are this router's own addresses on the interface.
	Self []netip.Addr
	// VIPs are compared with the advert's list; a mismatch is reported,
	// not dropped (RFC 9568 §7.1 says to log it).
	VIPs []netip.Addr
}

// isUnicast reports whether dst is a unicast address (a missing one
// counts as multicast: the strict rule).
func isUnicast(dst netip.Addr) bool { return dst.IsValid() && !dst.IsMulticast() }

// Check applies the per-instance rules to a decoded advert from src that
// arrived with the given TTL (hop limit). The packet is accepted when
// drop is empty; mismatch then says whether its address list differs
// from ours, which a caller should log and count.
func (pol *Policy) Check(p *Packet, src netip.Addr, ttl int) (drop Drop, mismatch bool) {
	switch {
	case ttl != 255 && len(pol.Peers) == 0:
		// Only Decode's unicast exception gets here: an instance with
		// no peers listed takes none of it.
		return DropTTL, false
	case p.Version != pol.Version:
		return DropVersion, false
	case slices.Contains(pol.Self, src):
		return DropOwnAddr, false
	case len(pol.Peers) > 0 && !slices.Contains(pol.Peers, src):
		return DropPeer, false
	case pol.Owner:
		return DropOwner, false
	}
	if p.Version == 2 {
		if p.AuthType != pol.AuthType || (pol.AuthType == AuthPass && p.AuthData != pol.AuthData) {
			return DropAuth, false
		}
		if p.Interval != pol.Interval {
			return DropInterval, false
		}
	} else if p.Interval == 0 {
		return DropInterval, false
	}
	return "", !sameAddrs(p.Addrs, pol.VIPs)
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
