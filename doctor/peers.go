package doctor

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Instance is a VRRP instance as the speaker and ARP checks see it.
type Instance struct {
	Name      string
	Interface string
	VRID      uint8
	IPv6      bool
	VIPs      []netip.Addr
	// Peers are its unicast peers; none for multicast.
	Peers []netip.Addr
	// Listen is how long to listen for adverts: three of the instance's
	// intervals and a second.
	Listen time.Duration
}

// Heard is one VRRP speaker heard on a link.
type Heard struct {
	Src      netip.Addr
	VRID     uint8
	Priority uint8
	VIPs     []netip.Addr
}

// Listener is what the speaker and ARP checks do on the network.
type Listener interface {
	// Listen opens a socket for VRRP adverts on ifname, in the caller's
	// network namespace.
	Listen(ifname string, v6 bool) (Ears, error)
	// WhoHas asks ifname's link who has the IPv4 address a (an ARP
	// request); nil when no one answered or a is this host's.
	WhoHas(ifname string, a netip.Addr) (net.HardwareAddr, error)
}

// Ears hears VRRP adverts.
type Ears interface {
	// Collect listens for d and returns each speaker once per VRID
	// (its last advert), leaving out this host's own; then it closes.
	Collect(d time.Duration) []Heard
}

// speakers checks the VRRP speakers heard on each instance's VRID: one
// with other VIPs (another cluster on the same VRID, fighting over its
// virtual MAC) or, with unicast, one not among the peers fails; our peer
// with our VIPs is fine. The VIPs (IPv4) are then asked for by ARP: with
// no master heard, a VIP that answers is held by someone outside VRRP.
func speakers(l Listener, insts []Instance) []Finding {
	type result struct {
		heard []Heard
		err   error
	}
	// Every instance listens at once: doctor takes the longest
	// listen, not their sum. The sockets are opened here, in the
	// caller's namespace; only the listening runs on other goroutines.
	res := make([]chan result, len(insts))
	for i, in := range insts {
		res[i] = make(chan result, 1)
		ears, err := l.Listen(in.Interface, in.IPv6)
		if err != nil {
			res[i] <- result{nil, err}
			continue
		}
		go func() { res[i] <- result{ears.Collect(in.Listen), nil} }()
	}
	var out []Finding
	for i, in := range insts {
		r := <-res[i]
		f := Finding{Check: "vrrp speakers " + in.Name, Status: OK}
		if r.err != nil {
			f.Status, f.Detail = Warn, "could not listen on "+in.Interface+": "+r.err.Error()
			out = append(out, f)
			continue
		}
		var peers, foreign []string
		for _, h := range r.heard {
			if h.VRID != in.VRID {
				continue
			}
			desc := fmt.Sprintf("%s (priority %d, VIPs %s)", h.Src, h.Priority, addrList(h.VIPs))
			switch {
			case len(in.Peers) > 0 && !slices.Contains(in.Peers, h.Src):
				foreign = append(foreign, desc+", not a unicast peer")
			case !sameSet(h.VIPs, in.VIPs):
				foreign = append(foreign, desc+", other VIPs than ours")
			default:
				peers = append(peers, desc)
			}
		}
		switch {
		case len(foreign) > 0:
			f.Status = Fail
			f.Detail = fmt.Sprintf("another VRRP router on VRID %d: %s; two clusters on one VRID take each other's virtual MAC and VIPs", in.VRID, strings.Join(foreign, "; "))
			f.Fix = "choose a virtual_router_id no other router on " + in.Interface + " uses"
		case len(peers) > 0:
			f.Detail = "our peer: " + strings.Join(peers, "; ")
		default:
			f.Detail = fmt.Sprintf("no other speaker on VRID %d in %s", in.VRID, in.Listen)
		}
		out = append(out, f)
		if len(peers) == 0 && len(foreign) == 0 {
			out = append(out, heldOutside(l, in)...)
		}
	}
	return out
}

// heldOutside asks by ARP for each IPv4 VIP of an instance no master was
// heard for: an answer means a host outside VRRP holds it.
func heldOutside(l Listener, in Instance) []Finding {
	var out []Finding
	for _, v := range in.VIPs {
		if !v.Is4() {
			continue
		}
		mac, err := l.WhoHas(in.Interface, v)
		f := Finding{Check: "vip " + v.String(), Status: OK, Detail: "no one else answers ARP for it"}
		switch {
		case err != nil:
			f.Status, f.Detail = Warn, "ARP not asked: "+err.Error()
		case mac != nil:
			f.Status = Fail
			f.Detail = fmt.Sprintf("answered by %s while no VRRP master of %s was heard: a host outside VRRP holds it (a leftover alias?)", mac, in.Name)
			f.Fix = "find the host with MAC " + mac.String() + " and remove " + v.String() + " there (ip addr del)"
		}
		out = append(out, f)
	}
	return out
}

func sameSet(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func addrList(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}
