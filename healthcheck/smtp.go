package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"
)

// MaxSMTPReply bounds what an smtp check reads of a session: banner and
// HELO reply together.
const MaxSMTPReply = 64 << 10

// smtpChecker is keepalived's SMTP_CHECK: connect, a 2xx banner, HELO,
// a 2xx reply, QUIT. Multi-line replies ("250-...") are read whole.
type smtpChecker struct {
	target netip.AddrPort
	from   origin
	helo   string
}

func (c *smtpChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		conn, err := dial(ctx, c.target, c.from)
		if err != nil {
			return Result{Reason: dialReason(ctx, err)}
		}
		defer conn.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		// A server that never ends its line must not grow our memory
		// until the timeout: replies are read up to MaxSMTPReply.
		tp := textproto.NewConn(struct {
			io.Reader
			io.Writer
			io.Closer
		}{&cappedReader{r: conn, left: MaxSMTPReply}, conn, conn})
		if code, msg, err := tp.ReadResponse(2); err != nil {
			return Result{Reason: smtpReason("banner", code, msg, err)}
		}
		id, err := tp.Cmd("HELO %s", c.helo)
		if err != nil {
			return Result{Reason: smtpReason("HELO", 0, "", err)}
		}
		if code, msg, err := readReply(tp, id); err != nil {
			return Result{Reason: smtpReason("HELO", code, msg, err)}
		}
		// A polite end; its reply does not change the verdict.
		_, _ = tp.Cmd("QUIT")
		return Result{Up: true, Reason: "HELO accepted"}
	})
}

// readReply reads the reply to the command textproto.Cmd sent as id.
func readReply(tp *textproto.Conn, id uint) (int, string, error) {
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	return tp.ReadResponse(2)
}

// smtpReason tells a reply with the wrong code ("HELO: 550 go away") from
// a timeout and a connection closed midway.
func smtpReason(step string, code int, msg string, err error) string {
	var pe *textproto.Error
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return fmt.Sprintf("%s: %d %s", step, pe.Code, oneLine(pe.Msg))
	case errors.As(err, &ne) && ne.Timeout():
		return step + ": timeout"
	case errors.Is(err, errReplyTooLong):
		return fmt.Sprintf("%s: %v", step, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return step + ": connection closed"
	case code != 0:
		return fmt.Sprintf("%s: %d %s", step, code, oneLine(msg))
	}
	return fmt.Sprintf("%s: %v", step, err)
}

// oneLine is the first line of a server's message, at most 120 bytes.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s[:min(len(s), 120)]
}

var errReplyTooLong = fmt.Errorf("replies longer than %d bytes", MaxSMTPReply)

// cappedReader reads at most left bytes, then fails with
// errReplyTooLong (where io.LimitReader's EOF would read as the server
// closing).
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errReplyTooLong
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
