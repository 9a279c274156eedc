package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// tcpChecker connects and closes.
type tcpChecker struct {
	target netip.AddrPort
	from   origin
}

// Check runs one probe on a connector of its own (the monitor shares
// one among all its TCP checks), or with net.Dial where there is none.
func (c *tcpChecker) Check(ctx context.Context) Result {
	conn, err := newConnector()
	if err != nil {
		return c.dial(ctx)
	}
	defer conn.close()
	defer context.AfterFunc(ctx, conn.stop)()
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(24 * time.Hour)
	}
	if res, done := conn.Start(c.target, c.from, start, deadline, nil); done {
		res.Latency = time.Since(start)
		return res
	}
	if done := conn.Reap(time.Now(), nil); len(done) > 0 {
		return done[0].res
	}
	if done := conn.wait(); len(done) > 0 {
		return done[0].res
	}
	return Result{Reason: "timeout", Latency: time.Since(start)}
}

func (c *tcpChecker) dial(ctx context.Context) Result {
	return timed(func() Result {
		conn, err := dial(ctx, c.target, c.from)
		if err != nil {
			return Result{Reason: dialReason(ctx, err)}
		}
		// Reset rather than close politely: thousands of probes a
		// second would otherwise fill the TIME_WAIT table.
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		conn.Close()
		return Result{Up: true, Reason: "connected"}
	})
}

func dial(ctx context.Context, target netip.AddrPort, from origin) (net.Conn, error) {
	d, err := from.dialer("tcp")
	if err != nil {
		return nil, err
	}
	// No keep-alive: the connection lives for one probe, and the
	// setsockopts would cost a tenth of a probe's CPU.
	d.KeepAlive = -1
	return d.DialContext(ctx, "tcp", target.String())
}

// origin is where a probe's sockets come from: bind, if valid, and for a
// check through the VIP (mark not 0) the mark, set before connect so that
// the route and IPVS both see it.
type origin struct {
	bind netip.Addr
	mark uint32
	// real is the real server a marked probe is steered to.
	real netip.Addr
}

func originOf(s Spec) origin { return origin{bind: s.Bind, mark: s.Mark, real: s.Real.Addr()} }

func (o origin) dialer(network string) (*net.Dialer, error) {
	d := &net.Dialer{}
	bind := o.bind
	if o.mark != 0 && !bind.IsValid() {
		// A check through the VIP is addressed to the VIP. On the
		// director holding it the local route to the VIP decides the
		// source, and a VIP that is no secondary of the director's
		// subnet (a /32, as the seed's) is its own preferred source:
		// the probe would leave from the VIP, which the real drops
		// as its own address. It must leave from the address this
		// host sends to the real from.
		src, err := sourceTowards(o.real)
		if err != nil {
			return nil, fmt.Errorf("source address towards %s: %w", o.real, err)
		}
		bind = src
	}
	if bind.IsValid() {
		// From AddrPort, so that a link-local source keeps its zone.
		if network == "udp" {
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, 0))
		} else {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(bind, 0))
		}
	}
	// A TCP socket bound to an address takes its port at bind, before
	// the kernel knows the destination, and each probe's port then sits
	// in TIME_WAIT for a minute: a few hundred probes a second would run
	// out of ports. IP_BIND_ADDRESS_NO_PORT leaves the port to connect.
	noPort := bind.IsValid() && network == "tcp"
	if o.mark == 0 && !noPort {
		return d, nil
	}
	mark := o.mark
	d.Control = func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if noPort {
				serr = setNoPort(fd)
			}
			if serr == nil && mark != 0 {
				if serr = setMark(fd, mark); serr != nil {
					serr = fmt.Errorf("set SO_MARK %#x: %w", mark, serr)
				}
			}
		})
		return errors.Join(err, serr)
	}
	return d, nil
}

// sourceTowards is the address this host sends to dst from, as its main
// routing table says: connecting a UDP socket chooses it, and sends
// nothing.
func sourceTowards(dst netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// dialReason tells a refused port, a timeout and an unreachable host
// apart, since they point at different faults.
func dialReason(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "bind address not available"
	}
	return err.Error()
}
