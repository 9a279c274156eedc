package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// icmpChecker sends up to count echo requests from a raw socket (root, or
// CAP_NET_RAW: the daemon has it anyway for VRRP), spread over the
// timeout, and is up at the first reply. keepalived's PING_CHECK sends
// one; more forgive a lost packet without waiting for the next interval.
type icmpChecker struct {
	target netip.Addr
	bind   netip.Addr
	count  int
}

func (c *icmpChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		p := probing.New(c.target.String())
		p.SetIPAddr(&net.IPAddr{IP: c.target.AsSlice(), Zone: c.target.Zone()})
		p.SetPrivileged(true)
		p.SetLogger(probing.NoopLogger{})
		if c.bind.IsValid() {
			p.Source = c.bind.String()
		}
		count := max(1, c.count)
		p.Count = count
		timeout := time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		if timeout <= 0 {
			return Result{Reason: "timeout"}
		}
		p.Timeout = timeout
		p.Interval = max(timeout/time.Duration(count), time.Millisecond)
		var sendErr error
		p.OnSendError = func(_ *probing.Packet, err error) { sendErr = err }
		p.OnRecv = func(*probing.Packet) { p.Stop() }
		err := p.RunWithContext(ctx)
		st := p.Statistics()
		switch {
		case st.PacketsRecv > 0:
			return Result{Up: true, Reason: fmt.Sprintf("echo reply (%d sent)", st.PacketsSent)}
		case sendErr != nil:
			return Result{Reason: dialReason(ctx, sendErr)}
		case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
			return Result{Reason: "raw socket not permitted: " + err.Error()}
		case err != nil && ctx.Err() == nil:
			return Result{Reason: dialReason(ctx, err)}
		}
		return Result{Reason: fmt.Sprintf("timeout: no echo reply (%d sent)", st.PacketsSent)}
	})
}
