// Package lvstest holds fakes of the lvs package's kernel seams, for tests
// that run without root or IPVS.
package lvstest

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"directord/lvs"
)

// SyncKernel is an in-memory lvs.SyncKernel with the kernel's rules: one
// daemon per role, os.ErrExist for a second, os.ErrNotExist when stopping
// none, an error for an interface it does not have; SetFail makes every
// call fail.
type SyncKernel struct {
	mu            sync.Mutex
	running       map[lvs.SyncState]lvs.SyncDaemon
	ifaces        map[string]bool
	fail          error
	starts, stops int
}

// NewSyncKernel returns a kernel whose namespace has the named interfaces.
func NewSyncKernel(ifaces ...string) *SyncKernel {
	k := &SyncKernel{running: map[lvs.SyncState]lvs.SyncDaemon{}, ifaces: map[string]bool{}}
	for _, i := range ifaces {
		k.ifaces[i] = true
	}
	return k
}

// SetFail makes every call fail with err (nil: succeed again).
func (k *SyncKernel) SetFail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fail = err
}

// Calls returns how many daemons were started and stopped.
func (k *SyncKernel) Calls() (starts, stops int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.starts, k.stops
}

// Daemons lists the running daemons, master first.
func (k *SyncKernel) Daemons() ([]lvs.SyncDaemon, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return nil, k.fail
	}
	var out []lvs.SyncDaemon
	for _, st := range slices.Sorted(maps.Keys(k.running)) {
		out = append(out, k.running[st])
	}
	return out, nil
}

// Start runs d the way the kernel would: it fills in the defaults.
func (k *SyncKernel) Start(d lvs.SyncDaemon) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	if _, ok := k.running[d.State]; ok {
		return fmt.Errorf("a %s sync daemon already runs: %w", d.State, os.ErrExist)
	}
	if !k.ifaces[d.Interface] {
		return fmt.Errorf("no interface %q", d.Interface)
	}
	d = d.WithDefaults()
	if d.MaxLen == 0 { // the kernel's: an MTU of 1500 less the IP and UDP headers
		d.MaxLen = 1472
	}
	k.running[d.State] = d
	k.starts++
	return nil
}

// Stop stops the daemon of a role.
func (k *SyncKernel) Stop(st lvs.SyncState) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	if _, ok := k.running[st]; !ok {
		return fmt.Errorf("no %s sync daemon runs: %w", st, os.ErrNotExist)
	}
	delete(k.running, st)
	k.stops++
	return nil
}

// Close does nothing.
func (k *SyncKernel) Close() error { return nil }

// Sysctls is an in-memory net.ipv4.vs with the given names and values.
type Sysctls struct {
	mu     sync.Mutex
	values map[string]string
	writes int
}

// NewSysctls returns settings holding values.
func NewSysctls(values map[string]string) *Sysctls {
	return &Sysctls{values: maps.Clone(values)}
}

// Get reads a setting; a name the kernel lacks is an error.
func (s *Sysctls) Get(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[name]
	if !ok {
		return "", fmt.Errorf("read net.ipv4.vs.%s: %w", name, os.ErrNotExist)
	}
	return v, nil
}

// Set writes an existing setting.
func (s *Sysctls) Set(name, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.values[name]; !ok {
		return fmt.Errorf("set net.ipv4.vs.%s: %w", name, os.ErrNotExist)
	}
	s.values[name] = value
	s.writes++
	return nil
}

// Writes counts the Set calls.
func (s *Sysctls) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}
