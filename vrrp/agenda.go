package vrrp

import (
	"slices"
	"time"
)

// The router's own timers. Besides the state machines' deadlines the
// protocol schedules work of its own: the rounds of a gratuitous ARP
// schedule, the re-announcement after a split-brain heal, the reopening
// of a socket that cannot send. Each is a job on the loop, due at a time
// of the router's clock (System.Now), not a goroutine with a timer: jobs
// see the instance as the loop does (no race with a reload), end with the
// mastership that scheduled them at the exact point the loop decides it,
// and run in a fixed order, so that the policy is a function of its
// inputs and the clock.

// job is one piece of scheduled work.
type job struct {
	due time.Time
	seq uint64 // jobs due at once run in the order they were scheduled
	run func(now time.Time)
}

// agenda holds the pending jobs, earliest first.
type agenda struct {
	jobs []job
	seq  uint64
}

// at schedules run for due (now or in the past: at the loop's next turn).
func (a *agenda) at(due time.Time, run func(now time.Time)) {
	a.seq++
	j := job{due: due, seq: a.seq, run: run}
	i, _ := slices.BinarySearchFunc(a.jobs, j, func(x, y job) int {
		if c := x.due.Compare(y.due); c != 0 {
			return c
		}
		return cmpSeq(x.seq, y.seq)
	})
	a.jobs = slices.Insert(a.jobs, i, j)
}

func cmpSeq(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// next is when the earliest job is due; zero when there is none.
func (a *agenda) next() time.Time {
	if len(a.jobs) == 0 {
		return time.Time{}
	}
	return a.jobs[0].due
}

// runDue runs every job due by now, including those that the jobs run
// schedule for now or earlier.
func (a *agenda) runDue(now time.Time) {
	for len(a.jobs) > 0 && !a.jobs[0].due.After(now) {
		j := a.jobs[0]
		a.jobs[0] = job{} // the closure (and what it holds) can go
		a.jobs = a.jobs[1:]
		j.run(now)
	}
}
