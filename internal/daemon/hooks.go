package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"directord/config"
	"directord/internal/events"
	"directord/internal/proc"
	"directord/lvs"
)

// hookQueue bounds the hooks waiting to run: a flapping real server
// must not grow the daemon's memory; past it, hooks are logged and
// skipped.
const hookQueue = 256

// hookJob is one run of a real server's or a service's hook.
type hookJob struct {
	name string // "notify_down", "quorum_up"…
	argv []string
	env  []string
	ev   events.Event // what the hook's own event reports about
}

// hooks runs the real-server and virtual-server hooks one at a time, in
// the order of the events, off the daemon's goroutines: a slow hook
// never delays a health check or an IPVS write.
type hooks struct {
	jobs chan hookJob
	log  *slog.Logger
	bus  *events.Bus
	cfg  func() *config.Config
}

func newHooks(log *slog.Logger, bus *events.Bus, cfg func() *config.Config) *hooks {
	return &hooks{jobs: make(chan hookJob, hookQueue), log: log, bus: bus, cfg: cfg}
}

func (h *hooks) queue(j hookJob) {
	select {
	case h.jobs <- j:
	default:
		h.log.Warn("hook skipped: too many waiting", "hook", j.name, "argv", j.argv)
	}
}

func (h *hooks) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-h.jobs:
			h.run(ctx, j)
		}
	}
}

// run runs one hook as script_user, bounded in time (the VRRP hooks'
// default timeout) and output, and reports it.
func (h *hooks) run(ctx context.Context, j hookJob) {
	e := j.ev
	e.Kind, e.Op = events.KindHook, j.name
	user, err := ScriptUser(h.cfg())
	var res proc.Result
	out := &proc.Capped{}
	if err == nil {
		res, err = proc.RunAs(ctx, user, j.argv, j.env, config.DefaultNotifyTimeout, out)
	}
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit status %d", res.ExitCode)
	}
	e.OK = events.Bool(err == nil)
	if err != nil {
		e.Error = err.Error()
		h.log.Warn("hook failed", "hook", j.name, "argv", j.argv, "err", err, "output", strings.TrimSpace(string(out.Bytes())))
	} else {
		h.log.Info("hook ran", "hook", j.name, "argv", j.argv)
	}
	e.Time = time.Now()
	h.bus.Publish(e)
}

// healthHook queues a real server's notify_up or notify_down for the
// flip e reports.
func (h *hooks) healthHook(e events.Event) {
	rs := findReal(h.cfg(), e.VirtualServer, e.RealServer)
	if rs == nil || e.Up == nil {
		return
	}
	name, argv, state := "notify_down", rs.NotifyDown, "DOWN"
	if *e.Up {
		name, argv, state = "notify_up", rs.NotifyUp, "UP"
	}
	if len(argv) == 0 {
		return
	}
	h.queue(hookJob{name: name, argv: argv, ev: e, env: []string{
		"DIRECTORD_VIRTUAL_SERVER=" + e.VirtualServer, "DIRECTORD_REAL_SERVER=" + e.RealServer,
		"DIRECTORD_STATE=" + state, "DIRECTORD_REASON=" + e.Reason}})
}

// quorumHook queues a service's quorum_up or quorum_down.
func (h *hooks) quorumHook(st lvs.ServiceState, e events.Event) {
	cfg := h.cfg()
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		if vs.Name != st.Name {
			continue
		}
		name, argv, state := "quorum_up", vs.QuorumUp, "UP"
		if st.QuorumLost {
			name, argv, state = "quorum_down", vs.QuorumDown, "DOWN"
		}
		if len(argv) > 0 {
			h.queue(hookJob{name: name, argv: argv, ev: e, env: []string{
				"DIRECTORD_VIRTUAL_SERVER=" + vs.Name, "DIRECTORD_STATE=" + state}})
		}
	}
}

// findReal is the real server endpoint of virtual server vs.
func findReal(cfg *config.Config, vs, endpoint string) *config.RealServer {
	for i := range cfg.VirtualServers {
		v := &cfg.VirtualServers[i]
		if v.Name != vs {
			continue
		}
		for j := range v.RealServers {
			if v.RealServers[j].Endpoint().String() == endpoint {
				return &v.RealServers[j]
			}
		}
	}
	return nil
}
