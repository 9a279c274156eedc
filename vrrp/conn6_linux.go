package vrrp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ip6Conn is a raw IPv6 protocol-112 socket bound to one interface. A raw
// IPv6 socket hands no IP header either way: the hop limit (255 on send,
// required on receive: RFC 9568 §5.1.2.3, §7.1) and the source and
// destination travel in control messages. The checksum is the codec's,
// over the IPv6 pseudo-header, and Decode verifies it on receive rather
// than the kernel (IPV6_CHECKSUM), so that a bad one is counted as a drop
// instead of vanishing.
type ip6Conn struct {
	pc  *ipv6.PacketConn
	ifi *net.Interface
}

// ListenIPv6 opens the IPv6 VRRP socket for the interface named ifname.
func ListenIPv6(ifname string) (PacketConn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", ifname, err)
	}
	// Only the groups this socket joined: without IPV6_MULTICAST_ALL off
	// Linux delivers every group any socket on the host joined.
	lc := net.ListenConfig{Control: deviceControl(ifname, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
	})}
	c, err := lc.ListenPacket(context.Background(), fmt.Sprintf("ip6:%d", ProtocolNumber), "::")
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw IPv6 socket on %s: %w", ifname, err)
	}
	pc := ipv6.NewPacketConn(c)
	steps := []func() error{
		func() error {
			return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		},
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetMulticastHopLimit(255) },
		func() error { return pc.SetHopLimit(255) },
		func() error { return pc.SetMulticastLoopback(false) },
		func() error { return pc.JoinGroup(ifi, &net.IPAddr{IP: MulticastGroup6.AsSlice()}) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			pc.Close()
			return nil, fmt.Errorf("vrrp: IPv6 socket options on %s: %w", ifname, err)
		}
	}
	return &ip6Conn{pc: pc, ifi: ifi}, nil
}

func (c *ip6Conn) Send(msg []byte, src, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{HopLimit: 255, Src: src.AsSlice(), IfIndex: c.ifi.Index}
	_, err := c.pc.WriteTo(msg, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: c.ifi.Name})
	return err
}

func (c *ip6Conn) Receive(buf []byte) (Received, error) {
	for {
		n, cm, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			return Received{}, err
		}
		ipa, ok := from.(*net.IPAddr)
		if !ok || cm == nil {
			continue
		}
		src, ok1 := netip.AddrFromSlice(ipa.IP)
		dst, ok2 := netip.AddrFromSlice(cm.Dst)
		if !ok1 || !ok2 || !src.Is6() || src.Is4In6() {
			continue
		}
		return Received{Src: src, Dst: dst, TTL: cm.HopLimit, IfIndex: cm.IfIndex, Data: buf[:n], At: time.Now()}, nil
	}
}

func (c *ip6Conn) Close() error { return c.pc.Close() }
