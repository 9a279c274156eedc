// Package throughviptest fakes the policy routing of checks through the
// VIP for tests that run a daemon without root. It is for test binaries
// only.
package throughviptest

import (
	"slices"
	"sync"

	"directord/throughvip"
)

// Recorder records what it is asked to install.
type Recorder struct {
	mu      sync.Mutex
	applied [][]throughvip.Steer
	closed  bool
}

// Apply records steers.
func (r *Recorder) Apply(steers []throughvip.Steer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, slices.Clone(steers))
	return nil
}

// Close records that the daemon removed its routes.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// Applied returns every Apply's steers, oldest first.
func (r *Recorder) Applied() [][]throughvip.Steer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.applied)
}

// Closed reports whether Close was called.
func (r *Recorder) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}
