package lvstest

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/ipvs"

	"directord/lvs"
)

// Kernel is an IPVS table in memory: lvs.Kernel on Table.Apply, with the
// kernel's refusals (a service that exists, a destination that does
// not), failures on demand, and a record of every write.
type Kernel struct {
	mu     sync.Mutex
	table  lvs.Table
	config ipvs.Config
	fail   func(lvs.Op) error
	gate   func()
	// statsDelay is how long each ReadStats takes, as a dump of a large
	// table does; statsReads counts them.
	statsDelay time.Duration
	statsReads int

	ops      []lvs.Op
	inFlight int
	overlaps int
}

// NewKernel returns a kernel whose table is t (empty when nil).
func NewKernel(t lvs.Table) *Kernel {
	if t == nil {
		t = lvs.Table{}
	}
	return &Kernel{table: t.Clone()}
}

// FailWith makes every later op for which fn returns an error fail with
// it (nil: none fails).
func (k *Kernel) FailWith(fn func(lvs.Op) error) {
	k.mu.Lock()
	k.fail = fn
	k.mu.Unlock()
}

// SetGate has fn called at the start of every Read and Write, outside
// the lock: a test blocks there to hold a call in flight.
func (k *Kernel) SetGate(fn func()) {
	k.mu.Lock()
	k.gate = fn
	k.mu.Unlock()
}

// SetStatsDelay makes every later ReadStats take d before it answers,
// as the kernel's dump of a large table does (tens of ms at 10,000
// services × 4 reals).
func (k *Kernel) SetStatsDelay(d time.Duration) {
	k.mu.Lock()
	k.statsDelay = d
	k.mu.Unlock()
}

// StatsReads counts the ReadStats calls so far.
func (k *Kernel) StatsReads() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.statsReads
}

// Table is a copy of the table now.
func (k *Kernel) Table() lvs.Table {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.table.Clone()
}

// Ops are the ops written so far, applied or not.
func (k *Kernel) Ops() []lvs.Op {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]lvs.Op(nil), k.ops...)
}

// Overlaps counts calls that started while another was in flight: the
// kernel serialises them, but a caller that makes them from two
// goroutines has a race. ReadStats is not counted: it has a connection
// of its own (lvs.Kernel), and runs alongside the others.
func (k *Kernel) Overlaps() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.overlaps
}

func (k *Kernel) enter() {
	k.mu.Lock()
	if k.inFlight > 0 {
		k.overlaps++
	}
	k.inFlight++
	gate := k.gate
	k.mu.Unlock()
	if gate != nil {
		gate()
	}
}

func (k *Kernel) leave() {
	k.mu.Lock()
	k.inFlight--
	k.mu.Unlock()
}

// Read returns the table.
func (k *Kernel) Read() (lvs.Table, error) {
	k.enter()
	defer k.leave()
	return k.Table(), nil
}

// Write applies ops one by one, refusing what the kernel refuses.
func (k *Kernel) Write(ops []lvs.Op) []error {
	k.enter()
	defer k.leave()
	k.mu.Lock()
	defer k.mu.Unlock()
	errs := make([]error, len(ops))
	for i, op := range ops {
		k.ops = append(k.ops, op)
		if k.fail != nil {
			if errs[i] = k.fail(op); errs[i] != nil {
				continue
			}
		}
		if errs[i] = refusal(k.table, op); errs[i] == nil {
			k.table.ApplyInPlace([]lvs.Op{op})
		}
	}
	return errs
}

// refusal is the kernel's answer to op on t: nil, or the errno it gives.
func refusal(t lvs.Table, op lvs.Op) error {
	e := t[op.Service.ServiceKey]
	var err error
	switch op.Kind {
	case lvs.CreateService:
		if e != nil {
			err = syscall.EEXIST
		}
	case lvs.UpdateService, lvs.DeleteService:
		if e == nil {
			err = syscall.ESRCH
		}
	default:
		has := false
		if e != nil {
			has = e.Dests.Has(op.Dest.DestKey)
		}
		switch {
		case e == nil:
			err = syscall.ESRCH
		case op.Kind == lvs.CreateDest && has:
			err = syscall.EEXIST
		case op.Kind != lvs.CreateDest && !has:
			err = syscall.ENOENT
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// ReadStats returns the table with zero counters, after the delay set
// by SetStatsDelay (slept outside the lock: writes go on meanwhile).
// Neither the gate nor Overlaps sees it: it stands for a connection of
// its own, as OpenKernel's.
func (k *Kernel) ReadStats() ([]lvs.ServiceStats, error) {
	k.mu.Lock()
	k.statsReads++
	delay := k.statsDelay
	k.mu.Unlock()
	time.Sleep(delay)
	t := k.Table()
	var out []lvs.ServiceStats
	for _, key := range t.Keys() {
		out = append(out, serviceStats(key, t[key]))
	}
	return out, nil
}

// ReadServiceStats is ReadStats for one service, without the delay: a
// service's few destinations are quick to read whatever the table's
// size.
func (k *Kernel) ReadServiceStats(key lvs.ServiceKey) (*lvs.ServiceStats, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.table[key]
	if e == nil {
		return nil, nil
	}
	st := serviceStats(key, e)
	return &st, nil
}

func serviceStats(key lvs.ServiceKey, e *lvs.Entry) lvs.ServiceStats {
	st := lvs.ServiceStats{Key: key, Name: key.String(), Scheduler: e.Service.Scheduler, Persist: e.Service.Timeout}
	for _, d := range e.Dests {
		st.Dests = append(st.Dests, lvs.DestStats{Key: d.DestKey, Name: d.DestKey.String(), Weight: d.Weight})
	}
	return st
}

// Config returns the timeouts.
func (k *Kernel) Config() (ipvs.Config, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.config, nil
}

// SetConfig sets the timeouts.
func (k *Kernel) SetConfig(c ipvs.Config) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.config = c
	return nil
}

// Close does nothing.
func (k *Kernel) Close() error { return nil }
