package healthcheck

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestSlot(t *testing.T) {
	for _, c := range []struct{ interval, want time.Duration }{
		{time.Second, 50 * time.Millisecond},
		{3 * time.Second, 50 * time.Millisecond},
		{500 * time.Millisecond, 50 * time.Millisecond},
		{250 * time.Millisecond, 10 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Millisecond},
		{30 * time.Millisecond, 2 * time.Millisecond},
		{333 * time.Millisecond, time.Millisecond},
		{1500 * time.Microsecond, 0},
	} {
		if got := slot(c.interval); got != c.want {
			t.Errorf("slot(%s) = %s, want %s", c.interval, got, c.want)
		}
	}
}

// A thousand probes at 1 s run on twenty instants a second (the 50 ms
// grid), each exactly an interval after its previous run, a failing one
// too: batching never stretches the gap detection depends on.
func TestMonitorRunsProbesOnTheGrid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		runs := map[uint16][]time.Time{}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(s Spec) (Checker, error) {
			port := s.Target.Port()
			return checkerFunc(func(context.Context) Result {
				mu.Lock()
				defer mu.Unlock()
				runs[port] = append(runs[port], time.Now())
				return Result{Up: port%2 == 0, Reason: "test"}
			}), nil
		}})
		var ws []Watch
		for i := range 1000 {
			ws = append(ws, Watch{ID: string(rune(i)), Spec: spec(uint16(i + 1))})
		}
		// A few milliseconds off the grid, as a real start is.
		time.Sleep(7 * time.Millisecond)
		if err := m.Update(ws); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		go func() {
			for {
				select {
				case <-m.Events():
				case <-ctx.Done():
					return
				}
			}
		}()
		time.Sleep(5 * time.Second)
		cancel()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		instants := map[time.Time]bool{}
		for port, ts := range runs {
			if len(ts) < 4 {
				t.Fatalf("probe %d ran %d times in 5 s", port, len(ts))
			}
			for i, at := range ts {
				instants[at] = true
				if !at.Truncate(50 * time.Millisecond).Equal(at) {
					t.Fatalf("probe %d ran at %s, off the 50 ms grid", port, at.Format(time.StampMicro))
				}
				if i > 0 && at.Sub(ts[i-1]) != time.Second {
					t.Fatalf("probe %d ran %s after its previous run, want 1s", port, at.Sub(ts[i-1]))
				}
			}
		}
		if len(instants) > 5*20+1 {
			t.Errorf("probes ran at %d instants in 5 s, want at most 101 (the grid)", len(instants))
		}
	})
}
