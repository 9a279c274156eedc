package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	"github.com/cloudflare/ipvs"
)

// Options configure a Reconciler.
type Options struct {
	Logger *slog.Logger
	// Health answers for each real; every real is up when nil.
	Health HealthFunc
	// Weight, if set, may replace an up real's configured weight.
	Weight WeightFunc
	// RetryAfter is the first delay before a failed write is retried;
	// it doubles up to a minute. One second when zero.
	RetryAfter time.Duration
	// OnStates, if set, gets the services' states (alive weight,
	// quorum) after every pass, on the reconciler's goroutine.
	OnStates func([]ServiceState)
	// OnWrite, if set, gets every write the reconciler made, with why
	// it made it and the kernel's error (nil when it succeeded), on the
	// reconciler's goroutine: it must not block.
	OnWrite func(op Op, why string, err error)
}

// Stats counts what the reconciler did.
type Stats struct {
	Passes       uint64    `json:"passes"`
	Writes       uint64    `json:"writes"`
	WriteErrors  uint64    `json:"write_errors"`
	DriftChecks  uint64    `json:"drift_checks"`
	DriftRepairs uint64    `json:"drift_repairs"`
	LastError    string    `json:"last_error,omitempty"`
	LastDrift    time.Time `json:"last_drift_check"`
	LastDriftDur string    `json:"last_drift_check_duration,omitempty"`
}

// Reconciler keeps the kernel's table equal to the declared services.
// One goroutine, Run's, owns its state; the other methods talk to it.
type Reconciler struct {
	k        Kernel
	log      *slog.Logger
	health   HealthFunc
	weight   WeightFunc
	retry0   time.Duration
	onStates func([]ServiceState)
	onWrite  func(Op, string, error)

	poke  chan struct{}
	calls chan func()
	done  chan struct{}

	// ownedPub is owned as the last pass left it, for Table on other
	// goroutines. A pass makes a new owned map and never changes one it
	// has published, so readers take it without a copy.
	ownedPub atomic.Pointer[map[ServiceKey]bool]

	// Owned by the loop.
	spec     Spec
	owned    map[ServiceKey]bool
	believed Table // the kernel's table as our writes left it; nil: read it
	lost     QuorumLost
	states   []ServiceState
	stats    Stats
	retryIn  time.Duration
	retryAt  time.Time
	driftAt  time.Time
}

// New returns a reconciler over k.
func New(k Kernel, opts Options) *Reconciler {
	r := &Reconciler{
		k:        k,
		log:      opts.Logger,
		health:   opts.Health,
		weight:   opts.Weight,
		retry0:   opts.RetryAfter,
		onStates: opts.OnStates,
		onWrite:  opts.OnWrite,
		poke:     make(chan struct{}, 1),
		calls:    make(chan func()),
		done:     make(chan struct{}),
		owned:    map[ServiceKey]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.health == nil {
		r.health = func(string) bool { return true }
	}
	if r.retry0 <= 0 {
		r.retry0 = time.Second
	}
	return r
}

// Start adopts the kernel's table for cfg: it reads the table, applies the
// ipvs timeouts, and writes only what differs, so a restarted daemon whose
// table is already right writes nothing and flushes nothing. It must be
// called before Run. A failed write is not an error here: Run retries it.
func (r *Reconciler) Start(spec Spec) error {
	r.spec = spec
	t, err := r.k.Read()
	if err != nil {
		return err
	}
	r.believed = t
	r.applyTimeouts()
	r.pass("start")
	r.driftAt = time.Now().Add(spec.DriftCheck)
	return nil
}

// Run serves events until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := r.driftAt
		if !r.retryAt.IsZero() && r.retryAt.Before(next) {
			next = r.retryAt
		}
		timer.Reset(max(0, time.Until(next)))
		select {
		case <-ctx.Done():
			return
		case <-r.poke:
			r.pass("health")
		case fn := <-r.calls:
			fn()
		case now := <-timer.C:
			if !r.retryAt.IsZero() && !now.Before(r.retryAt) {
				r.retryAt = time.Time{}
				r.believed = nil
				r.pass("retry")
			}
			if !now.Before(r.driftAt) {
				r.driftCheck()
			}
		}
	}
}

// HealthChanged asks for a pass with the current health. It never blocks.
func (r *Reconciler) HealthChanged() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

func (r *Reconciler) call(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case r.calls <- func() { fn(); close(done) }:
	case <-r.done:
		return errors.New("lvs: reconciler stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// Reload switches to spec. Services that spec no longer declares are
// deleted; everything else is updated in place where the kernel allows.
func (r *Reconciler) Reload(ctx context.Context, spec Spec) error {
	return r.call(ctx, func() {
		r.spec = spec
		r.applyTimeouts()
		r.pass("reload")
	})
}

// SetProbes replaces the probe services and makes the kernel match at
// once: a reload puts in the probes of new checks through the VIP before
// those checks start.
func (r *Reconciler) SetProbes(ctx context.Context, probes []Probe) error {
	return r.call(ctx, func() {
		r.spec.Probes = probes
		r.pass("probes")
	})
}

// Stats returns the counters.
func (r *Reconciler) Stats(ctx context.Context) (Stats, []ServiceState, error) {
	var s Stats
	var st []ServiceState
	err := r.call(ctx, func() { s, st = r.stats, append([]ServiceState(nil), r.states...) })
	return s, st, err
}

// ClearOwned deletes every service the reconciler owns (clear_on_stop).
// It waits for Run to return (its ctx must be done): Run's last pass
// may still be writing, and the two must not share the kernel
// connection at once.
func (r *Reconciler) ClearOwned() error {
	<-r.done
	t, err := r.k.Read()
	if err != nil {
		return err
	}
	var ops []Op
	for _, k := range t.Keys() {
		if r.owned[k] {
			ops = append(ops, Op{Kind: DeleteService, Service: t[k].Service})
		}
	}
	return errors.Join(r.k.Write(ops)...)
}

// pass makes the kernel match the desired table.
func (r *Reconciler) pass(why string) {
	defer r.publishOwned()
	r.stats.Passes++
	if r.believed == nil {
		t, err := r.k.Read()
		if err != nil {
			r.fail(fmt.Errorf("read the IPVS table: %w", err))
			return
		}
		r.believed = t
	}
	desired, lost, states := DesiredWeighted(r.spec.Services, r.health, r.weight, r.lost)
	AddProbes(desired, r.spec.Probes)
	r.lost, r.states = lost, states
	if r.onStates != nil {
		r.onStates(states)
	}
	owned := maps.Clone(r.owned)
	for k := range desired {
		owned[k] = true
	}
	if r.spec.Owns != nil {
		for k := range r.believed {
			if r.spec.Owns(k) {
				owned[k] = true
			}
		}
	}
	ops := Diff(desired, r.believed, owned)
	if len(ops) == 0 {
		r.owned = keysOf(desired)
		return
	}
	errs := r.k.Write(ops)
	r.stats.Writes += uint64(len(ops))
	var applied []Op
	var failed []error
	for i, op := range ops {
		if r.onWrite != nil {
			r.onWrite(op, why, errs[i])
		}
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		applied = append(applied, op)
		lvl := slog.LevelInfo
		if why == "drift" {
			lvl = slog.LevelWarn
		}
		r.log.Log(context.Background(), lvl, "ipvs "+op.Kind.String(), "service", op.Service.ServiceKey.String(),
			"dest", destString(op), "weight", op.Dest.Weight, "why", why)
	}
	// In place: believed is the loop's alone, and a copy of the whole
	// table for one write costs more than the write.
	r.believed.ApplyInPlace(applied)
	// A removed service stays owned until its delete succeeds.
	r.owned = keysOf(desired)
	for k := range owned {
		if !r.owned[k] && r.believed[k] != nil {
			r.owned[k] = true
		}
	}
	if len(failed) > 0 {
		r.stats.WriteErrors += uint64(len(failed))
		r.believed = nil
		r.fail(errors.Join(failed...))
		return
	}
	r.retryIn, r.retryAt = 0, time.Time{}
}

func destString(op Op) string {
	if op.Kind < CreateDest || op.Kind > DeleteDest {
		return ""
	}
	return op.Dest.DestKey.String()
}

// fail records an error and schedules a retry with backoff; the daemon
// keeps running.
func (r *Reconciler) fail(err error) {
	r.stats.LastError = err.Error()
	if r.retryIn == 0 {
		r.retryIn = r.retry0
	} else {
		r.retryIn = min(2*r.retryIn, time.Minute)
	}
	r.retryAt = time.Now().Add(r.retryIn)
	r.log.Error("IPVS update failed; will retry", "err", err, "retry_in", r.retryIn)
}

// driftCheck reads the table back and repairs what someone changed by
// hand (ipvsadm -e, -d).
func (r *Reconciler) driftCheck() {
	start := time.Now()
	r.driftAt = start.Add(r.spec.DriftCheck)
	r.stats.DriftChecks++
	before := r.stats.Writes
	r.believed = nil
	r.pass("drift")
	r.stats.DriftRepairs += r.stats.Writes - before
	r.stats.LastDrift, r.stats.LastDriftDur = start, time.Since(start).String()
}

// applyTimeouts sets the configured IPVS timeouts, writing only when the
// kernel's differ.
func (r *Reconciler) applyTimeouts() {
	c := r.spec.Timeouts
	if c.TCP == 0 && c.TCPFin == 0 && c.UDP == 0 {
		return
	}
	cur, err := r.k.Config()
	if err != nil {
		r.fail(fmt.Errorf("read IPVS timeouts: %w", err))
		return
	}
	want := cur
	set := func(dst *uint32, d time.Duration) {
		if d > 0 {
			*dst = uint32(d / time.Second)
		}
	}
	set(&want.TCPTimeout, c.TCP)
	set(&want.TCPFinTimeout, c.TCPFin)
	set(&want.UDPTimeout, c.UDP)
	if want == cur {
		return
	}
	r.stats.Writes++
	if err := r.k.SetConfig(ipvs.Config{TCPTimeout: want.TCPTimeout, TCPFinTimeout: want.TCPFinTimeout, UDPTimeout: want.UDPTimeout}); err != nil {
		r.stats.WriteErrors++
		r.fail(fmt.Errorf("set IPVS timeouts: %w", err))
		return
	}
	r.log.Info("ipvs timeouts set", "tcp", want.TCPTimeout, "tcpfin", want.TCPFinTimeout, "udp", want.UDPTimeout)
}

// publishOwned hands the owned set to Table: a pointer, no copy (see
// ownedPub).
func (r *Reconciler) publishOwned() {
	m := r.owned
	r.ownedPub.Store(&m)
}

func keysOf(t Table) map[ServiceKey]bool {
	m := make(map[ServiceKey]bool, len(t))
	for k := range t {
		m[k] = true
	}
	return m
}
