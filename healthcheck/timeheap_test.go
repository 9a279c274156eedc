package healthcheck

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The heap against a sorted slice under seeded random pushes and pops.
func TestTimeHeapPopsInOrder(t *testing.T) {
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		var h timeHeap[int]
		var want []int64
		for i := range 400 {
			if rnd.IntN(3) < 2 || len(want) == 0 {
				at := rnd.Int64N(50)
				h.push(at, i)
				want = append(want, at)
				continue
			}
			slices.Sort(want)
			at, _ := h.peek()
			h.pop()
			if at != want[0] {
				t.Fatalf("seed %d: popped at %d, want the minimum %d", seed, at, want[0])
			}
			want = want[1:]
			if h.Len() != len(want) {
				t.Fatalf("seed %d: %d entries, want %d", seed, h.Len(), len(want))
			}
		}
	}
}

// A probe that Update removes while it waits in the queue never runs
// again, and one added back under the same key runs once an interval,
// not twice: the queue drops the removed probe when it comes out on top.
func TestMonitorRemovedProbeNeverRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		runs := map[uint16]int{}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(s Spec) (Checker, error) {
			port := s.Target.Port()
			return checkerFunc(func(context.Context) Result {
				mu.Lock()
				defer mu.Unlock()
				runs[port]++
				return Result{Up: true, Reason: "test"}
			}), nil
		}})
		var all []Watch
		for port := range uint16(10) {
			all = append(all, Watch{ID: string(rune('a' + port)), Spec: spec(port + 1)})
		}
		if err := m.Update(all); err != nil {
			t.Fatal(err)
		}
		stop := start(t, m)
		defer stop()
		// Before any first run (they are spread over the first second).
		if err := m.Update(all[:5]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		mu.Lock()
		for port := uint16(6); port <= 10; port++ {
			if runs[port] != 0 {
				t.Errorf("removed probe %d ran %d times", port, runs[port])
			}
		}
		for port := uint16(1); port <= 5; port++ {
			// Three or four: the first run is somewhere in the first
			// second, maybe at its start.
			if runs[port] < 3 || runs[port] > 4 {
				t.Errorf("probe %d ran %d times in 3 s, want 3 or 4", port, runs[port])
			}
		}
		clear(runs)
		mu.Unlock()
		// Removed and added back within one interval: one probe, one run
		// a second.
		if err := m.Update(all[:4]); err != nil {
			t.Fatal(err)
		}
		if err := m.Update(all[:5]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if runs[5] < 2 || runs[5] > 4 {
			t.Errorf("probe 5, removed and added back, ran %d times in 3 s, want 3 (±1 for its new start)", runs[5])
		}
	})
}
