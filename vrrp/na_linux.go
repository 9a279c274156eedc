package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// naSender sends unsolicited neighbour advertisements (RFC 4861 §7.2.6),
// IPv6's gratuitous ARP: to all nodes (ff02::1), with the Override flag,
// the Router flag when the interface forwards, and the interface's MAC
// address in a Target Link-Layer Address option, so every neighbour's
// cache entry for the VIP points at this director at once. One ICMPv6
// socket per interface, from its link-local address, opened on first use.
// The caller holds the announcer's lock.
type naSender struct {
	conns map[string]*naConn
}

type naConn struct {
	c   *ndp.Conn
	ifi *net.Interface
}

func (n *naSender) conn(dev string) (*naConn, error) {
	if c, ok := n.conns[dev]; ok {
		return c, nil
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, err
	}
	// From the interface's own link-local address: ndp.LinkLocal takes
	// the first the kernel lists, which may be a link-local VIP.
	src, err := linkLocal(dev, nil)
	if err != nil {
		return nil, fmt.Errorf("neighbour advertisement socket on %s: %w", dev, err)
	}
	c, _, err := ndp.Listen(ifi, ndp.Addr(src.String()))
	if err != nil {
		return nil, fmt.Errorf("neighbour advertisement socket on %s (it needs a link-local address): %w", dev, err)
	}
	// The socket only sends: every ICMPv6 message on the link would
	// otherwise queue up in it.
	var block ipv6.ICMPFilter
	block.SetAll(true)
	if err := c.SetICMPFilter(&block); err != nil {
		c.Close()
		return nil, err
	}
	nc := &naConn{c: c, ifi: ifi}
	n.conns[dev] = nc
	return nc, nil
}

// forwarding reports whether dev routes IPv6 (net.ipv6.conf.DEV.forwarding):
// a neighbour then keeps treating this host as a router.
func forwarding(dev string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + dev + "/forwarding")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func (n *naSender) announce(dev string, addrs []netip.Addr) error {
	c, err := n.conn(dev)
	if err != nil {
		return err
	}
	router := forwarding(dev)
	for _, a := range addrs {
		na := &ndp.NeighborAdvertisement{
			Router:        router,
			Override:      true,
			TargetAddress: a,
			Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: c.ifi.HardwareAddr}},
		}
		if err := c.c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
			return fmt.Errorf("neighbour advertisement for %s on %s: %w", a, dev, err)
		}
	}
	return nil
}

func (n *naSender) close(dev string) {
	if c, ok := n.conns[dev]; ok {
		c.c.Close()
		delete(n.conns, dev)
	}
}

func (n *naSender) closeAll() {
	for dev := range n.conns {
		n.close(dev)
	}
}
