package vrrp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// instance is the router's side of one VRRP instance: its state machine
// and what carrying out its actions needs.
type instance struct {
	cfg    Config
	fsm    *FSM
	ifc    *iface
	policy Policy
	src    netip.Addr
	log    *slog.Logger
	notify *notifier

	tracked    []Tracked
	faultCause string
	holdReason string
	// srcTentative: the advert source is still in DAD; preemption waits.
	srcTentative bool

	// sendFailures counts adverts in a row that could not be sent;
	// sendFault, when set, holds the instance in FAULT until the socket
	// is reopened (see advertSent).
	sendFailures int
	sendFault    string

	stats       stats
	transitions []TransitionRecord

	// trackGen numbers the schedules of the trackers, trackCtx is the
	// running one's (cancelled by background).
	trackGen uint64
	trackCtx context.Context

	// term numbers the instance's masterships; announcing says one is
	// running. A gratuitous ARP job runs only in the term that put it on
	// the agenda: the term ends when the instance drops its VIPs or
	// leaves MASTER. background cancels the trackers.
	term       uint64
	announcing bool
	background context.CancelFunc
}

type stats struct {
	transitions                map[string]uint64 // by state entered
	sent, received, sendErrors uint64
	drops                      map[Drop]uint64
	addrMismatch, vipRestored  uint64
	garps                      uint64
}

// TransitionRecord is one state change, for the status view.
type TransitionRecord struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

const keepTransitions = 32

func newInstance(c Config, ifc *iface, log *slog.Logger) *instance {
	in := &instance{
		cfg:     c,
		fsm:     NewFSM(c.Params),
		ifc:     ifc,
		log:     log.With("instance", c.Name),
		policy:  policyFor(c),
		tracked: trackedFor(c),
	}
	in.stats.drops = map[Drop]uint64{}
	in.stats.transitions = map[string]uint64{}
	return in
}

// policyFor is what the instance accepts from peers.
func policyFor(c Config) Policy {
	vips := make([]netip.Addr, len(c.VIPs))
	for i, v := range c.VIPs {
		vips[i] = v.Prefix.Addr()
	}
	return Policy{
		Version:  c.Params.Version,
		Owner:    c.Params.Priority == 255,
		AuthType: c.AuthType,
		AuthData: c.AuthData,
		Interval: c.Params.AdvertInterval,
		Peers:    c.Peers,
		VIPs:     vips,
	}
}

// trackedFor lists what the instance tracks, all assumed fine. The
// instance's own interface is always tracked with weight 0, as keepalived
// does: a router without its link must not stay master.
func trackedFor(c Config) []Tracked {
	tracked := []Tracked{{Kind: TrackKindInterface, Name: c.Interface, OK: true}}
	for _, t := range c.TrackInterfaces {
		if t.Name == c.Interface {
			tracked[0].Weight = t.Weight
			continue
		}
		tracked = append(tracked, Tracked{Kind: TrackKindInterface, Name: t.Name, Weight: t.Weight, OK: true})
	}
	for _, s := range c.TrackScripts {
		tracked = append(tracked, Tracked{Kind: TrackKindScript, Name: s.Name, Weight: s.Weight, OK: true})
	}
	for _, f := range c.TrackFiles {
		tracked = append(tracked, Tracked{Kind: TrackKindFile, Name: f.Path, Weight: f.Weight})
	}
	return tracked
}

func (in *instance) owner() bool { return in.cfg.Params.Priority == 255 }

func (in *instance) dev(v VIP) string {
	if v.Dev != "" {
		return v.Dev
	}
	return in.cfg.Interface
}

func (in *instance) vipAddrs() []netip.Addr {
	out := make([]netip.Addr, len(in.cfg.VIPs))
	for i, v := range in.cfg.VIPs {
		out[i] = v.Prefix.Addr()
	}
	return out
}

func (in *instance) setSource(src netip.Addr) {
	in.src = src
	p := in.fsm.Params()
	p.Addr = src
	in.fsm.SetParams(p)
	in.policy.Self = []netip.Addr{src}
}

// setTracked records a tracked object's state and reports whether it
// changed.
func (in *instance) setTracked(kind, name string, ok bool, value int) bool {
	changed := false
	for i := range in.tracked {
		t := &in.tracked[i]
		if t.Kind == kind && t.Name == name && (t.OK != ok || t.Value != value) {
			t.OK, t.Value = ok, value
			changed = true
		}
	}
	return changed
}

func (in *instance) stopBackground() {
	in.endMastership()
	in.trackGen++
	if in.background != nil {
		in.background()
	}
}

// startTrackers takes the state of every tracked object and starts
// watching: a new schedule on the agenda (trackGen), whose jobs and
// results the next reload or stop makes stale. At start-up (initial) each
// track script runs once first, so the first election already uses the
// right priority; on a reload the loop must not wait for scripts, which
// then report when they change.
func (r *Router) startTrackers(ctx context.Context, in *instance, initial bool) {
	ctx, cancel := context.WithCancel(ctx)
	in.background, in.trackCtx = cancel, ctx
	in.trackGen++
	gen, now := in.trackGen, r.sys.Now()
	for i := range in.tracked {
		t := &in.tracked[i]
		if t.Kind == TrackKindInterface {
			st, err := r.sys.Watcher.Link(t.Name)
			t.OK = err == nil && st.Up
			if err == nil {
				r.links[st.Index] = st.Name
			}
		}
	}
	for _, s := range in.cfg.TrackScripts {
		ok := true
		for _, t := range in.tracked {
			if t.Kind == TrackKindScript && t.Name == s.Name {
				ok = t.OK
			}
		}
		if initial {
			ok = runScript(ctx, r.sys.Run, s)
			in.setTracked(TrackKindScript, s.Name, ok, 0)
		}
		r.scheduleScript(ctx, in, gen, &scriptState{script: s, ok: ok}, now.Add(s.Interval))
	}
	for _, f := range in.cfg.TrackFiles {
		v, err := readTrackFile(r.sys.ReadFile, f.Path)
		if err != nil {
			in.log.Warn("track_file unreadable", "err", err)
		}
		in.setTracked(TrackKindFile, f.Path, false, v)
		r.scheduleFilePoll(in, gen, f, now.Add(trackFilePoll))
	}
}

// feed gives the state machine an event and carries out its actions.
// What goes on the wire (adverts, VIPs, gratuitous ARP) goes first; the
// bookkeeping of a transition (log, history, hooks, sync group) after, so
// that a takeover is not held up by a log line.
func (r *Router) feed(now time.Time, in *instance, ev Event) {
	var transitions []Transition
	sendFault := false
	for _, a := range in.fsm.Handle(now, ev) {
		switch a := a.(type) {
		case Transition:
			transitions = append(transitions, a)
		case SendAdvert:
			sendFault = r.sendAdvert(in, a.Priority) || sendFault
		case AddVIPs:
			if !in.owner() {
				for _, v := range in.cfg.VIPs {
					if err := r.sys.Addrs.Add(in.dev(v), v); err != nil {
						in.log.Error("cannot add VIP", "vip", v.Prefix.String(), "err", err)
					}
				}
			}
		case RemoveVIPs:
			// No announcement may follow the VIPs' removal.
			in.endMastership()
			if !in.owner() {
				for _, v := range in.cfg.VIPs {
					if err := r.sys.Addrs.Remove(in.dev(v), v); err != nil {
						in.log.Error("cannot remove VIP", "vip", v.Prefix.String(), "err", err)
					}
				}
			}
		case Announce:
			r.announce(now, in, a.Heal)
		}
	}
	for _, t := range transitions {
		r.transition(now, in, t)
	}
	if sendFault {
		r.refreshTracking(now, in)
	}
}

func (r *Router) transition(now time.Time, in *instance, t Transition) {
	in.stats.transitions[t.To.String()]++
	in.transitions = append(in.transitions, TransitionRecord{At: now, From: t.From.String(), To: t.To.String(), Reason: string(t.Reason)})
	if len(in.transitions) > keepTransitions {
		in.transitions = in.transitions[1:]
	}
	lvl := slog.LevelInfo
	if t.To == Fault {
		lvl = slog.LevelWarn
	}
	in.log.Log(context.Background(), lvl, "transition", "from", t.From.String(), "to", t.To.String(),
		"reason", string(t.Reason), "priority", in.fsm.Priority())
	if t.From == Master {
		in.endMastership()
	}
	var hook []string
	switch t.To {
	case Master:
		hook = in.cfg.Notify.Master
	case Backup:
		hook = in.cfg.Notify.Backup
	case Fault:
		hook = in.cfg.Notify.Fault
	}
	if len(hook) > 0 {
		in.notify.queue(hookJob{argv: hook, instance: in.cfg.Name, state: hookState(t.To, false),
			priority: in.fsm.Priority(), timeout: in.cfg.Notify.Timeout, user: in.cfg.Notify.User})
	}
	if r.onTransition != nil {
		r.onTransition(in.cfg.Name, t.To, t.Reason)
	}
	r.syncGroup(now, in, t)
}

// syncGroup makes the other members of in's group follow a protocol
// decision, and holds them all in Fault while any member has a fault of
// its own.
func (r *Router) syncGroup(now time.Time, in *instance, t Transition) {
	members := r.groups[in.cfg.Name]
	if len(members) < 2 {
		return
	}
	switch t.Reason {
	case ReasonOwner, ReasonMasterDown, ReasonHigherPrio, ReasonHigherAddr:
		for _, m := range members {
			if m != in {
				r.feed(now, m, GroupState{To: t.To})
			}
		}
	case ReasonFault, ReasonFaultCleared:
		r.groupFaults(now, in)
	}
}

// groupFaults holds every member of in's sync group in FAULT while
// another member has a fault of its own, and releases them when none
// has. It runs whenever a member's own fault changes, transition or not:
// a member whose own fault clears while its group holds it in FAULT
// makes no transition, and members that all started in FAULT would
// otherwise hold each other there for good.
func (r *Router) groupFaults(now time.Time, in *instance) {
	members := r.groups[in.cfg.Name]
	if len(members) < 2 {
		return
	}
	for _, m := range members {
		other := false
		for _, o := range members {
			other = other || (o != m && o.fsm.fault)
		}
		if m.fsm.groupFault != other {
			r.feed(now, m, GroupFault{Fault: other})
		}
	}
}

// sendAdvert sends one advert to each destination and reports whether
// the instance has just reached the send-failure limit.
func (r *Router) sendAdvert(in *instance, prio uint8) bool {
	if !in.src.IsValid() || in.srcTentative {
		// No link-local address yet, or one in DAD: the kernel would
		// refuse the send. Not a send fault: DAD ends within seconds,
		// and the address event then makes the router look again.
		return false
	}
	p := Packet{
		Version:  in.cfg.Params.Version,
		Type:     TypeAdvertisement,
		VRID:     in.cfg.VRID,
		Priority: prio,
		Interval: in.cfg.Params.AdvertInterval,
		AuthType: in.cfg.AuthType,
		AuthData: in.cfg.AuthData,
		Addrs:    in.vipAddrs(),
	}
	dsts := in.cfg.Peers
	if len(dsts) == 0 {
		dsts = []netip.Addr{Group(in.src)}
	}
	// One destination reached is enough: a peer hears us.
	var failed error
	reached := false
	for _, dst := range dsts {
		msg, err := p.Marshal(in.src, dst)
		if err == nil {
			err = in.ifc.conn.Send(msg, in.src, dst)
		}
		if err != nil {
			in.stats.sendErrors++
			failed = fmt.Errorf("to %s: %w", dst, err)
			continue
		}
		in.stats.sent++
		reached = true
	}
	if reached {
		failed = nil
	}
	if prio == 0 {
		return false // resigning: the instance is leaving anyway
	}
	return r.advertSent(in, failed)
}

// announce sends the first gratuitous ARP for every VIP at once, since
// failover is measured to it, and puts the rest of the schedule on the
// agenda for as long as this mastership lasts: repeat rounds spaced by
// interval, the same again delay after the transition (keepalived's
// garp_master_delay), then refresh_repeat rounds every refresh. Each
// round announces the VIPs the instance has then: a reload that moves a
// VIP away stops its announcements.
func (r *Router) announce(now time.Time, in *instance, heal bool) {
	r.announceNow(in, in.cfg.VIPs)
	g := in.cfg.GARP
	if heal {
		// The rest belongs to the running mastership: a heal burst
		// that outlived it would announce a VIP the router no longer
		// holds.
		if !in.announcing {
			return
		}
		// The peer that was master a moment ago may still have
		// gratuitous ARP on the way (its own burst, packets queued on
		// a busy host), and one that lands after ours points the LAN
		// back at it. Once it has heard us it stops: announce once
		// more an advert interval later.
		again := in.cfg.Params.AdvertInterval
		r.garpRounds(in, in.term, now, g.Repeat-1, g.Interval, func(last time.Time) {
			r.garpRounds(in, in.term, last.Add(again-g.Interval), 1, g.Interval, nil)
		})
		return
	}
	in.endMastership()
	in.term++
	in.announcing = true
	term := in.term
	var refresh func(last time.Time)
	refresh = func(last time.Time) {
		if g.Refresh > 0 && g.RefreshRepeat > 0 {
			r.garpRounds(in, term, last.Add(g.Refresh-g.Interval), g.RefreshRepeat, g.Interval, refresh)
		}
	}
	afterFirst := refresh
	if g.Delay > 0 {
		afterFirst = func(time.Time) {
			r.garpRounds(in, term, now.Add(g.Delay-g.Interval), g.Repeat, g.Interval, refresh)
		}
	}
	r.garpRounds(in, term, now, g.Repeat-1, g.Interval, afterFirst)
}

// garpRounds puts on the agenda n rounds of gratuitous ARP, gap apart
// with the first a gap after prev, each sent only while the mastership
// term lasts; then, in the same term, next (if any) with the time of the
// last round (prev when n is 0). A round the loop runs late delays the
// rest, as a sleep would: they do not bunch up.
func (r *Router) garpRounds(in *instance, term uint64, prev time.Time, n int, gap time.Duration, next func(last time.Time)) {
	if n <= 0 {
		if next != nil {
			next(prev)
		}
		return
	}
	r.agenda.at(prev.Add(gap), func(now time.Time) {
		if !in.announcing || in.term != term {
			return
		}
		r.announceNow(in, in.cfg.VIPs)
		r.garpRounds(in, term, now, n-1, gap, next)
	})
}

// endMastership ends every gratuitous ARP schedule of the current
// mastership: its jobs find the term over.
func (in *instance) endMastership() {
	if in.announcing {
		in.term++
		in.announcing = false
	}
}

// announceNow sends one gratuitous ARP per VIP of vips.
func (r *Router) announceNow(in *instance, vips []VIP) {
	r.sendGARP(in, r.garpTargets(in, vips))
}

// garpTargets groups VIP addresses by device.
func (r *Router) garpTargets(in *instance, vips []VIP) map[string][]netip.Addr {
	byDev := map[string][]netip.Addr{}
	for _, v := range vips {
		byDev[in.dev(v)] = append(byDev[in.dev(v)], v.Prefix.Addr())
	}
	return byDev
}

// sendGARP sends one round.
func (r *Router) sendGARP(in *instance, targets map[string][]netip.Addr) {
	for dev, addrs := range targets {
		if err := r.sys.ARP.Announce(dev, addrs); err != nil {
			in.log.Warn("gratuitous ARP failed", "dev", dev, "err", err)
			continue
		}
		in.stats.garps += uint64(len(addrs))
	}
}
