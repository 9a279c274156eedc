package daemon

import (
	"context"
	"sync"
	"time"

	"directord/lvs"
)

// tableMaxAge is how old the IPVS table that the status and the metrics
// show may be. A dump of 10,000 services × 4 reals takes tens of ms;
// Prometheus, a dashboard and an operator's curl loop each asking for
// one would keep the kernel busy dumping, for counters that a scrape
// interval (15 s and up) samples anyway.
const tableMaxAge = time.Second

// tableSnapshot is the kernel's IPVS table with counters as one dump
// read it.
type tableSnapshot struct {
	// At is when the dump began: the table is at least this recent.
	At    time.Time
	Table []lvs.ServiceStats
	Err   error
}

// tableCache shares one dump between every status request and scrape
// of a second: the first one after the snapshot expires starts a dump,
// and the others, then and until it ends, wait for that one instead of
// starting their own.
type tableCache struct {
	maxAge time.Duration
	now    func() time.Time
	// read dumps the table. Its ctx carries no deadline of a request's:
	// the dump is shared, and one requester leaving must not cut it
	// short for the others.
	read func(context.Context) ([]lvs.ServiceStats, error)
	// after runs f once d has passed (time.AfterFunc): a snapshot is
	// let go when it is too old to answer anyone, not kept until the
	// next scrape (at 10,000 reals it is 2.4 MB of heap).
	after func(d time.Duration, f func())

	mu        sync.Mutex
	cur       *tableSnapshot
	flight    *tableFlight
	notBefore time.Time // set by invalidate: older snapshots are stale
}

// tableFlight is a dump in progress.
type tableFlight struct {
	start time.Time
	done  chan struct{}
	snap  *tableSnapshot // set before done closes
}

func newTableCache(maxAge time.Duration, now func() time.Time, after func(time.Duration, func()), read func(context.Context) ([]lvs.ServiceStats, error)) *tableCache {
	return &tableCache{maxAge: maxAge, now: now, after: after, read: read}
}

// afterFunc is time.AfterFunc for tableCache.after.
func afterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// get returns a snapshot at most maxAge old (begun no earlier than the
// last invalidate), dumping the table if there is none; it gives up
// when ctx ends, leaving the dump to those still waiting.
func (c *tableCache) get(ctx context.Context) (*tableSnapshot, error) {
	c.mu.Lock()
	need := c.now().Add(-c.maxAge)
	if c.notBefore.After(need) {
		need = c.notBefore
	}
	for {
		if c.cur != nil && !c.cur.At.Before(need) {
			s := c.cur
			c.mu.Unlock()
			return s, nil
		}
		f := c.flight
		if f == nil {
			f = c.start(ctx)
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// A dump begun before an invalidate does not do: wait for the
		// next one.
		if !f.start.Before(need) {
			return f.snap, nil
		}
		c.mu.Lock()
	}
}

// start begins a dump; c.mu is held.
func (c *tableCache) start(ctx context.Context) *tableFlight {
	f := &tableFlight{start: c.now(), done: make(chan struct{})}
	c.flight = f
	go func() {
		t, err := c.read(context.WithoutCancel(ctx))
		c.mu.Lock()
		snap := &tableSnapshot{At: f.start, Table: t, Err: err}
		f.snap, c.cur, c.flight = snap, snap, nil
		c.mu.Unlock()
		// Requests waiting on the flight hold snap until they are
		// done; the cache lets it go once it is stale. Set before
		// done closes: a waiter then knows the release is scheduled.
		c.after(c.maxAge-c.now().Sub(snap.At), func() {
			c.mu.Lock()
			if c.cur == snap {
				c.cur = nil
			}
			c.mu.Unlock()
		})
		close(f.done)
	}()
	return f
}

// invalidate makes the next get dump the table again: after an
// operator's change, the status must show the write it made.
func (c *tableCache) invalidate() {
	c.mu.Lock()
	c.notBefore = c.now()
	c.mu.Unlock()
}
