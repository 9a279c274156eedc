package vrrptest

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"directord/vrrp"
)

// conn is a VRRP socket bound to one interface, by index as
// SO_BINDTODEVICE binds: once that interface is deleted it hears nothing
// and cannot send, even if one of the same name comes back.
type conn struct {
	h      *Host
	ifname string
	fam    vrrp.Family
	index  int
	rx     chan vrrp.Received
	closed chan struct{}
	once   sync.Once
}

func (h *Host) listen(ifname string, fam vrrp.Family) (vrrp.PacketConn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.links[ifname]
	if l == nil {
		return nil, fmt.Errorf("listen on %s: %w", ifname, syscall.ENODEV)
	}
	c := &conn{h: h, ifname: ifname, fam: fam, index: l.index, rx: make(chan vrrp.Received, 256), closed: make(chan struct{})}
	h.conns = append(h.conns, c)
	return c, nil
}

// listeners are the open conns whose interface is there and up.
func (h *Host) listeners() []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.crashed {
		return nil
	}
	var out []*conn
	for _, c := range h.conns {
		if l := h.links[c.ifname]; l != nil && l.index == c.index && l.up {
			out = append(out, c)
		}
	}
	return out
}

func (c *conn) Send(msg []byte, src, dst netip.Addr) error {
	c.h.mu.Lock()
	l := c.h.links[c.ifname]
	fail, crashed := c.h.sendFail, c.h.crashed
	c.h.mu.Unlock()
	switch {
	case l == nil || l.index != c.index:
		return fmt.Errorf("send on %s: %w", c.ifname, syscall.ENODEV)
	case !l.up:
		return fmt.Errorf("send on %s: %w", c.ifname, syscall.ENETDOWN)
	case fail != nil:
		return fail
	case crashed:
		return nil // a dead process sends nothing
	}
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.h.lan.carry(c.h, msg, src, dst)
	return nil
}

func (c *conn) Receive(buf []byte) (vrrp.Received, error) {
	select {
	case rx := <-c.rx:
		n := copy(buf, rx.Data)
		rx.Data = buf[:n]
		return rx, nil
	case <-c.closed:
		return vrrp.Received{}, net.ErrClosed
	}
}

func (c *conn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.h.mu.Lock()
		c.h.conns = slices.DeleteFunc(c.h.conns, func(x *conn) bool { return x == c })
		c.h.mu.Unlock()
	})
	return nil
}

// deliver queues a packet, dropped when the socket buffer is full or the
// socket closed, as the kernel does.
func (c *conn) deliver(rx vrrp.Received) {
	rx.At = time.Now()
	select {
	case <-c.closed:
	case c.rx <- rx:
	default:
	}
}
