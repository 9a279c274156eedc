package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"directord/internal/proc"
)

// execChecker runs a program, without a shell, in its own process group;
// exit 0 is up. With dynamic, 2–255 is up too, at weight status−2, and
// only 1 (or a death by signal, a timeout) is down. The target is in its
// environment.
type execChecker struct {
	argv         []string
	real, target netip.AddrPort
	timeout      time.Duration
	user         *proc.User
	dynamic      bool
}

// MaxDynamicWeight is the highest weight a dynamic exec check can ask
// for: exit status 255 − 2, as in keepalived.
const MaxDynamicWeight = 253

func (c *execChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		env := []string{
			"DIRECTORD_REAL_ADDRESS=" + c.real.Addr().String(),
			"DIRECTORD_REAL_PORT=" + strconv.Itoa(int(c.real.Port())),
			"DIRECTORD_CHECK_ADDRESS=" + c.target.Addr().String(),
			"DIRECTORD_CHECK_PORT=" + strconv.Itoa(int(c.target.Port())),
		}
		timeout := c.timeout
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		var out proc.Capped
		res, err := proc.RunAs(ctx, c.user, c.argv, env, timeout, &out)
		switch {
		case errors.Is(err, proc.ErrTimeout):
			return Result{Reason: "timeout: killed"}
		case err != nil:
			return Result{Reason: err.Error()}
		case c.dynamic && res.ExitCode >= 2 && res.ExitCode <= MaxDynamicWeight+2:
			w := res.ExitCode - 2
			return Result{Up: true, Dynamic: true, Weight: w, Reason: fmt.Sprintf("exit status %d: weight %d", res.ExitCode, w)}
		case res.ExitCode != 0:
			return Result{Reason: fmt.Sprintf("exit status %d%s", res.ExitCode, firstLine(string(out.Bytes())))}
		}
		return Result{Up: true, Reason: "exit status 0"}
	})
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 120 {
		s = s[:120]
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// limited keeps the first n bytes written and drops the rest.
