package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// tcpChecker connects and closes.
type tcpChecker struct {
	target netip.AddrPort
	bind   netip.Addr
}

func (c *tcpChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		conn, err := dial(ctx, c.target, c.bind)
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

func dial(ctx context.Context, target netip.AddrPort, bind netip.Addr) (net.Conn, error) {
	// No keep-alive: the connection lives for one probe, and the
	// setsockopts would cost a tenth of a probe's CPU.
	d := net.Dialer{KeepAlive: -1}
	if bind.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: bind.AsSlice()}
	}
	return d.DialContext(ctx, "tcp", target.String())
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
