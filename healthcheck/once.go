package healthcheck

import (
	"context"
	"fmt"
	"sync"
)

// CheckOnce runs each distinct probe of watches once, at most parallel at
// a time, and returns the result of each watch by ID: for an ID with
// several checks, a failing one's if any fails.
func CheckOnce(ctx context.Context, watches []Watch, parallel int) (map[string]Result, error) {
	type job struct {
		spec Spec
		ids  []string
	}
	jobs := map[string]*job{}
	for _, w := range watches {
		k := w.Spec.Key()
		if jobs[k] == nil {
			jobs[k] = &job{spec: w.Spec}
		}
		jobs[k].ids = append(jobs[k].ids, w.ID)
	}
	checkers := map[string]Checker{}
	for k, j := range jobs {
		c, err := New(j.spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", j.spec.Name(), err)
		}
		checkers[k] = c
	}
	out := map[string]Result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, parallel))
	for k, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, j.spec.Timeout)
			res := checkers[k].Check(cctx)
			cancel()
			mu.Lock()
			for _, id := range j.ids {
				// A real with several checks is down as a
				// failing one says.
				if prev, seen := out[id]; !seen || (prev.Up && !res.Up) {
					out[id] = res
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, nil
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
