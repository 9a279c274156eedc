package healthcheck

import (
	"context"
	"slices"
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
		runFor(t, m, ws, 5*time.Second)
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

// A probe whose result comes as late as its next run was due (a timeout
// as long as the interval) runs again at once, and keeps the cadence; a
// retry_delay that is no multiple of the slot is rounded up to it.
func TestMonitorLateAndRetryOnTheGrid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		runs := map[uint16][]time.Time{}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(s Spec) (Checker, error) {
			port := s.Target.Port()
			return checkerFunc(func(ctx context.Context) Result {
				mu.Lock()
				runs[port] = append(runs[port], time.Now())
				mu.Unlock()
				if port == 1 {
					<-ctx.Done() // hangs until its timeout
				}
				return Result{Reason: "test"}
			}), nil
		}})
		slow := spec(1, func(s *Spec) { s.Timeout = s.Interval; s.Fall = 100 })
		retry := spec(2, func(s *Spec) { s.RetryDelay = 75 * time.Millisecond })
		runFor(t, m, []Watch{{ID: "slow", Spec: slow}, {ID: "retry", Spec: retry}}, 6*time.Second)
		mu.Lock()
		defer mu.Unlock()
		gaps := func(port uint16) []time.Duration {
			var out []time.Duration
			for i := 1; i < len(runs[port]); i++ {
				out = append(out, runs[port][i].Sub(runs[port][i-1]))
			}
			return out
		}
		for i, g := range gaps(1) {
			if g != time.Second {
				t.Fatalf("slow probe: gap %d is %s, want 1s (all: %v)", i, g, gaps(1))
			}
		}
		// Up, failing: two retries 100 ms apart (75 ms rounded up to
		// the 50 ms grid), then down at fall 3 and every interval.
		want := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, time.Second, time.Second}
		if g := gaps(2); len(g) < len(want) || !slices.Equal(g[:len(want)], want) {
			t.Fatalf("failing probe's gaps %v, want %v first", g, want)
		}
	})
}

// runFor runs m on ws for d of the bubble's time, its events read and
// dropped, and returns once it has stopped.
func runFor(t *testing.T, m *Monitor, ws []Watch, d time.Duration) {
	t.Helper()
	if err := m.Update(ws); err != nil {
		t.Fatal(err)
	}
	stop := start(t, m)
	time.Sleep(d)
	stop()
	synctest.Wait()
}

// start runs m, its events read and dropped, until stop.
func start(t *testing.T, m *Monitor) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
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
	return cancel
}
