package vrrp

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"time"

	"directord/internal/proc"
)

// hookState names states the way keepalived passes them to notify
// scripts, so existing scripts keep working.
func hookState(s State, stopping bool) string {
	if stopping {
		return "STOP"
	}
	return s.String()
}

type hookJob struct {
	argv     []string
	instance string
	state    string
	priority uint8
	timeout  time.Duration
	user     *proc.User
	done     chan struct{} // closed when the hook has run, if not nil
}

// notifier runs one instance's hooks one at a time, in the order of the
// transitions, off the router's loop so a slow hook never delays VRRP.
type notifier struct {
	jobs chan hookJob
	log  *slog.Logger
	exec RunFunc
}

func newNotifier(ctx context.Context, log *slog.Logger, run RunFunc) *notifier {
	n := &notifier{jobs: make(chan hookJob, 64), log: log, exec: run}
	go n.loop(ctx)
	return n
}

func (n *notifier) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-n.jobs:
			n.run(ctx, j)
		}
	}
}

// queue schedules a hook; a hook that cannot be queued (64 pending) is
// logged and skipped rather than blocking the router.
func (n *notifier) queue(j hookJob) {
	select {
	case n.jobs <- j:
	default:
		n.log.Warn("notify hook queue full, hook skipped", "state", j.state)
		if j.done != nil {
			close(j.done)
		}
	}
}

func (n *notifier) run(ctx context.Context, j hookJob) {
	if j.done != nil {
		defer close(j.done)
	}
	prio := strconv.Itoa(int(j.priority))
	// keepalived's notify arguments: INSTANCE name state priority.
	argv := append(append([]string(nil), j.argv...), "INSTANCE", j.instance, j.state, prio)
	env := []string{
		"DIRECTORD_INSTANCE=" + j.instance,
		"DIRECTORD_STATE=" + j.state,
		"DIRECTORD_PRIORITY=" + prio,
	}
	var out proc.Capped // a chatty hook must not cost memory
	res, err := n.exec(ctx, j.user, argv, env, j.timeout, &out)
	switch {
	case err != nil:
		n.log.Warn("notify hook failed", "state", j.state, "hook", j.argv[0], "err", err, "output", tail(out.Bytes()))
	case res.ExitCode != 0:
		n.log.Warn("notify hook failed", "state", j.state, "hook", j.argv[0], "exit", res.ExitCode, "output", tail(out.Bytes()))
	default:
		n.log.Info("notify hook ran", "state", j.state, "hook", j.argv[0], "duration", res.Duration)
	}
}

func tail(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 512 {
		b = b[len(b)-512:]
	}
	return string(b)
}
