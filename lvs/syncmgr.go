package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SyncSpec is what the configuration asks of connection synchronisation:
// the sync daemons and the net.ipv4.vs settings that decide what happens
// to connections across a failover.
type SyncSpec struct {
	// Daemon is the settings of both roles (its State is ignored); nil
	// runs no sync daemon.
	Daemon *SyncDaemon
	// Follow runs only the daemon of the director's VRRP role, switched
	// on every transition (keepalived's lvs_sync_daemon with an
	// instance); false runs both daemons all the time.
	Follow bool
	// Sysctls maps a net.ipv4.vs name to the value to keep there.
	Sysctls map[string]string
	// Recheck is how often Run reads the kernel back and repairs it
	// (a daemon stopped by hand); a minute when zero.
	Recheck time.Duration
}

// Wanted is the set of daemons the spec calls for when this director is
// (master) or is not the VRRP master.
func (s SyncSpec) Wanted(master bool) []SyncDaemon {
	if s.Daemon == nil {
		return nil
	}
	var out []SyncDaemon
	for _, st := range []SyncState{SyncMaster, SyncBackup} {
		if s.Follow && (st == SyncMaster) != master {
			continue
		}
		d := *s.Daemon
		d.State = st
		out = append(out, d)
	}
	return out
}

// SyncStatus is the sync state for the status view and metrics.
type SyncStatus struct {
	Mode string `json:"mode"` // "off", "both", "follow"
	// Role is the VRRP role followed: "master" or "backup".
	Role      string            `json:"role,omitempty"`
	Wanted    []SyncDaemon      `json:"wanted"`
	Running   []SyncDaemon      `json:"running"`
	Sysctls   map[string]string `json:"sysctls,omitempty"` // as the kernel has them now
	Starts    uint64            `json:"daemon_starts"`
	Stops     uint64            `json:"daemon_stops"`
	Errors    uint64            `json:"errors"`
	LastError string            `json:"last_error,omitempty"`
}

// SyncManager keeps the kernel's sync daemons and net.ipv4.vs settings as
// the spec and the VRRP role ask. The roles the configuration declares are
// owned: a daemon of such a role is started, restarted with new settings,
// and stopped once the configuration no longer declares it (the roles
// are then no longer owned). A namespace's daemons are otherwise left
// alone, and a restarted director adopts the ones running.
type SyncManager struct {
	k   SyncKernel
	sys Sysctls
	log *slog.Logger

	master atomic.Bool
	poke   chan struct{}
	done   chan struct{} // closed when Run returns

	mu    sync.Mutex // held across kernel calls: spec, owned, stats
	spec  SyncSpec
	owned map[SyncState]bool
	stats SyncStatus
}

// NewSyncManager returns a manager over k and sys; log may be nil.
func NewSyncManager(k SyncKernel, sys Sysctls, log *slog.Logger) *SyncManager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SyncManager{k: k, sys: sys, log: log, poke: make(chan struct{}, 1), done: make(chan struct{}),
		owned: map[SyncState]bool{}}
}

// Check reports, without changing anything, what would keep spec from
// applying: a net.ipv4.vs name the kernel does not have.
func (m *SyncManager) Check(spec SyncSpec) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(spec.Sysctls)) {
		if _, err := m.sys.Get(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Apply switches to spec and makes the kernel match it now.
func (m *SyncManager) Apply(spec SyncSpec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spec = spec
	for _, d := range spec.Wanted(true) {
		m.owned[d.State] = true
	}
	for _, d := range spec.Wanted(false) {
		m.owned[d.State] = true
	}
	return m.apply()
}

// SetMaster tells the manager the followed VRRP instance's role. It never
// blocks: the switch happens on Run's goroutine.
func (m *SyncManager) SetMaster(master bool) {
	if m.master.Swap(master) == master {
		return
	}
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

// Run applies role changes as they come, re-checks the kernel every
// spec.Recheck (repairing a daemon stopped by hand) and retries failures
// with backoff, until ctx ends. Call it once.
func (m *SyncManager) Run(ctx context.Context) {
	defer close(m.done)
	retry := time.Duration(0)
	timer := time.NewTimer(m.recheck())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.poke:
		case <-timer.C:
		}
		m.mu.Lock()
		var err error
		if ctx.Err() == nil { // a stop may have come while we waited
			err = m.apply()
		}
		m.mu.Unlock()
		next := m.recheck()
		if err != nil {
			retry = min(max(2*retry, time.Second), time.Minute)
			next = retry
		} else {
			retry = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

func (m *SyncManager) recheck() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.spec.Recheck > 0 {
		return m.spec.Recheck
	}
	return time.Minute
}

// Done is closed once Run has returned.
func (m *SyncManager) Done() <-chan struct{} { return m.done }

// Close closes the kernel connection; call it after Run has returned.
func (m *SyncManager) Close() error {
	if m.k == nil {
		return nil
	}
	return m.k.Close()
}

// StopOwned stops the daemons of the roles the configuration declared
// (clear_on_stop).
func (m *SyncManager) StopOwned() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	have, err := m.k.Daemons()
	if err != nil {
		return err
	}
	return m.exec(PlanSync(nil, have, m.owned))
}

// apply makes the kernel match; mu is held.
func (m *SyncManager) apply() error {
	errs := []error{m.applySysctls()}
	if len(m.owned) > 0 {
		have, err := m.k.Daemons()
		if err == nil {
			err = m.exec(PlanSync(m.spec.Wanted(m.master.Load()), have, m.owned))
		}
		if err == nil && m.spec.Daemon == nil {
			// Stopped what the configuration no longer declares: from
			// now on these roles are someone else's.
			clear(m.owned)
		}
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil {
		m.stats.Errors++
		m.stats.LastError = err.Error()
		m.log.Error("IPVS connection sync: could not apply; will retry", "err", err)
	}
	return err
}

func (m *SyncManager) exec(ops []SyncOp) error {
	var errs []error
	for _, op := range ops {
		var err error
		if op.Kind == StartDaemon {
			err = m.k.Start(op.Daemon)
		} else {
			err = m.k.Stop(op.Daemon.State)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if op.Kind == StartDaemon {
			m.stats.Starts++
			m.log.Info("ipvs sync daemon started", "daemon", op.Daemon.String())
		} else {
			m.stats.Stops++
			m.log.Info("ipvs sync daemon stopped", "state", op.Daemon.State.String())
		}
	}
	return errors.Join(errs...)
}

func (m *SyncManager) applySysctls() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(m.spec.Sysctls)) {
		want := m.spec.Sysctls[name]
		cur, err := m.sys.Get(name)
		if err == nil && cur == want {
			continue
		}
		if err := m.sys.Set(name, want); err != nil {
			errs = append(errs, err)
			continue
		}
		m.log.Info("ipvs sysctl set", "name", "net.ipv4.vs."+name, "from", cur, "to", want)
	}
	return errors.Join(errs...)
}

// Status reads the running daemons and settings from the kernel.
func (m *SyncManager) Status() SyncStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stats
	switch {
	case m.spec.Daemon == nil:
		st.Mode = "off"
	case m.spec.Follow:
		st.Mode = "follow"
		st.Role = "backup"
		if m.master.Load() {
			st.Role = "master"
		}
	default:
		st.Mode = "both"
	}
	st.Wanted = m.spec.Wanted(m.master.Load())
	if m.k != nil {
		if have, err := m.k.Daemons(); err == nil {
			slices.SortFunc(have, func(a, b SyncDaemon) int { return int(a.State) - int(b.State) })
			st.Running = have
		} else {
			st.LastError = fmt.Sprintf("list sync daemons: %v", err)
		}
	}
	if len(m.spec.Sysctls) > 0 {
		st.Sysctls = map[string]string{}
		for name := range m.spec.Sysctls {
			if v, err := m.sys.Get(name); err == nil {
				st.Sysctls[name] = v
			}
		}
	}
	return st
}
