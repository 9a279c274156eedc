package vrrp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// ipConn is a raw IPv4 protocol-112 socket bound to one interface. It
// writes its own IP headers so that TTL (255, RFC 9568 §5.1.1.3), TOS and
// the source address are exactly what VRRP needs, and it joins 224.0.0.18
// with multicast loop off so that it never hears itself.
type ipConn struct {
	rc  *ipv4.RawConn
	ifi *net.Interface
}

// ListenIPv4 opens the VRRP socket for the interface named ifname.
func ListenIPv4(ifname string) (PacketConn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", ifname, err)
	}
	lc := net.ListenConfig{Control: deviceControl(ifname, nil)}
	pc, err := lc.ListenPacket(context.Background(), fmt.Sprintf("ip4:%d", ProtocolNumber), "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw socket on %s: %w", ifname, err)
	}
	rc, err := ipv4.NewRawConn(pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	c := &ipConn{rc: rc, ifi: ifi}
	steps := []func() error{
		func() error { return rc.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true) },
		func() error { return rc.SetMulticastInterface(ifi) },
		func() error { return rc.SetMulticastLoopback(false) },
		func() error { return rc.JoinGroup(ifi, &net.IPAddr{IP: MulticastGroup.AsSlice()}) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			rc.Close()
			return nil, fmt.Errorf("vrrp: socket options on %s: %w", ifname, err)
		}
	}
	return c, nil
}

// deviceControl prepares a raw VRRP socket before it is bound: bound to
// the device, it receives only this interface's packets and sends through
// it; a 1 MiB receive buffer rides out a busy loop; then more, if given.
func deviceControl(ifname string, more func(fd int) error) func(_, _ string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.BindToDevice(int(fd), ifname)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
			}
			if serr == nil && more != nil {
				serr = more(int(fd))
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}

func (c *ipConn) Send(msg []byte, src, dst netip.Addr) error {
	h := &ipv4.Header{
		Version:  ipv4.Version,
		Len:      ipv4.HeaderLen,
		TOS:      0xc0, // internetwork control, as keepalived sends
		TotalLen: ipv4.HeaderLen + len(msg),
		TTL:      255,
		Protocol: ProtocolNumber,
		Src:      src.AsSlice(),
		Dst:      dst.AsSlice(),
	}
	var cm *ipv4.ControlMessage
	if dst.IsMulticast() {
		cm = &ipv4.ControlMessage{IfIndex: c.ifi.Index}
	}
	return c.rc.WriteTo(h, msg, cm)
}

func (c *ipConn) Receive(buf []byte) (Received, error) {
	for {
		h, p, cm, err := c.rc.ReadFrom(buf)
		if err != nil {
			return Received{}, err
		}
		if h == nil || len(h.Src.To4()) == 0 {
			continue
		}
		r := Received{
			Src:  netip.AddrFrom4([4]byte(h.Src.To4())),
			Dst:  netip.AddrFrom4([4]byte(h.Dst.To4())),
			TTL:  h.TTL,
			Data: p,
			At:   time.Now(),
		}
		if cm != nil {
			r.IfIndex = cm.IfIndex
		}
		return r, nil
	}
}

func (c *ipConn) Close() error { return c.rc.Close() }
