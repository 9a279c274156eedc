package vrrp_test

// The simulator: seeded random schedules of faults over two or three
// routers and several VRIDs on the simulated LAN, with the invariants
// checked every simulated 50 ms. A failing seed prints the command that
// replays it; ./scripts/sim.sh runs as many schedules as asked.

import (
	"flag"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var (
	simN    = flag.Int("sim.n", 10000, "how many simulated schedules TestSimulation runs")
	simSeed = flag.Uint64("sim.seed", 0, "run only this schedule (replays a failure)")
	simFrom = flag.Uint64("sim.from", 1, "first seed")
	simShow = flag.Bool("sim.show", false, "print each schedule's events")
)

// Simulated time: 1 s adverts, a 40 s schedule. Only the ratio of advert
// interval to fault spacing matters, and fewer adverts simulate faster.
const (
	simAdvert   = time.Second
	simLength   = 40 * time.Second
	simQuiet    = 8 * time.Second // at the end, with no fault
	simSample   = 50 * time.Millisecond
	simSettle   = 3*simAdvert + simAdvert + simAdvert // Master_Down_Interval (skew ≤ 1 advert) + one advert
	simTrackNeg = -60
)

func TestSimulation(t *testing.T) {
	var seeds []uint64
	if *simSeed != 0 {
		seeds = []uint64{*simSeed}
	} else {
		for i := range uint64(*simN) {
			seeds = append(seeds, *simFrom+i)
		}
	}
	start := time.Now()
	var failed atomic.Int64
	// Workers, one per CPU, each running schedules in bubbles of their
	// own; not subtests, which would count 10,000 tests in the summary.
	next := make(chan uint64)
	go func() {
		defer close(next)
		for _, s := range seeds {
			next <- s
		}
	}()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for seed := range next {
				// Violations are reported outside the bubble: a bubble
				// whose T failed ends with FailNow, which would end this
				// worker, and the remaining seeds would never run.
				var v []string
				synctest.Test(t, func(t *testing.T) {
					logf := func(string, ...any) {}
					if *simShow || *simSeed != 0 {
						logf = t.Logf
					}
					v = simulate(seed, logf)
				})
				if len(v) > 0 {
					failed.Add(1)
					t.Errorf("seed %d: %s\nreplay: go test ./vrrp -run 'TestSimulation$' -sim.seed=%d -v", seed, strings.Join(v, "\n"), seed)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("simulation: %d schedules (%s of simulated time each) in %s, %d with violations",
		len(seeds), simLength+simQuiet, time.Since(start).Round(time.Millisecond), failed.Load())
}
