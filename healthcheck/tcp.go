package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// tcpChecker connects and closes.
type tcpChecker struct {
	target netip.AddrPort
	bind   netip.Addr
	mark   uint32
}

func (c *tcpChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		conn, err := dial(ctx, c.target, c.bind, c.mark)
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

func dial(ctx context.Context, target netip.AddrPort, bind netip.Addr, mark uint32) (net.Conn, error) {
	d := dialer("tcp", bind, mark)
	// No keep-alive: the connection lives for one probe, and the
	// setsockopts would cost a tenth of a probe's CPU.
	d.KeepAlive = -1
	return d.DialContext(ctx, "tcp", target.String())
}

// dialer makes a probe's sockets: from bind, if valid, and carrying mark
// (SO_MARK), if not 0, set before connect so that the route and IPVS both
// see it.
func dialer(network string, bind netip.Addr, mark uint32) *net.Dialer {
	d := &net.Dialer{}
	if bind.IsValid() {
		if network == "udp" {
			d.LocalAddr = &net.UDPAddr{IP: bind.AsSlice()}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: bind.AsSlice()}
		}
	}
	if mark != 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setMark(fd, mark) }); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("set SO_MARK %#x: %w", mark, serr)
			}
			return nil
		}
	}
	return d
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
