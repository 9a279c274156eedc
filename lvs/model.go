// Package lvs keeps the kernel's IPVS table (the Linux Virtual Server,
// driven over the IPVS generic netlink family, include/uapi/linux/ip_vs.h)
// equal to the declared virtual services, with the fewest writes and
// without touching entries it does not own.
//
//   - model.go: the table as plain comparable values.
//   - desired.go (pure): the table the configuration and the current
//     health call for: failed reals at weight 0 or left out, and while
//     quorum is lost (with hysteresis) a sorry server in the reals' place.
//   - diff.go (pure): desired against observed, an ordered plan of
//     creates, updates and deletes; updates in place wherever the kernel
//     allows, since a delete drops the connections.
//   - kernel_linux.go, batch_linux.go: reads through cloudflare/ipvs, and
//     writes batched several requests per sendmsg.
//   - reconciler.go: event driven; a health change is one write, a pass
//     with nothing to do is none, a periodic drift check repairs hand
//     edits, and start-up adopts a matching table without flushing.
package lvs

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
)

// ServiceKey identifies a virtual service the way the kernel does.
type ServiceKey struct {
	Family   ipvs.AddressFamily
	Protocol ipvs.Protocol // 0 for a fwmark service
	Addr     netip.Addr    // zero for a fwmark service
	Port     uint16
	FWMark   uint32
}

func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("fwmark %d (%s)", k.FWMark, familyName(k.Family))
	}
	return strings.ToLower(k.Protocol.String()) + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

func familyName(f ipvs.AddressFamily) string {
	if f == ipvs.INET6 {
		return "inet6"
	}
	return "inet"
}

// Service is a virtual service's settings.
type Service struct {
	ServiceKey
	Scheduler string
	// Flags holds only what directord sets: persistent, one-packet and
	// the scheduler options. The kernel's own bits (hashed) are masked.
	Flags   ipvs.Flags
	Timeout uint32 // persistence, seconds
	Netmask netmask.Mask
}

// settableFlags are the service flags directord manages.
const settableFlags = ipvs.ServicePersistent | ipvs.ServiceOnePacket |
	ipvs.ServiceSchedulerOpt1 | ipvs.ServiceSchedulerOpt2 | ipvs.ServiceSchedulerOpt3

// DestKey identifies a destination within its service.
type DestKey struct {
	Addr netip.Addr
	Port uint16
}

func (k DestKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Destination is a real server as the kernel knows it.
type Destination struct {
	DestKey
	Family  ipvs.AddressFamily
	Forward ipvs.ForwardType
	Weight  uint32
	Upper   uint32
	Lower   uint32
}

// Entry is a service with its destinations.
type Entry struct {
	Service Service
	Dests   Dests
}

// Table is an IPVS table, or the part of one we care about.
type Table map[ServiceKey]*Entry

// Clone copies t deeply.
func (t Table) Clone() Table {
	out := make(Table, len(t))
	for k, e := range t {
		out[k] = &Entry{Service: e.Service, Dests: slices.Clone(e.Dests)}
	}
	return out
}

// Equal reports whether t and u hold the same services and destinations.
func (t Table) Equal(u Table) bool {
	if len(t) != len(u) {
		return false
	}
	for k, e := range t {
		f, ok := u[k]
		if !ok || e.Service != f.Service || !slices.Equal(e.Dests, f.Dests) {
			return false
		}
	}
	return true
}

// Keys lists the services in a stable order.
func (t Table) Keys() []ServiceKey {
	keys := slices.Collect(maps.Keys(t))
	slices.SortFunc(keys, compareKeys)
	return keys
}

func compareKeys(a, b ServiceKey) int {
	if c := strings.Compare(a.String(), b.String()); c != 0 {
		return c
	}
	return int(a.Family) - int(b.Family)
}

// toIPVS converts to cloudflare/ipvs's type.
func (s Service) toIPVS() ipvs.Service {
	return ipvs.Service{
		Address:   s.Addr,
		Netmask:   s.Netmask,
		Scheduler: s.Scheduler,
		Timeout:   s.Timeout,
		Flags:     s.Flags,
		Port:      s.Port,
		FWMark:    s.FWMark,
		Family:    s.Family,
		Protocol:  s.Protocol,
	}
}

func (d Destination) toIPVS() ipvs.Destination {
	return ipvs.Destination{
		Address:        d.Addr,
		FwdMethod:      d.Forward,
		Weight:         d.Weight,
		UpperThreshold: d.Upper,
		LowerThreshold: d.Lower,
		Port:           d.Port,
		Family:         d.Family,
	}
}

// serviceFromIPVS normalises what the kernel reports: a fwmark service
// has no address, port or protocol of its own (the kernel says TCP), and
// the hashed flag is the kernel's business.
func serviceFromIPVS(s ipvs.Service) Service {
	out := Service{
		ServiceKey: ServiceKey{Family: s.Family, Protocol: s.Protocol, Addr: s.Address, Port: s.Port, FWMark: s.FWMark},
		Scheduler:  s.Scheduler,
		Flags:      s.Flags & settableFlags,
		Timeout:    s.Timeout,
		Netmask:    s.Netmask,
	}
	if s.FWMark != 0 {
		out.Protocol, out.Addr, out.Port = 0, netip.Addr{}, 0
	}
	return out
}

func destFromIPVS(d ipvs.Destination) Destination {
	return Destination{
		DestKey: DestKey{Addr: d.Address, Port: d.Port},
		Family:  d.Family,
		Forward: d.FwdMethod,
		Weight:  d.Weight,
		Upper:   d.UpperThreshold,
		Lower:   d.LowerThreshold,
	}
}
