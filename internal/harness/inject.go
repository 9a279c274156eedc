package harness

import (
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"directord/internal/labnet"
)

// SendIPv4 sends payload as an IP packet of protocol proto from ns with a
// header we choose entirely (TTL included), out of the interface ifname:
// the way to hand-craft packets a correct router would never send.
func SendIPv4(ns *labnet.NS, ifname string, proto, ttl int, src, dst netip.Addr, payload []byte) error {
	return ns.Do(func() error {
		c, err := net.ListenPacket("ip4:"+strconv.Itoa(proto), "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		rc, err := ipv4.NewRawConn(c)
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if dst.IsMulticast() {
			if err := rc.SetMulticastInterface(ifi); err != nil {
				return err
			}
		}
		h := &ipv4.Header{
			Version: ipv4.Version, Len: ipv4.HeaderLen, TOS: 0xc0,
			TotalLen: ipv4.HeaderLen + len(payload), TTL: ttl, Protocol: proto,
			Src: src.AsSlice(), Dst: dst.AsSlice(),
		}
		return rc.WriteTo(h, payload, &ipv4.ControlMessage{IfIndex: ifi.Index})
	})
}

// SendIPv6 is SendIPv4 over IPv6, from src (an address of ns on ifname)
// with the given hop limit. A raw IPv6 socket takes no header, so the hop
// limit and the source go in control messages; the payload goes out as
// given: Linux computes the checksum of a raw socket only when asked
// (IPV6_CHECKSUM), so a wrong one stays wrong.
func SendIPv6(ns *labnet.NS, ifname string, proto, hopLimit int, src, dst netip.Addr, payload []byte) error {
	return ns.Do(func() error {
		c, err := net.ListenPacket("ip6:"+strconv.Itoa(proto), "::")
		if err != nil {
			return err
		}
		defer c.Close()
		pc := ipv6.NewPacketConn(c)
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		// The socket options as well as the control message: without
		// them a multicast packet would leave at hop limit 1 if the
		// control message were ignored, and a test of the hop limit
		// rule would then test another value than it says.
		if err := pc.SetMulticastHopLimit(hopLimit); err != nil {
			return err
		}
		if err := pc.SetHopLimit(hopLimit); err != nil {
			return err
		}
		cm := &ipv6.ControlMessage{HopLimit: hopLimit, Src: src.AsSlice(), IfIndex: ifi.Index}
		_, err = pc.WriteTo(payload, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: ifname})
		return err
	})
}
