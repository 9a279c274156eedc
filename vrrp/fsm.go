package vrrp

import (
	"net/netip"
	"time"
)

// State is a VRRP router state (RFC 9568 §6.4), plus Fault, which
// keepalived adds for a router that must not take part (its link is down,
// or a tracked script says so).
type State int

// States.
const (
	Initialize State = iota
	Backup
	Master
	Fault
)

func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return "UNKNOWN"
}

// Reason says why a transition happened. The values are fixed tokens
// for logs and metric labels.
type Reason string

// Transition reasons.
const (
	ReasonStartup      Reason = "startup"     // Initialize → Backup (RFC 9568 §6.4.1)
	ReasonOwner        Reason = "owner"       // priority 255 starts as master (§6.4.1)
	ReasonMasterDown   Reason = "master_down" // Master_Down_Timer fired (§6.4.2)
	ReasonHigherPrio   Reason = "higher_priority"
	ReasonHigherAddr   Reason = "higher_address" // equal priority, higher primary address (§6.4.3)
	ReasonShutdown     Reason = "shutdown"
	ReasonFault        Reason = "fault"
	ReasonFaultCleared Reason = "fault_cleared"
	ReasonSyncGroup    Reason = "sync_group"
)

// Params are the protocol settings of one instance.
type Params struct {
	Version        int
	Priority       uint8 // configured; 255 makes the instance the address owner
	AdvertInterval time.Duration
	Preempt        bool
	PreemptDelay   time.Duration
	// Addr is this router's primary address, compared with a peer's when
	// two masters have the same priority.
	Addr netip.Addr
}

// Event is an input of the state machine.
type Event interface{ event() }

// Events.
type (
	// Startup starts the instance (RFC 9568 §6.4.1).
	Startup struct{}
	// Shutdown stops it; a master resigns with priority 0.
	Shutdown struct{}
	// Tick says time has passed; due deadlines fire.
	Tick struct{}
	// AdvertReceived is a validated advertisement.
	AdvertReceived struct {
		Src      netip.Addr
		Priority uint8
		Interval time.Duration
	}
	// PriorityChanged carries a new effective priority from tracking.
	PriorityChanged struct{ Priority uint8 }
	// FaultChanged says whether tracking puts the instance in Fault.
	FaultChanged struct{ Fault bool }
	// GroupFault says whether another member of the sync group is in
	// Fault, which holds this one in Fault too.
	GroupFault struct{ Fault bool }
	// GroupState asks the instance to follow its sync group to Master or
	// Backup.
	GroupState struct{ To State }
	// PreemptHold holds preemption while this router could not serve
	// the VIPs (its own checks say a service behind them lost quorum):
	// taking over from a live master would then only drop traffic.
	// Taking over from a master that is gone is never held.
	PreemptHold struct{ Hold bool }
)

func (Startup) event()         {}
func (Shutdown) event()        {}
func (Tick) event()            {}
func (AdvertReceived) event()  {}
func (PriorityChanged) event() {}
func (FaultChanged) event()    {}
func (GroupFault) event()      {}
func (GroupState) event()      {}
func (PreemptHold) event()     {}

// Action is an output of the state machine, for the shell to carry out in
// the order given.
type Action interface{ action() }

// Actions.
type (
	// SendAdvert sends an advertisement with this priority (0 resigns).
	SendAdvert struct{ Priority uint8 }
	// AddVIPs adds the virtual addresses.
	AddVIPs struct{}
	// RemoveVIPs removes them.
	RemoveVIPs struct{}
	// Announce sends gratuitous ARP for every VIP. Heal is set when it
	// answers a lower-priority master (a split brain healing) rather
	// than a transition.
	Announce struct{ Heal bool }
	// Transition reports a state change.
	Transition struct {
		From, To State
		Reason   Reason
	}
)

func (SendAdvert) action() {}
func (AddVIPs) action()    {}
func (RemoveVIPs) action() {}
func (Announce) action()   {}
func (Transition) action() {}

// healGARPEvery limits the gratuitous ARP sent in answer to a
// lower-priority master: a peer that cannot hear us would otherwise make
// us announce at its advert rate. A new split brain (the other master
// silent for healEpisodeGap adverts before) is announced whatever the
// limit.
const (
	healGARPEvery  = time.Second
	healEpisodeGap = 3
)

// FSM is one instance's state machine. It does no I/O and reads no clock:
// every event comes with the time it happened, and the instance keeps
// deadlines that the caller polls with Deadline and fires with Tick.
type FSM struct {
	p          Params
	state      State
	prio       uint8
	fault      bool
	groupFault bool
	hold       bool

	masterAdverInterval time.Duration
	adverAt             time.Time // Master: next advert
	downAt              time.Time // Backup: Master_Down_Timer expiry
	preemptAt           time.Time // preemption allowed from then on
	lastHeal            time.Time
	lastLower           time.Time // last advert of a lower-priority master, as master

	master     netip.Addr // current master, as far as adverts tell
	masterPrio uint8
}

// NewFSM returns an instance in Initialize.
func NewFSM(p Params) *FSM {
	return &FSM{p: p, prio: p.Priority, masterAdverInterval: p.AdvertInterval}
}

// State is the current state.
func (f *FSM) State() State { return f.state }

// Priority is the effective priority.
func (f *FSM) Priority() uint8 { return f.prio }

// Held reports whether preemption is held.
func (f *FSM) Held() bool { return f.hold }

// Params are the settings the machine runs with.
func (f *FSM) Params() Params { return f.p }

// MasterAdverInterval is the master's advert interval as learned (v3) or
// configured.
func (f *FSM) MasterAdverInterval() time.Duration { return f.masterAdverInterval }

// Master is the address of the current master (our own while master) and
// its priority; the zero address when unknown.
func (f *FSM) Master() (netip.Addr, uint8) { return f.master, f.masterPrio }

// Deadline is when the next timer fires; zero when none runs.
func (f *FSM) Deadline() time.Time {
	switch f.state {
	case Master:
		return f.adverAt
	case Backup:
		return f.downAt
	}
	return time.Time{}
}

// SkewTime is RFC 9568 §6.1's Skew_Time for the current priority. It is
// computed in nanoseconds, as keepalived does in microseconds, not in the
// RFC's whole centiseconds, which would make it 0 below 40 ms intervals.
func (f *FSM) SkewTime() time.Duration {
	if f.p.Version == 2 {
		return time.Duration(256-int(f.prio)) * time.Second / 256
	}
	return time.Duration(256-int(f.prio)) * f.masterAdverInterval / 256
}

// MasterDownInterval is 3 × Master_Adver_Interval + Skew_Time.
func (f *FSM) MasterDownInterval() time.Duration {
	return 3*f.masterAdverInterval + f.SkewTime()
}

// SetParams replaces the settings in place, keeping the state: a reload
// that changes a priority must not cause a re-election. The new
// priority takes effect like a PriorityChanged from tracking.
func (f *FSM) SetParams(p Params) {
	f.p = p
	if f.state != Backup || p.Version == 2 {
		f.masterAdverInterval = p.AdvertInterval
	}
}

func (f *FSM) owner() bool { return f.p.Priority == 255 }

func (f *FSM) faulty() bool { return f.fault || f.groupFault }

// Handle feeds one event and returns the actions it causes.
func (f *FSM) Handle(now time.Time, ev Event) []Action {
	switch e := ev.(type) {
	case Startup:
		if f.state != Initialize {
			return nil
		}
		return f.start(now, ReasonStartup)
	case Shutdown:
		return f.shutdown()
	case Tick:
		return f.tick(now)
	case AdvertReceived:
		return f.advert(now, e)
	case PriorityChanged:
		return f.priority(now, e.Priority)
	case FaultChanged:
		was := f.faulty()
		f.fault = e.Fault
		return f.faultEdge(now, was)
	case GroupFault:
		was := f.faulty()
		f.groupFault = e.Fault
		return f.faultEdge(now, was)
	case GroupState:
		return f.follow(now, e.To)
	case PreemptHold:
		f.hold = e.Hold
	}
	return nil
}

// start leaves Initialize or Fault (RFC 9568 §6.4.1).
func (f *FSM) start(now time.Time, why Reason) []Action {
	if f.faulty() {
		return f.enter(Fault, ReasonFault)
	}
	if f.owner() {
		return f.becomeMaster(now, ReasonOwner)
	}
	f.preemptAt = now.Add(f.p.PreemptDelay)
	return f.becomeBackup(now, why)
}

func (f *FSM) enter(to State, why Reason) []Action {
	from := f.state
	f.state = to
	if to != Master {
		f.adverAt = time.Time{}
	}
	if to != Backup {
		f.downAt = time.Time{}
	}
	return []Action{Transition{From: from, To: to, Reason: why}}
}

func (f *FSM) becomeMaster(now time.Time, why Reason) []Action {
	acts := f.enter(Master, why)
	f.masterAdverInterval = f.p.AdvertInterval
	f.adverAt = now.Add(f.p.AdvertInterval)
	f.master, f.masterPrio = f.p.Addr, f.prio
	// The advert first, so other backups stand down at once, then the
	// addresses, then the ARP announcement that needs them.
	return append(acts, SendAdvert{f.prio}, AddVIPs{}, Announce{})
}

func (f *FSM) becomeBackup(now time.Time, why Reason) []Action {
	wasMaster := f.state == Master
	acts := f.enter(Backup, why)
	if f.p.Version == 2 || f.masterAdverInterval == 0 {
		f.masterAdverInterval = f.p.AdvertInterval
	}
	f.downAt = now.Add(f.MasterDownInterval())
	if wasMaster {
		acts = append(acts, RemoveVIPs{})
		f.master, f.masterPrio = netip.Addr{}, 0
	}
	return acts
}

func (f *FSM) shutdown() []Action {
	switch f.state {
	case Initialize:
		return nil
	case Master:
		acts := f.enter(Initialize, ReasonShutdown)
		// RFC 9568 §6.4.3: resign with priority 0 so a backup takes
		// over after Skew_Time instead of Master_Down_Interval.
		return append(acts, SendAdvert{0}, RemoveVIPs{})
	}
	return f.enter(Initialize, ReasonShutdown)
}

func (f *FSM) tick(now time.Time) []Action {
	switch f.state {
	case Master:
		if now.Before(f.adverAt) {
			return nil
		}
		f.adverAt = f.adverAt.Add(f.p.AdvertInterval)
		if !f.adverAt.After(now) {
			// We were held up for more than an interval: do not
			// burst to catch up.
			f.adverAt = now.Add(f.p.AdvertInterval)
		}
		return []Action{SendAdvert{f.prio}}
	case Backup:
		if now.Before(f.downAt) {
			return nil
		}
		return f.becomeMaster(now, ReasonMasterDown)
	}
	return nil
}

func (f *FSM) advert(now time.Time, a AdvertReceived) []Action {
	switch f.state {
	case Backup:
		if a.Priority == 0 {
			// The master resigned: wait only Skew_Time.
			f.downAt = now.Add(f.SkewTime())
			f.master, f.masterPrio = netip.Addr{}, 0
			return nil
		}
		preempt := f.p.Preempt && !now.Before(f.preemptAt) && !f.hold
		if !preempt || a.Priority >= f.prio {
			if f.p.Version == 3 {
				f.masterAdverInterval = a.Interval
			}
			f.downAt = now.Add(f.MasterDownInterval())
			f.master, f.masterPrio = a.Src, a.Priority
		}
		// Otherwise discard it: Master_Down_Timer fires and we preempt.
		return nil
	case Master:
		if a.Priority == 0 {
			// §6.4.3: answer at once. Beyond it: the sender was master
			// too until now, so the ARP caches may point at it.
			f.adverAt = now.Add(f.p.AdvertInterval)
			return append([]Action{SendAdvert{f.prio}}, f.heal(now)...)
		}
		if a.Priority > f.prio || (a.Priority == f.prio && addrGreater(a.Src, f.p.Addr)) {
			why := ReasonHigherPrio
			if a.Priority == f.prio {
				why = ReasonHigherAddr
			}
			if f.p.Version == 3 {
				f.masterAdverInterval = a.Interval
			}
			// Beyond RFC 9568: one last advert at our own priority tells
			// the winner that two masters were up (a split brain
			// healing, or a preemption), so it re-announces the VIPs to
			// every ARP cache that followed us. Without it, the winner
			// learns of the split brain only if our advert happened to
			// reach it first.
			acts := []Action{SendAdvert{f.prio}}
			acts = append(acts, f.becomeBackup(now, why)...)
			f.master, f.masterPrio = a.Src, a.Priority
			return acts
		}
		// A lower-priority master: two masters, a split brain healing.
		// Answer at once so it steps down now, and re-announce the VIPs
		// so every ARP cache points at us again (keepalived #166).
		f.adverAt = now.Add(f.p.AdvertInterval)
		return append([]Action{SendAdvert{f.prio}}, f.heal(now)...)
	}
	return nil
}

// heal re-announces the VIPs after another master was seen: at once for a
// new split brain, at most once every healGARPEvery while the same one
// goes on.
func (f *FSM) heal(now time.Time) []Action {
	episode := f.lastLower.IsZero() || now.Sub(f.lastLower) > healEpisodeGap*f.p.AdvertInterval
	f.lastLower = now
	if !episode && !f.lastHeal.IsZero() && now.Sub(f.lastHeal) < healGARPEvery {
		return nil
	}
	f.lastHeal = now
	return []Action{Announce{Heal: true}}
}

func (f *FSM) priority(now time.Time, p uint8) []Action {
	if f.owner() {
		return nil
	}
	p = max(1, min(p, 254))
	if p == f.prio {
		return nil
	}
	f.prio = p
	if f.state == Master {
		f.masterPrio = p
		// Tell the backups now rather than at the next interval.
		f.adverAt = now.Add(f.p.AdvertInterval)
		return []Action{SendAdvert{p}}
	}
	return nil
}

// faultEdge acts on a change of the combined fault condition.
func (f *FSM) faultEdge(now time.Time, was bool) []Action {
	is := f.faulty()
	switch {
	case is == was, f.state == Initialize:
		return nil
	case is && f.state == Master:
		acts := f.enter(Fault, ReasonFault)
		return append(acts, SendAdvert{0}, RemoveVIPs{})
	case is:
		return f.enter(Fault, ReasonFault)
	case f.state == Fault:
		return f.start(now, ReasonFaultCleared)
	}
	return nil
}

// follow moves the instance with its sync group.
func (f *FSM) follow(now time.Time, to State) []Action {
	switch {
	case to == Master && f.state == Backup:
		return f.becomeMaster(now, ReasonSyncGroup)
	case to == Backup && f.state == Master && !f.owner():
		// Resign as on shutdown: the peer's member, moved to master by its
		// own group, hears that we held the VIPs until now and
		// re-announces them (our gratuitous ARP may have been the last
		// one the caches saw), and a backup takes over after Skew_Time.
		return append([]Action{SendAdvert{0}}, f.becomeBackup(now, ReasonSyncGroup)...)
	}
	return nil
}

// addrGreater compares primary addresses as unsigned integers
// (RFC 9568 §6.4.3).
func addrGreater(a, b netip.Addr) bool { return a.Compare(b) > 0 }
