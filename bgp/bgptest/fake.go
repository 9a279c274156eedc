// Package bgptest has a fake bgp.Speaker for tests of what is announced.
package bgptest

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"directord/bgp"
)

// Speaker records announcements; Fail makes the next writes fail.
type Speaker struct {
	mu     sync.Mutex
	routes map[netip.Prefix]bgp.Route
	// Log is every write, in order: "announce 10.0.0.1/32" or
	// "withdraw 10.0.0.1/32".
	Log  []string
	fail int
	// FailAfter makes a failing write take effect before it returns its
	// error, as a timeout after the router got the update would.
	FailAfter bool
}

// New is an empty speaker.
func New() *Speaker { return &Speaker{routes: map[netip.Prefix]bgp.Route{}} }

// Fail makes the next n writes return an error.
func (s *Speaker) Fail(n int) { s.mu.Lock(); s.fail = n; s.mu.Unlock() }

// Announce implements bgp.Speaker.
func (s *Speaker) Announce(_ context.Context, r bgp.Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 && !s.FailAfter {
		s.fail--
		return fmt.Errorf("fake failure")
	}
	s.routes[r.Prefix] = r
	s.Log = append(s.Log, "announce "+r.String())
	return s.failAfter()
}

// Withdraw implements bgp.Speaker.
func (s *Speaker) Withdraw(_ context.Context, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 && !s.FailAfter {
		s.fail--
		return fmt.Errorf("fake failure")
	}
	delete(s.routes, p)
	s.Log = append(s.Log, "withdraw "+p.String())
	return s.failAfter()
}

// failAfter is the error of a write that took effect; the caller holds mu.
func (s *Speaker) failAfter() error {
	if s.fail > 0 {
		s.fail--
		return fmt.Errorf("fake failure after the write")
	}
	return nil
}

// Routes is what a peer would hold now.
func (s *Speaker) Routes() map[netip.Prefix]bgp.Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[netip.Prefix]bgp.Route, len(s.routes))
	for p, r := range s.routes {
		out[p] = r
	}
	return out
}
