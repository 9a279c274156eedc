package vrrp

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self  = netip.MustParseAddr("10.0.0.2")
	lower = netip.MustParseAddr("10.0.0.1")
	upper = netip.MustParseAddr("10.0.0.3")
)

func params(mod ...func(*Params)) Params {
	p := Params{Version: 3, Priority: 100, AdvertInterval: time.Second, Preempt: true, Addr: self}
	for _, m := range mod {
		m(&p)
	}
	return p
}

// step is one event at an offset from t0, and what must come out.
type step struct {
	at    time.Duration
	ev    Event
	acts  []Action
	state State
	// deadline, when not zero, is the expected Deadline() offset.
	deadline time.Duration
}

func adv(src netip.Addr, prio uint8, iv time.Duration) AdvertReceived {
	return AdvertReceived{Src: src, Priority: prio, Interval: iv}
}

func tr(from, to State, why Reason) Transition { return Transition{From: from, To: to, Reason: why} }

// Master_Down_Interval at priority 100 and 1 s: 3 s + 156/256 s.
const mdi100 = 3*time.Second + 609375*time.Microsecond

func run(t *testing.T, p Params, steps []step) {
	t.Helper()
	f := NewFSM(p)
	for i, s := range steps {
		got := f.Handle(t0.Add(s.at), s.ev)
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, s.acts) {
			t.Fatalf("step %d (%T at %s): actions\n got %v\nwant %v", i, s.ev, s.at, got, s.acts)
		}
		if f.State() != s.state {
			t.Fatalf("step %d (%T at %s): state %s, want %s", i, s.ev, s.at, f.State(), s.state)
		}
		if s.deadline != 0 {
			if d := f.Deadline().Sub(t0); d != s.deadline {
				t.Fatalf("step %d: deadline at %s, want %s", i, d, s.deadline)
			}
		}
	}
}

func TestFSM(t *testing.T) {
	becomeMaster := func(prio uint8) []Action { return []Action{SendAdvert{prio}, AddVIPs{}, Announce{}} }
	with := func(a Action, rest ...Action) []Action { return append([]Action{a}, rest...) }
	tests := []struct {
		name   string
		params Params
		steps  []step
	}{
		{"startup goes backup with Master_Down_Interval (§6.4.1)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, mdi100},
		}},
		{"owner becomes master at once (§6.4.1)", params(func(p *Params) { p.Priority = 255 }), []step{
			{0, Startup{}, with(tr(Initialize, Master, ReasonOwner), becomeMaster(255)...), Master, time.Second},
		}},
		{"Master_Down_Timer fires: master (§6.4.2)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{mdi100 - time.Nanosecond, Tick{}, nil, Backup, 0},
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, mdi100 + time.Second},
		}},
		{"backup resets the timer on an equal or higher advert (§6.4.2)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, adv(upper, 100, time.Second), nil, Backup, time.Second + mdi100},
			{2 * time.Second, adv(upper, 200, time.Second), nil, Backup, 2*time.Second + mdi100},
			{mdi100 + time.Millisecond, Tick{}, nil, Backup, 0},
		}},
		{"backup with preempt discards a lower advert and takes over (§6.4.2)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, adv(upper, 50, time.Second), nil, Backup, mdi100},
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
		}},
		{"nopreempt: a lower advert still resets the timer", params(func(p *Params) { p.Preempt = false }), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, adv(upper, 50, time.Second), nil, Backup, time.Second + mdi100},
			{mdi100, Tick{}, nil, Backup, 0},
		}},
		{"preempt_delay: lower adverts reset the timer until the delay is over", params(func(p *Params) { p.PreemptDelay = 10 * time.Second }), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{9 * time.Second, adv(upper, 50, time.Second), nil, Backup, 9*time.Second + mdi100},
			{10 * time.Second, adv(upper, 50, time.Second), nil, Backup, 9*time.Second + mdi100},
			{9*time.Second + mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
		}},
		{"held preemption: lower adverts reset the timer until released", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{0, PreemptHold{true}, nil, Backup, 0},
			{time.Second, adv(upper, 50, time.Second), nil, Backup, time.Second + mdi100},
			{2 * time.Second, PreemptHold{false}, nil, Backup, 0},
			{3 * time.Second, adv(upper, 50, time.Second), nil, Backup, time.Second + mdi100},
			{time.Second + mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
		}},
		{"held preemption never holds a takeover from a dead master", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{0, PreemptHold{true}, nil, Backup, 0},
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
		}},
		{"backup receiving priority 0 waits only Skew_Time (§6.4.2)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, adv(upper, 200, time.Second), nil, Backup, 0},
			{2 * time.Second, adv(upper, 0, time.Second), nil, Backup, 2*time.Second + 609375*time.Microsecond},
		}},
		{"v3 backup adopts the master's advert interval (§6.4.2)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			// 3 × 100 ms + 156/256 × 100 ms
			{time.Second, adv(upper, 200, 100*time.Millisecond), nil, Backup, time.Second + 300*time.Millisecond + 60937500},
		}},
		{"v2 keeps its own interval", params(func(p *Params) { p.Version = 2 }), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, adv(upper, 200, 2*time.Second), nil, Backup, time.Second + mdi100},
		}},
		{"master sends adverts on its timer (§6.4.3)", params(func(p *Params) { p.Priority = 255 }), []step{
			{0, Startup{}, with(tr(Initialize, Master, ReasonOwner), becomeMaster(255)...), Master, time.Second},
			{time.Second, Tick{}, []Action{SendAdvert{255}}, Master, 2 * time.Second},
			{2*time.Second + 10*time.Millisecond, Tick{}, []Action{SendAdvert{255}}, Master, 3 * time.Second},
			// Held up for several intervals: one advert, no burst.
			{7*time.Second + 500*time.Millisecond, Tick{}, []Action{SendAdvert{255}}, Master, 8*time.Second + 500*time.Millisecond},
		}},
		{"master receiving a higher priority becomes backup (§6.4.3)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
			{4 * time.Second, adv(lower, 101, time.Second), []Action{SendAdvert{100}, tr(Master, Backup, ReasonHigherPrio), RemoveVIPs{}}, Backup, 4*time.Second + mdi100},
		}},
		{"master receiving equal priority from a higher address becomes backup (§6.4.3)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
			{4 * time.Second, adv(upper, 100, time.Second), []Action{SendAdvert{100}, tr(Master, Backup, ReasonHigherAddr), RemoveVIPs{}}, Backup, 0},
		}},
		{"master receiving a lower priority answers at once and re-announces", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
			{4 * time.Second, adv(upper, 90, time.Second), []Action{SendAdvert{100}, Announce{Heal: true}}, Master, 5 * time.Second},
			// Equal priority from a lower address is "lower" too; the
			// GARP is rate limited to one a second.
			{4*time.Second + 500*time.Millisecond, adv(lower, 100, time.Second), []Action{SendAdvert{100}}, Master, 5*time.Second + 500*time.Millisecond},
			{5*time.Second + 500*time.Millisecond, adv(lower, 100, time.Second), []Action{SendAdvert{100}, Announce{Heal: true}}, Master, 0},
		}},
		// The limit is for one peer that keeps advertising (it cannot
		// hear us). A new split brain, after the other master has been
		// silent for a few intervals, is announced at once even within
		// the second: its gratuitous ARP has turned the caches since.
		{"a new split brain within a second of the last heal re-announces", params(func(p *Params) { p.AdvertInterval = 100 * time.Millisecond }), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
			{2 * time.Second, adv(upper, 90, 100*time.Millisecond), []Action{SendAdvert{100}, Announce{Heal: true}}, Master, 0},
			{2*time.Second + 100*time.Millisecond, adv(upper, 90, 100*time.Millisecond), []Action{SendAdvert{100}}, Master, 0},
			{2*time.Second + 700*time.Millisecond, adv(upper, 90, 100*time.Millisecond), []Action{SendAdvert{100}, Announce{Heal: true}}, Master, 0},
		}},
		// Beyond RFC 9568: the router that resigned was master too (a
		// split brain, or a sync group member stepping down), so the ARP
		// caches may point at it: re-announce.
		{"master receiving priority 0 answers with an advert (§6.4.3) and re-announces", params(func(p *Params) { p.Priority = 255 }), []step{
			{0, Startup{}, with(tr(Initialize, Master, ReasonOwner), becomeMaster(255)...), Master, 0},
			{500 * time.Millisecond, adv(upper, 0, time.Second), []Action{SendAdvert{255}, Announce{Heal: true}}, Master, 1500 * time.Millisecond},
		}},
		{"master shutdown resigns with priority 0 (§6.4.3)", params(func(p *Params) { p.Priority = 255 }), []step{
			{0, Startup{}, with(tr(Initialize, Master, ReasonOwner), becomeMaster(255)...), Master, 0},
			{time.Second, Shutdown{}, []Action{tr(Master, Initialize, ReasonShutdown), SendAdvert{0}, RemoveVIPs{}}, Initialize, 0},
			{2 * time.Second, Tick{}, nil, Initialize, 0},
		}},
		{"backup shutdown (§6.4.2)", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, Shutdown{}, []Action{tr(Backup, Initialize, ReasonShutdown)}, Initialize, 0},
			{mdi100, Tick{}, nil, Initialize, 0},
		}},
		{"fault: a master resigns, recovery goes backup", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(100)...), Master, 0},
			{5 * time.Second, FaultChanged{true}, []Action{tr(Master, Fault, ReasonFault), SendAdvert{0}, RemoveVIPs{}}, Fault, 0},
			{6 * time.Second, adv(upper, 50, time.Second), nil, Fault, 0},
			{20 * time.Second, Tick{}, nil, Fault, 0},
			{21 * time.Second, FaultChanged{false}, []Action{tr(Fault, Backup, ReasonFaultCleared)}, Backup, 21*time.Second + mdi100},
		}},
		{"fault at startup, owner recovers to master", params(func(p *Params) { p.Priority = 255 }), []step{
			{0, FaultChanged{true}, nil, Initialize, 0},
			{0, Startup{}, []Action{tr(Initialize, Fault, ReasonFault)}, Fault, 0},
			{time.Second, FaultChanged{false}, with(tr(Fault, Master, ReasonOwner), becomeMaster(255)...), Master, 0},
		}},
		{"tracking changes the priority; a master tells at once", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, PriorityChanged{300 - 250}, nil, Backup, 0},
			// A running timer keeps its deadline; the new skew applies
			// from the next reset.
			{mdi100, Tick{}, with(tr(Backup, Master, ReasonMasterDown), becomeMaster(50)...), Master, 0},
			{6 * time.Second, PriorityChanged{0}, []Action{SendAdvert{1}}, Master, 7 * time.Second}, // clamped to 1
			{6 * time.Second, PriorityChanged{1}, nil, Master, 0},
		}},
		{"sync group: follow to master and back, group fault holds", params(), []step{
			{0, Startup{}, []Action{tr(Initialize, Backup, ReasonStartup)}, Backup, 0},
			{time.Second, GroupState{Master}, with(tr(Backup, Master, ReasonSyncGroup), becomeMaster(100)...), Master, 0},
			// A member that leaves Master for its group resigns with
			// priority 0: the peer's member is master already (its group
			// moved it) and must re-announce, since this one may have sent
			// gratuitous ARP up to now.
			{2 * time.Second, GroupState{Backup}, []Action{SendAdvert{0}, tr(Master, Backup, ReasonSyncGroup), RemoveVIPs{}}, Backup, 0},
			{3 * time.Second, GroupFault{true}, []Action{tr(Backup, Fault, ReasonFault)}, Fault, 0},
			{3 * time.Second, GroupState{Master}, nil, Fault, 0},
			{4 * time.Second, FaultChanged{true}, nil, Fault, 0},
			{5 * time.Second, GroupFault{false}, nil, Fault, 0},
			{6 * time.Second, FaultChanged{false}, []Action{tr(Fault, Backup, ReasonFaultCleared)}, Backup, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, tt.params, tt.steps) })
	}
}

func TestSkewAndMasterDown(t *testing.T) {
	tests := []struct {
		version  int
		prio     uint8
		interval time.Duration
		skew     time.Duration
	}{
		{3, 100, time.Second, 609375 * time.Microsecond},
		{3, 100, 10 * time.Millisecond, 6093750},
		{3, 200, 10 * time.Millisecond, 2187500},
		{3, 254, 100 * time.Millisecond, 781250},
		{2, 100, 3 * time.Second, 609375 * time.Microsecond}, // v2 skew is in seconds whatever the interval
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("v%d/%d/%s", tt.version, tt.prio, tt.interval), func(t *testing.T) {
			f := NewFSM(Params{Version: tt.version, Priority: tt.prio, AdvertInterval: tt.interval})
			if got := f.SkewTime(); got != tt.skew {
				t.Errorf("Skew_Time = %s, want %s", got, tt.skew)
			}
			if got := f.MasterDownInterval(); got != 3*tt.interval+tt.skew {
				t.Errorf("Master_Down_Interval = %s", got)
			}
		})
	}
}

func TestFSMIgnoresEventsBeforeStartup(t *testing.T) {
	f := NewFSM(params())
	for _, ev := range []Event{Tick{}, adv(upper, 200, time.Second), GroupState{Master}, Shutdown{}} {
		if acts := f.Handle(t0, ev); len(acts) != 0 || f.State() != Initialize {
			t.Errorf("%T before Startup gave %v, state %s", ev, acts, f.State())
		}
	}
}
