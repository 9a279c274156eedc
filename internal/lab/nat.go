package lab

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"directord/internal/labnet"
)

// The LVS-NAT layout: the client and the VIP outside, the real servers
// inside behind the directors, with the inside VIP as their default
// gateway so that replies come back through the active director.
var (
	NATVIP       = netip.MustParseAddr("10.0.0.100")
	NATGateway   = netip.MustParseAddr("192.168.11.1")
	NATClient    = netip.MustParseAddr("10.0.0.2")
	natOutsideOf = map[string]netip.Addr{"lb1": netip.MustParseAddr("10.0.0.11"), "lb2": netip.MustParseAddr("10.0.0.10")}
)

// BuildNAT creates the NAT layout: an outside bridge with the client and
// the directors' eth0, an inside bridge with the directors' eth1 (the
// addresses of directors) and the real servers, which route through the
// inside VIP and run the echo service. The directors forward.
func BuildNAT(bin, tag string, directors []HostSpec, reals []RealSpec) (*Lab, error) {
	l, err := Build(bin, tag, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := l.buildNAT(directors, reals); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) buildNAT(directors []HostSpec, reals []RealSpec) error {
	// Build made the client on br0 with the seed's address; NAT's client
	// is outside.
	if err := l.Client.NS.Netlink(func(h *netlink.Handle) error {
		lk, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := h.AddrList(lk, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if err := h.AddrDel(lk, &a); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := l.Client.AddAddr(netip.PrefixFrom(NATClient, 24)); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	l.Client.Addr = NATClient
	inside, err := l.Net.AddBridge("br1")
	if err != nil {
		return err
	}
	l.Inside = inside
	for _, d := range directors {
		out, ok := natOutsideOf[d.Name]
		if !ok {
			return fmt.Errorf("no outside address for director %s", d.Name)
		}
		h, err := l.AddHost(HostSpec{Name: d.Name, Addr: out})
		if err != nil {
			return err
		}
		in, err := l.Net.Connect(h.NS, inside, "eth1", netip.PrefixFrom(d.Addr, 24))
		if err != nil {
			return err
		}
		h.Links = append(h.Links, in)
		if err := h.NS.Sysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
	}
	for _, r := range reals {
		ns, err := l.Net.AddNS(r.Name)
		if err != nil {
			return err
		}
		port, err := l.Net.Connect(ns, inside, "eth0", netip.PrefixFrom(r.Addr, 24))
		if err != nil {
			return err
		}
		if out, err := ns.Run("ip", "route", "add", "default", "via", NATGateway.String()); err != nil {
			return fmt.Errorf("%s: default route: %w: %s", r.Name, err, out)
		}
		h := Host{Name: r.Name, NS: ns, Port: port, Addr: r.Addr, Links: []*labnet.Port{port}}
		l.Hosts[r.Name] = &h
		real := &Real{Host: h, Weight: r.Weight}
		if err := real.StartEcho(); err != nil {
			return err
		}
		l.Reals = append(l.Reals, real)
	}
	return nil
}
