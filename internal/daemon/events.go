package daemon

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"directord/healthcheck"
	"directord/internal/events"
	"directord/lvs"
)

// streamWriteTimeout ends an event stream whose reader stopped reading.
const streamWriteTimeout = 10 * time.Second

// maxEventStreams bounds the open `directord events` streams: each holds
// a queue of up to events.Queue events of the daemon's memory.
const maxEventStreams = 16

// handleEvents streams events, one JSON object a line, until the client
// goes or the daemon stops. A client too slow to keep up is told how
// many it lost (a "lost" event) rather than slowing the daemon.
func (d *Daemon) handleEvents(w http.ResponseWriter, r *http.Request) {
	if !d.streams.TryAcquire() {
		http.Error(w, "too many event streams open", http.StatusServiceUnavailable)
		return
	}
	defer d.streams.Release()
	sub := d.events.Subscribe()
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-sub.C():
			// A reader that keeps its connection but stops reading
			// (a paused pipe) would hold this stream, and one of the
			// few slots, until the daemon stops.
			if rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) != nil {
				return
			}
			if n := sub.TakeLost(); n > 0 {
				if enc.Encode(events.Event{Time: e.Time, Kind: events.KindLost, Lost: n}) != nil {
					return
				}
			}
			if enc.Encode(e) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// streamSlots is a counting limit without blocking.
type streamSlots struct {
	mu sync.Mutex
	n  int
}

func (s *streamSlots) TryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= maxEventStreams {
		return false
	}
	s.n++
	return true
}

func (s *streamSlots) Release() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
}

// publishHealth reports a check's flip once per real server it decides
// (a check shared by services decides each of them).
func (d *Daemon) publishHealth(ev healthcheck.Event) {
	// A real's flips only: not a change of dynamic weight, nor one check
	// of several going down while another already is.
	for _, id := range ev.Flipped {
		vs, rs, _ := strings.Cut(id, "/")
		e := events.Event{Time: ev.At, Kind: events.KindHealth, VirtualServer: vs, RealServer: rs,
			Check: ev.Spec.Name(), Up: events.Bool(ev.Up), Reason: ev.Result.Reason}
		d.events.Publish(e)
		d.hooks.healthHook(e)
	}
}

// publishDrain reports an operator's drain, undrain or weight, or a
// maintenance file's, for the real with WatchID id; weight is the
// effective weight (-1: not known here, the kernel write follows).
func (d *Daemon) publishDrain(op, id string, weight int) {
	vs, rs, _ := strings.Cut(id, "/")
	e := events.Event{Kind: events.KindDrain, Op: op, VirtualServer: vs, RealServer: rs}
	if weight >= 0 {
		e.Weight = events.Int(weight)
	}
	d.events.Publish(e)
}

// onWrite reports each IPVS write, and each failed one apart, so that
// an operator can alert on failures alone.
func (d *Daemon) onWrite(op lvs.Op, why string, err error) {
	// A status asked for after a write shows it: a dump begun before it
	// no longer does. (Each request still shares the dump in flight, so
	// writes and scrapes together cost one dump at a time.)
	d.tables.invalidate()
	e := events.Event{Kind: events.KindIPVS, Op: op.Kind.String(), VirtualServer: op.Service.ServiceKey.String(), Reason: why}
	if op.Kind >= lvs.CreateDest && op.Kind <= lvs.DeleteDest {
		e.RealServer = op.Dest.DestKey.String()
		e.Weight = events.Int(int(op.Dest.Weight))
	}
	if err != nil {
		e.Kind, e.Error = events.KindIPVSErr, err.Error()
	}
	d.events.Publish(e)
}

// onStates is the reconciler's report after each pass: preemption holds
// and quorum changes.
func (d *Daemon) onStates(states []lvs.ServiceState) {
	d.holdPreemption(states)
	d.bgpStates(states)
	for _, st := range d.quorum.changes(states) {
		e := events.Event{Time: time.Now(), Kind: events.KindQuorum, VirtualServer: st.Name, Up: events.Bool(!st.QuorumLost)}
		d.events.Publish(e)
		d.hooks.quorumHook(st, e)
	}
}

// quorumTracker remembers each service's quorum to report changes only.
// It runs on the reconciler's goroutine.
type quorumTracker struct {
	lost map[string]bool
}

// changes returns the services whose quorum changed since the last
// pass; a service seen for the first time is reported only if it starts
// without quorum.
func (q *quorumTracker) changes(states []lvs.ServiceState) []lvs.ServiceState {
	if q.lost == nil {
		q.lost = map[string]bool{}
	}
	var out []lvs.ServiceState
	seen := map[string]bool{}
	for _, st := range states {
		seen[st.Name] = true
		was, known := q.lost[st.Name]
		if (known && was != st.QuorumLost) || (!known && st.QuorumLost) {
			out = append(out, st)
		}
		q.lost[st.Name] = st.QuorumLost
	}
	for name := range q.lost {
		if !seen[name] {
			delete(q.lost, name)
		}
	}
	return out
}
