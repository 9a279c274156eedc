package config

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// DefaultThroughVIPMarks is the socket marks checks through the VIP use
// unless the director says otherwise: 65,535 marks under 0x4449 ("DI"),
// clear of the low marks operators give fwmark services and of the bits
// kube-proxy uses.
const DefaultThroughVIPMarks = "0x44490000/0xffff0000"

// MarkRange is a set of socket marks written as value/mask, as in
// iptables' --mark: every mark m with m & Mask == Value, except Value
// itself.
type MarkRange struct {
	Value uint32 `json:"value"`
	Mask  uint32 `json:"mask"`
}

// Contains reports whether m is one of the range's marks.
func (r MarkRange) Contains(m uint32) bool { return m&r.Mask == r.Value && m != r.Value }

// Size is how many marks the range gives (Value itself is left out, so a
// mark is never 0).
func (r MarkRange) Size() uint32 { return ^r.Mask }

func (r MarkRange) String() string { return fmt.Sprintf("%#x/%#x", r.Value, r.Mask) }

// ParseMarkRange reads "value/mask" (hexadecimal with 0x, or decimal).
func ParseMarkRange(s string) (MarkRange, error) {
	v, m, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return MarkRange{}, fmt.Errorf("%q is not value/mask (\"%s\")", s, DefaultThroughVIPMarks)
	}
	value, err1 := strconv.ParseUint(strings.TrimSpace(v), 0, 32)
	mask, err2 := strconv.ParseUint(strings.TrimSpace(m), 0, 32)
	if err1 != nil || err2 != nil {
		return MarkRange{}, fmt.Errorf("%q is not value/mask with 32-bit numbers", s)
	}
	r := MarkRange{Value: uint32(value), Mask: uint32(mask)}
	switch {
	case r.Value&^r.Mask != 0:
		return r, fmt.Errorf("value %#x has bits outside mask %#x", r.Value, r.Mask)
	case r.Value == 0:
		return r, fmt.Errorf("value must not be 0: unmarked sockets would match")
	case r.Size() == 0:
		return r, fmt.Errorf("mask %#x leaves no marks", r.Mask)
	case r.Size()&(r.Size()+1) != 0:
		return r, fmt.Errorf("mask %#x must be ones then zeros (0xffff0000): the marks are its low bits", r.Mask)
	}
	return r, nil
}

// throughVIPReal checks that rs can be checked through vs's VIP: the VIP
// must be one address, and the real must hold it (dr or tun).
func (r *resolver) throughVIPReal(vs *VirtualServer, rs *RealServer, rng hcl.Range) {
	switch {
	case vs.FWMark != 0:
		r.errAt(rng, "through_vip needs a virtual server with an address and port: a fwmark service has no single VIP to connect to")
	case rs.Forwarding == ForwardNAT:
		r.errAt(rng, "through_vip is for dr and tun real servers, which hold the VIP themselves; %s is nat and answers from its own address", rs.Address)
	case rs.Address.IsLinkLocalUnicast():
		r.errAt(rng, "through_vip needs a real server with a routable address: %s is link-local, with no interface to route it by", rs.Address)
	}
}

// throughVIPMarks gives each real server that has a through_vip check its
// mark: one per address and forwarding method, from a hash of both, so
// that a reload that adds or removes reals keeps the others' marks (and
// their IPVS entries) unless two hash alike.
func (r *resolver) throughVIPMarks(raw *rawFile, cfg *Config) {
	type key struct {
		addr, fwd string
	}
	var keys []key
	for i := range cfg.VirtualServers {
		for j := range cfg.VirtualServers[i].RealServers {
			rs := &cfg.VirtualServers[i].RealServers[j]
			if hasThroughVIP(rs) {
				keys = append(keys, key{rs.Address.String(), rs.Forwarding})
			}
		}
	}
	marks := cfg.Director.ThroughVIPMarks
	if marks.Mask == 0 {
		return // through_vip_marks did not parse; that is reported
	}
	// The range is directord's whether or not a check uses it now: the
	// reconciler removes probe services with these marks that a killed
	// daemon left, so a service of the operator's must not have one.
	for i, vs := range cfg.VirtualServers {
		if vs.FWMark != 0 && marks.Contains(vs.FWMark) {
			b := r.block(raw.VirtualServers[i].Body, raw.VirtualServers[i].DefRange)
			b.errorf("fwmark", "fwmark %#x is in through_vip_marks (%s), which directord keeps for checks through the VIP; choose another or move through_vip_marks", vs.FWMark, marks)
		}
	}
	if len(keys) == 0 {
		return
	}
	where := raw.VirtualServers[0].DefRange
	if raw.Director != nil {
		where = r.block(raw.Director.Body, raw.Director.DefRange).where("through_vip_marks")
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.addr+" "+a.fwd, b.addr+" "+b.fwd) })
	keys = slices.Compact(keys)
	size := marks.Size()
	if uint64(len(keys)) > uint64(size) {
		r.errAt(where, "%d real servers have through_vip checks; through_vip_marks %s gives %d marks", len(keys), marks, size)
		return
	}
	given := map[key]uint32{}
	taken := map[uint32]bool{}
	for _, k := range keys {
		h := fnv.New32a()
		h.Write([]byte(k.addr + " " + k.fwd))
		off := h.Sum32() % size
		for taken[off] {
			off = (off + 1) % size
		}
		taken[off] = true
		given[k] = marks.Value | (off + 1)
	}
	for i := range cfg.VirtualServers {
		for j := range cfg.VirtualServers[i].RealServers {
			rs := &cfg.VirtualServers[i].RealServers[j]
			if hasThroughVIP(rs) {
				rs.ThroughVIPMark = given[key{rs.Address.String(), rs.Forwarding}]
			}
		}
	}
}

func hasThroughVIP(rs *RealServer) bool {
	return slices.ContainsFunc(rs.HealthChecks, func(hc *HealthCheck) bool { return hc != nil && hc.ThroughVIP })
}
