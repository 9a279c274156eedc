package healthcheck

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"syscall"
	"time"
)

// MaxUDPReply is the most of a reply a udp check reads (a datagram's
// maximum); reply_regex sees that much.
const MaxUDPReply = 65535

// udpChecker sends one datagram from a connected socket, so an ICMP
// error for it comes back as an error on the socket. Without
// requireReply, silence until the deadline is up (keepalived's UDP_CHECK:
// only an ICMP error is down); with it only a reply is, one that starts
// with prefix and matches re where they are set.
type udpChecker struct {
	target       netip.AddrPort
	from         origin
	payload      []byte
	requireReply bool
	prefix       []byte
	re           *regexp.Regexp
}

func newUDPChecker(s Spec) (*udpChecker, error) {
	c := &udpChecker{target: s.Target, from: originOf(s), requireReply: s.RequireReply || s.ReplyRegex != "" || s.ReplyHex != ""}
	var err error
	if c.payload, err = hex.DecodeString(s.PayloadHex); err != nil {
		return nil, fmt.Errorf("healthcheck: payload: %w", err)
	}
	if c.prefix, err = hex.DecodeString(s.ReplyHex); err != nil {
		return nil, fmt.Errorf("healthcheck: reply_hex: %w", err)
	}
	if s.ReplyRegex != "" {
		if c.re, err = regexp.Compile(s.ReplyRegex); err != nil {
			return nil, fmt.Errorf("healthcheck: reply_regex: %w", err)
		}
	}
	return c, nil
}

func (c *udpChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		d, err := c.from.dialer("udp")
		if err != nil {
			return Result{Reason: err.Error()}
		}
		conn, err := d.DialContext(ctx, "udp", c.target.String())
		if err != nil {
			return Result{Reason: dialReason(ctx, err)}
		}
		defer conn.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		// The context's end also ends a read without a deadline.
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		if _, err := conn.Write(c.payload); err != nil {
			return Result{Reason: dialReason(ctx, err)}
		}
		buf := make([]byte, MaxUDPReply)
		n, err := conn.Read(buf)
		switch {
		case err == nil:
		case isTimeout(err) && !c.requireReply:
			return Result{Up: true, Reason: "no ICMP error"}
		case isTimeout(err):
			return Result{Reason: "timeout: no reply"}
		default:
			return Result{Reason: dialReason(ctx, err)}
		}
		if !bytes.HasPrefix(buf[:n], c.prefix) {
			return Result{Reason: fmt.Sprintf("reply (%d bytes) does not start with reply_hex", n)}
		}
		if c.re != nil && !c.re.Match(buf[:n]) {
			return Result{Reason: fmt.Sprintf("reply (%d bytes) does not match reply_regex", n)}
		}
		return Result{Up: true, Reason: fmt.Sprintf("reply (%d bytes)", n)}
	})
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT)
}
