package healthcheck

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// CheckOnce runs each distinct probe of watches once, at most parallel at
// a time, and returns the result of each watch by ID: for an ID with
// several checks, a failing one's if any fails. TCP checks share one
// connector (no goroutine, epoll instance or timer per probe); the
// others run on goroutines.
func CheckOnce(ctx context.Context, watches []Watch, parallel int) (map[string]Result, error) {
	jobs := map[string]*onceJob{}
	for i, w := range watches {
		k := w.Spec.Key()
		if jobs[k] == nil {
			// The watch's Spec, not a copy: hundreds of bytes each, at
			// 10,000 reals megabytes of check --once's peak.
			jobs[k] = &onceJob{spec: &watches[i].Spec}
		}
		jobs[k].ids = append(jobs[k].ids, w.ID)
	}
	var tcp, other []*onceJob
	for _, j := range jobs {
		c, err := New(*j.spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", j.spec.Name(), err)
		}
		j.checker = c
		if _, ok := c.(*tcpChecker); ok {
			tcp = append(tcp, j)
		} else {
			other = append(other, j)
		}
	}
	parallel = max(1, parallel)
	out := map[string]Result{}
	var mu sync.Mutex
	record := func(j *onceJob, res Result) {
		mu.Lock()
		defer mu.Unlock()
		j.done = true
		for _, id := range j.ids {
			// A real with several checks is down as a failing one
			// says.
			if prev, seen := out[id]; !seen || (prev.Up && !res.Up) {
				out[id] = res
			}
		}
	}
	conn, err := newConnector()
	if err != nil {
		other, tcp = append(other, tcp...), nil
	}
	// The goroutines' checks and the connector's run side by side.
	var wg sync.WaitGroup
	wg.Go(func() {
		sem := make(chan struct{}, parallel)
		var each sync.WaitGroup
		for _, j := range other {
			sem <- struct{}{}
			each.Go(func() {
				defer func() { <-sem }()
				cctx, cancel := context.WithTimeout(ctx, j.spec.Timeout)
				res := j.checker.Check(cctx)
				cancel()
				record(j, res)
			})
		}
		each.Wait()
	})
	if conn != nil {
		connectOnce(ctx, conn, tcp, parallel, record)
	}
	wg.Wait()
	// A check that ctx cut short, or never started, failed: a real with
	// two checks, one of them cut short, is not up.
	for _, j := range jobs {
		if !j.done {
			reason := "cut short"
			if err := context.Cause(ctx); err != nil {
				reason += ": " + err.Error()
			}
			record(j, Result{Reason: reason})
		}
	}
	return out, nil
}

type onceJob struct {
	spec    *Spec
	checker Checker
	ids     []string
	done    bool // has a result; under CheckOnce's mutex
}

// connectOnce runs the TCP jobs on conn, at most parallel in flight, and
// closes conn. A job cut short by ctx gets no result.
func connectOnce(ctx context.Context, conn *connector, jobs []*onceJob, parallel int, record func(*onceJob, Result)) {
	defer conn.close()
	defer context.AfterFunc(ctx, conn.stop)()
	var done []connectDone
	inFlight := 0
	for len(jobs) > 0 || inFlight > 0 {
		now := time.Now()
		for ; len(jobs) > 0 && inFlight < parallel && ctx.Err() == nil; jobs = jobs[1:] {
			j := jobs[0]
			tc := j.checker.(*tcpChecker)
			if res, ok := conn.Start(tc.target, tc.from, now, now.Add(j.spec.Timeout), j); ok {
				record(j, res)
				continue
			}
			inFlight++
		}
		done = conn.Reap(time.Now(), done[:0])
		if len(done) == 0 && inFlight > 0 {
			done = conn.wait()
			if done == nil { // stopped: ctx ended
				return
			}
		}
		for _, d := range done {
			record(d.tag.(*onceJob), d.res)
		}
		inFlight -= len(done)
		if ctx.Err() != nil && len(jobs) > 0 {
			return
		}
	}
}

// Validate builds a checker for every distinct probe of watches and
// throws them away: it finds what Update would refuse (an unreadable
// ca_file) without changing anything.
func Validate(watches []Watch) error {
	seen := map[string]bool{}
	for _, w := range watches {
		k := w.Spec.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, err := New(w.Spec); err != nil {
			return fmt.Errorf("%s: %w", w.Spec.Name(), err)
		}
	}
	return nil
}
