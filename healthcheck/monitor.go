package healthcheck

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Watch subscribes ID (typically "virtual server/real server") to the
// probe that Spec defines. Several watches with one ID are several checks
// of one real: it is up only while all of them are (keepalived's several
// checkers per real_server).
type Watch struct {
	ID   string
	Spec Spec
}

// Event is a change of a probe's state, decided by rise or fall, or of
// the dynamic weight of an up probe.
type Event struct {
	Key         string
	Spec        Spec
	Subscribers []string
	// Flipped are the subscribers whose real this event takes up or down:
	// those whose other checks are all up. It is empty for a change of
	// weight alone, and when another check keeps the real down.
	Flipped []string
	Up      bool
	Result  Result // the result that completed the rise or fall
	At      time.Time
}

// Options configure a Monitor.
type Options struct {
	Logger *slog.Logger
	// Rand spreads first runs over the first interval; seeded randomly
	// when nil.
	Rand *rand.Rand
	// NewChecker builds checkers; New when nil.
	NewChecker func(Spec) (Checker, error)
	// OnResult, if set, sees every probe result (for metrics). It runs
	// on the scheduler's goroutine and must be quick.
	OnResult func(Spec, Result)
}

// Monitor runs probes on their schedules. Update may be called at any
// time, also while Run runs.
type Monitor struct {
	log        *slog.Logger
	newChecker func(Spec) (Checker, error)
	// builtin: newChecker is New, and TCP probes have no Checker (see
	// probe.checker).
	builtin  bool
	onResult func(Spec, Result)
	events   chan Event
	results  chan probeResult
	reaped   chan []connectDone
	jobs     chan job
	wake     chan struct{}

	mu  sync.Mutex
	rnd *rand.Rand
	// epoch is the origin of the probes' grid, with the monotonic
	// clock's reading: a step of the wall clock moves no probe.
	epoch  time.Time
	probes map[string]*probe
	// settings interns the probes' shared settings (see probe.settings).
	settings map[Spec]*Spec
	subs     map[string][]string // watch ID → its probes' keys, in declaration order
	queue    timeHeap[*probe]    // by next run, from epoch
	// conn runs TCP checks (connector_linux.go); it starts with the
	// first one, and connFailed says it could not.
	conn       *connector
	connFailed bool
	done       []connectDone // launchDue's, reused (only Run's goroutine uses it)
}

// probe is one check's state. There is one per distinct Spec, so at
// 10,000 reals its size is megabytes: the fields are ordered to pack.
type probe struct {
	key string
	// settings is the part of the probe's Spec that every real of its
	// health_check block has alike (Target, Real and Mark zero), one
	// copy shared by all the probes that have it; target, real and
	// mark are the probe's own. spec() puts them together: a whole
	// Spec each was 1 MB more at 10,000 reals.
	settings     *Spec
	target, real netip.AddrPort
	// checker runs the probe; nil for a built-in TCP check, which the
	// connector runs from spec alone (at 10,000 reals a Checker each
	// was 1 MB of heap).
	checker Checker
	subs    []string

	last      Result
	lastCheck time.Time
	since     time.Time
	checks    uint64

	// next is the next run, in ns from the monitor's epoch (as the
	// queue orders it); due is when the running probe was due: the
	// next one is due an interval later, even if this one started late.
	next, due int64
	// weighted and weight are the dynamic weight of an up probe; see
	// reweigh.
	weight   int
	health   health
	mark     uint32
	weighted bool
	running  bool
	// removed by Update: dropped when it next leaves the queue or
	// finishes its run.
	removed bool
}

type job struct {
	p     *probe
	start time.Time
}

type probeResult struct {
	p   *probe
	res Result
}

// NewMonitor returns a monitor with no probes.
func NewMonitor(opts Options) *Monitor {
	m := &Monitor{
		log:        opts.Logger,
		newChecker: opts.NewChecker,
		builtin:    opts.NewChecker == nil,
		onResult:   opts.OnResult,
		rnd:        opts.Rand,
		events:     make(chan Event, 256),
		results:    make(chan probeResult, 1024),
		reaped:     make(chan []connectDone, 16),
		jobs:       make(chan job),
		wake:       make(chan struct{}, 1),
		epoch:      time.Now(),
		probes:     map[string]*probe{},
		subs:       map[string][]string{},
		settings:   map[Spec]*Spec{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.newChecker == nil {
		m.newChecker = New
	}
	if m.rnd == nil {
		m.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return m
}

// Len is the number of probes: identical checks count once.
func (m *Monitor) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.probes)
}

// Watches is the monitored set, as Update was last given it (each
// watch's checks in their order; identical checks of one watch once). A
// caller that must be able to go back to it takes it before an Update,
// rather than keep the slice it passed: at 10,000 reals that is 2 MB
// held for the rare undo.
func (m *Monitor) Watches() []Watch {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, keys := range m.subs {
		n += len(keys)
	}
	out := make([]Watch, 0, n)
	for _, id := range slices.Sorted(maps.Keys(m.subs)) {
		for _, p := range m.probesOf(id) {
			out = append(out, Watch{ID: id, Spec: p.spec()})
		}
	}
	return out
}

// Events delivers state changes. The reader must keep up: a full channel
// holds the scheduler back.
func (m *Monitor) Events() <-chan Event { return m.events }

// Update makes the monitored set equal to watches. Probes that stay keep
// their state and schedule; new ones start at a random point of their
// first interval, up or down as the probes their watchers had (a check
// whose parameters changed keeps its real's state); probes nobody watches
// any more stop. If a checker cannot
// be built, nothing changes and the error says which.
func (m *Monitor) Update(watches []Watch) error {
	type want struct {
		spec Spec
		subs []string
	}
	wanted := map[string]*want{}
	subs := map[string][]string{}
	for _, w := range watches {
		k := w.Spec.Key()
		if slices.Contains(subs[w.ID], k) {
			continue // the same check twice on one real is one check
		}
		if wanted[k] == nil {
			wanted[k] = &want{spec: w.Spec}
		}
		wanted[k].subs = append(wanted[k].subs, w.ID)
		subs[w.ID] = append(subs[w.ID], k)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fresh := map[string]Checker{}
	for k, w := range wanted {
		if m.probes[k] != nil {
			continue
		}
		if m.builtin && w.spec.Type == TypeTCP {
			fresh[k] = nil // the connector's: see probe.checker
			continue
		}
		c, err := m.newChecker(w.spec)
		if err != nil {
			return fmt.Errorf("%s: %w", w.spec.Name(), err)
		}
		fresh[k] = c
	}
	heirs := m.heirs(fresh, subs)
	now := time.Now()
	for k, p := range m.probes {
		if wanted[k] == nil {
			p.removed = true
			delete(m.probes, k)
		}
	}
	settings := map[Spec]*Spec{}
	for k, w := range wanted {
		p := m.probes[k]
		if p == nil {
			p = &probe{key: k, settings: m.intern(settings, w.spec), target: w.spec.Target, real: w.spec.Real, mark: w.spec.Mark,
				checker: fresh[k], since: now, health: newHealth(w.spec.InitialUp, w.spec.Rise, w.spec.Fall)}
			p.inherit(heirs[k])
			// Warm-up jitter: start somewhere in the first interval.
			p.next = m.firstRun(now, w.spec.Interval)
			p.due = p.next
			m.probes[k] = p
			m.enqueue(p)
		}
		slices.Sort(w.subs)
		p.subs = w.subs
		settings[*p.settings] = p.settings
	}
	m.subs, m.settings = subs, settings
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

// intern returns the shared copy of s's settings (see probe.settings):
// next's, or the one the monitor had, or a new one, put in next. The
// caller holds m.mu.
func (m *Monitor) intern(next map[Spec]*Spec, s Spec) *Spec {
	s.Target, s.Real, s.Mark = netip.AddrPort{}, netip.AddrPort{}, 0
	if p := next[s]; p != nil {
		return p
	}
	p := m.settings[s]
	if p == nil {
		p = &s
	}
	next[s] = p
	return p
}

// spec is the probe's Spec.
func (p *probe) spec() Spec {
	s := *p.settings
	s.Target, s.Real, s.Mark = p.target, p.real, p.mark
	return s
}

// origin is where the probe's sockets come from.
func (p *probe) origin() origin {
	return origin{bind: p.settings.Bind, mark: p.mark, real: p.real.Addr()}
}

// heirs finds, for each new probe, the probes it replaces: a probe whose
// parameters changed (interval, path...) is a new probe; it takes over
// the state of the probes its watchers had in the same place among their
// checks, or a dead real would come back at full weight until fall
// failures later. The caller holds m.mu.
func (m *Monitor) heirs(fresh map[string]Checker, subs map[string][]string) map[string][]*probe {
	heirs := map[string][]*probe{}
	// In watch ID order, so the first heir (whose counters are kept) is
	// the same every time.
	for _, id := range slices.Sorted(maps.Keys(subs)) {
		keys, olds := subs[id], m.subs[id]
		for i, k := range keys {
			if _, isNew := fresh[k]; !isNew || i >= len(olds) {
				continue
			}
			if old := m.probes[olds[i]]; old != nil && !slices.Contains(heirs[k], old) {
				heirs[k] = append(heirs[k], old)
			}
		}
	}
	return heirs
}

// inherit takes the state of the probes p replaces: down if any of them
// was down, up if all were up; counters and the last result of the
// first. The rise and fall counts start again under p's own settings.
func (p *probe) inherit(olds []*probe) {
	if len(olds) == 0 {
		return
	}
	up := true
	for _, o := range olds {
		up = up && o.health.up
	}
	p.health = newHealth(up, p.settings.Rise, p.settings.Fall)
	if up && p.settings.dynamic() {
		p.weighted, p.weight = olds[0].weighted, olds[0].weight
	}
	first := olds[0]
	p.since, p.last, p.lastCheck, p.checks = first.since, first.last, first.lastCheck, first.checks
	if !up {
		for _, o := range olds {
			if !o.health.up {
				p.since, p.last = o.since, o.last
				break
			}
		}
	}
}

// Run schedules probes until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer func() {
		// The connector ends with ctx; another Run starts another.
		m.mu.Lock()
		m.conn, m.connFailed = nil, false
		m.mu.Unlock()
	}()
	for {
		m.mu.Lock()
		wait := time.Hour
		if m.queue.Len() > 0 {
			_, p := m.queue.peek()
			wait = max(0, time.Until(m.epoch.Add(time.Duration(p.next))))
		}
		m.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-timer.C:
			m.launchDue(ctx)
		case r := <-m.results:
			m.record(ctx, r, time.Now())
		case batch := <-m.reaped:
			m.recordConnects(ctx, batch, time.Now())
		}
	}
}

func (m *Monitor) record(ctx context.Context, r probeResult, now time.Time) {
	m.mu.Lock()
	p := r.p
	p.running = false
	if p.removed {
		m.mu.Unlock()
		return
	}
	p.last, p.lastCheck = r.res, now
	p.checks++
	if m.onResult != nil {
		m.onResult(p.spec(), r.res)
	}
	var ev *Event
	changed := p.health.apply(r.res.Up)
	if changed {
		p.since = now
	}
	if p.reweigh(r.res) || changed {
		ev = &Event{Key: p.key, Spec: p.spec(), Subscribers: slices.Clone(p.subs), Up: p.health.up, Result: r.res, At: now}
		if changed {
			ev.Flipped = m.flipped(p)
		}
	}
	m.reschedule(p, now)
	m.enqueue(p)
	m.mu.Unlock()
	if ev != nil {
		state := "down"
		if ev.Up {
			state = "up"
		}
		if !changed {
			state = "weight changed"
		}
		m.log.Info("real server "+state, "check", ev.Spec.Name(), "reason", r.res.Reason, "watchers", ev.Subscribers)
		select {
		case m.events <- *ev:
		case <-ctx.Done():
		}
	}
}

// flipped lists the subscribers of p whose other probes are all up: p's
// change of state is their real's. The caller holds m.mu.
func (m *Monitor) flipped(p *probe) []string {
	var out []string
	for _, id := range p.subs {
		others := true
		for _, o := range m.probesOf(id) {
			others = others && (o == p || o.health.up)
		}
		if others {
			out = append(out, id)
		}
	}
	return out
}

// reweigh keeps an up probe's dynamic weight: the last success's (none
// after an exit 0, which means the configured weight), kept through
// failures until fall takes the probe down, and none while down. It
// reports whether the weight of an up probe changed: the table must
// follow although the state did not.
func (p *probe) reweigh(res Result) bool {
	if !p.health.up {
		p.weighted, p.weight = false, 0
		return false
	}
	if !res.Up || (p.weighted == res.Dynamic && p.weight == res.Weight) {
		return false
	}
	p.weighted, p.weight = res.Dynamic, res.Weight
	return true
}

// Weight reports the dynamic weight watch ID asks for: ok is false unless
// all its probes are up and one of them asked for a weight. With several
// dynamic checks the lowest weight wins.
func (m *Monitor) Weight(id string) (weight int, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.probesOf(id)
	for _, p := range ps {
		if !p.health.up {
			return 0, false
		}
		if p.weighted && (!ok || p.weight < weight) {
			weight, ok = p.weight, true
		}
	}
	return weight, ok
}

// Up reports whether all the probes watch ID subscribes to are up.
func (m *Monitor) Up(id string) (up, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.probesOf(id)
	if len(ps) == 0 {
		return false, false
	}
	for _, p := range ps {
		if !p.health.up {
			return false, true
		}
	}
	return true, true
}

// Checked reports whether every probe of watch id has finished at least
// one check (true for a watch with none): until then its health is only
// the initial state.
func (m *Monitor) Checked(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.probesOf(id) {
		if p.checks == 0 {
			return false
		}
	}
	return true
}

// probesOf lists the probes watch ID subscribes to, in declaration order.
// The caller holds m.mu.
func (m *Monitor) probesOf(id string) []*probe {
	var out []*probe
	for _, k := range m.subs[id] {
		if p := m.probes[k]; p != nil {
			out = append(out, p)
		}
	}
	return out
}
