package healthcheck

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestHealthRiseFall(t *testing.T) {
	tests := []struct {
		name      string
		initialUp bool
		rise      int
		fall      int
		results   string // '+' success, '-' failure
		changes   string // '^' went up, 'v' went down, '.' no change
	}{
		{"up falls after 3", true, 2, 3, "--+---", ".....v"},
		{"a success resets the fall count", true, 2, 3, "--+--+--", "........"},
		{"down rises after 2", false, 2, 3, "+-++", "...^"},
		{"fall 1 is immediate", true, 1, 1, "-+-", "v^v"},
		{"alpha: starts down", false, 1, 1, "+", "^"},
		{"flapping every other probe never moves", true, 2, 2, "-+-+-+", "......"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHealth(tt.initialUp, tt.rise, tt.fall)
			got := ""
			for _, r := range tt.results {
				switch {
				case !h.apply(r == '+'):
					got += "."
				case h.up:
					got += "^"
				default:
					got += "v"
				}
			}
			if got != tt.changes {
				t.Errorf("changes %q, want %q", got, tt.changes)
			}
		})
	}
}

func TestHealthNextDelay(t *testing.T) {
	h := newHealth(true, 2, 3)
	if d := h.nextDelay(time.Second, 100*time.Millisecond); d != time.Second {
		t.Errorf("healthy: %s", d)
	}
	h.apply(false)
	if d := h.nextDelay(time.Second, 100*time.Millisecond); d != 100*time.Millisecond {
		t.Errorf("failing, not yet down: %s, want the retry delay", d)
	}
	h.apply(false)
	h.apply(false) // down now
	if d := h.nextDelay(time.Second, 100*time.Millisecond); d != time.Second {
		t.Errorf("down: %s, want the interval", d)
	}
}

// scripted is a Checker whose results follow a script; it records when it
// was called.
type scripted struct {
	mu      sync.Mutex
	results []bool
	latency time.Duration
	calls   []time.Time
}

func (s *scripted) Check(ctx context.Context) Result {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	ok := true
	if len(s.results) > 0 {
		ok, s.results = s.results[0], s.results[1:]
	}
	s.mu.Unlock()
	if s.latency > 0 {
		select {
		case <-time.After(s.latency):
		case <-ctx.Done():
			return Result{Reason: "timeout"}
		}
	}
	return Result{Up: ok, Reason: map[bool]string{true: "ok", false: "fail"}[ok]}
}

func (s *scripted) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}

func spec(port uint16, mod ...func(*Spec)) Spec {
	s := Spec{Type: TypeTCP, Target: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port),
		Interval: time.Second, Timeout: 500 * time.Millisecond, RetryDelay: time.Second, Rise: 2, Fall: 3, InitialUp: true,
		Params: &Params{}}
	for _, f := range mod {
		f(&s)
	}
	return s
}

func fixedRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// Under synctest the clock is fake: a three-failure fall at 1 s with a
// 200 ms retry delay is seen at exactly the expected instants.
func TestMonitorFallAndRetryTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{results: []bool{true, false, false, false, true, true}}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(Spec) (Checker, error) { return c, nil }})
		s := spec(80, func(s *Spec) { s.RetryDelay = 200 * time.Millisecond })
		if err := m.Update([]Watch{{ID: "web/r1", Spec: s}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		start := time.Now()
		go m.Run(ctx)
		var evs []Event
		for len(evs) < 2 {
			evs = append(evs, <-m.Events())
		}
		calls := c.callTimes()
		if len(calls) < 6 {
			t.Fatalf("%d calls", len(calls))
		}
		jitter := calls[0].Sub(start)
		if jitter < 0 || jitter >= time.Second {
			t.Fatalf("first probe after %s, want within the first interval", jitter)
		}
		// + at j, - at j+1s, retries at +200ms, +200ms (down), then the
		// interval again: + at +1s, + at +1s (up).
		want := []time.Duration{0, time.Second, 1200 * time.Millisecond, 1400 * time.Millisecond, 2400 * time.Millisecond, 3400 * time.Millisecond}
		for i, w := range want {
			if got := calls[i].Sub(calls[0]); got != w {
				t.Errorf("probe %d at +%s, want +%s", i, got, w)
			}
		}
		if evs[0].Up || evs[0].At.Sub(calls[0]) != 1400*time.Millisecond || evs[0].Result.Reason != "fail" {
			t.Errorf("down event %+v", evs[0])
		}
		if !evs[1].Up || evs[1].At.Sub(calls[0]) != 3400*time.Millisecond {
			t.Errorf("up event %+v", evs[1])
		}
		if up, ok := m.Up("web/r1"); !ok || !up {
			t.Errorf("Up = %v, %v", up, ok)
		}
	})
}

// initial = "down" (keepalived's alpha): nothing is up before rise
// successes, and the rise is one event.
func TestMonitorInitialDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(Spec) (Checker, error) { return c, nil }})
		if err := m.Update([]Watch{{ID: "a", Spec: spec(80, func(s *Spec) { s.InitialUp = false })}}); err != nil {
			t.Fatal(err)
		}
		if up, _ := m.Up("a"); up {
			t.Fatal("up before any probe")
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		ev := <-m.Events()
		if !ev.Up || len(c.callTimes()) != 2 {
			t.Fatalf("event %+v after %d probes, want up after 2", ev, len(c.callTimes()))
		}
	})
}

// 10,000 probes at 1 s start spread over the first second, not together.
func TestMonitorWarmupJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var firsts []time.Time
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(Spec) (Checker, error) {
			ran := false
			return checkerFunc(func(context.Context) Result {
				mu.Lock()
				if !ran {
					ran = true
					firsts = append(firsts, time.Now())
				}
				mu.Unlock()
				return Result{Up: true}
			}), nil
		}})
		var ws []Watch
		for i := range 10000 {
			ws = append(ws, Watch{ID: string(rune(i)), Spec: spec(uint16(i + 1))})
		}
		start := time.Now()
		if err := m.Update(ws); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(firsts) != 10000 {
			t.Fatalf("%d probes ran in the first interval", len(firsts))
		}
		var buckets [10]int
		for _, f := range firsts {
			d := f.Sub(start)
			if d < 0 || d >= time.Second {
				t.Fatalf("first run at +%s", d)
			}
			buckets[d/(100*time.Millisecond)]++
		}
		for i, n := range buckets {
			// Uniform is 1000 per 100 ms; allow sampling noise.
			if n < 850 || n > 1150 {
				t.Errorf("bucket %d has %d first runs: %v", i, n, buckets)
			}
		}
	})
}

type checkerFunc func(context.Context) Result

func (f checkerFunc) Check(ctx context.Context) Result { return f(ctx) }

// Identical checks under two virtual servers are one probe: one checker,
// one probe per interval, and events name both subscribers.
func TestMonitorSharesIdenticalProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		built := 0
		c := &scripted{results: []bool{false, false, false}}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(Spec) (Checker, error) { built++; return c, nil }})
		s := spec(80)
		err := m.Update([]Watch{{ID: "web/10.0.0.1:80", Spec: s}, {ID: "web-alt/10.0.0.1:80", Spec: s}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		ev := <-m.Events()
		if built != 1 || len(c.callTimes()) != 3 {
			t.Errorf("%d checkers built, %d probes run; want 1 and 3", built, len(c.callTimes()))
		}
		if len(ev.Subscribers) != 2 || ev.Subscribers[0] != "web-alt/10.0.0.1:80" || ev.Subscribers[1] != "web/10.0.0.1:80" {
			t.Errorf("subscribers %v", ev.Subscribers)
		}
		if st := m.Status(); len(st) != 1 || st[0].Up || len(st[0].Subscribers) != 2 {
			t.Errorf("status %+v", st)
		}
	})
}

// An update keeps the state of probes that stay; a checker that cannot be
// built leaves everything as it was.
func TestMonitorUpdateKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{results: make([]bool, 20)} // failing throughout
		other := &scripted{}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(s Spec) (Checker, error) {
			switch s.Target.Port() {
			case 80:
				return c, nil
			case 81:
				return other, nil
			}
			return nil, errors.New("cannot build")
		}})
		if err := m.Update([]Watch{{ID: "a", Spec: spec(80)}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		<-m.Events() // down
		if err := m.Update([]Watch{{ID: "a", Spec: spec(80)}, {ID: "b", Spec: spec(99)}}); err == nil {
			t.Fatal("a checker that cannot be built was accepted")
		}
		if _, ok := m.Up("b"); ok {
			t.Fatal("a failed update changed the watched set")
		}
		if err := m.Update([]Watch{{ID: "a", Spec: spec(80)}, {ID: "b", Spec: spec(81)}}); err != nil {
			t.Fatal(err)
		}
		if up, ok := m.Up("a"); !ok || up {
			t.Errorf("a: up %v known %v; the update must keep it down", up, ok)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		select {
		case ev := <-m.Events():
			t.Errorf("unexpected event %+v", ev)
		default:
		}
		if err := m.Update(nil); err != nil {
			t.Fatal(err)
		}
		if len(m.Status()) != 0 {
			t.Error("probes left after removing every watch")
		}
	})
}

// Changing a check's parameters makes a new probe; it must keep the
// real's state: a dead real came back up at once, at full weight, until
// fall failures later.
func TestMonitorChangedCheckKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := &scripted{results: make([]bool, 100)}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(Spec) (Checker, error) { return failing, nil }})
		if err := m.Update([]Watch{{ID: "web/a", Spec: spec(80)}, {ID: "web/b", Spec: spec(81, func(s *Spec) { s.InitialUp = false })}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		if ev := <-m.Events(); ev.Up {
			t.Fatalf("unexpected %+v", ev)
		}
		slower := func(s *Spec) { s.Interval, s.Path = 2*time.Second, "/health" }
		if err := m.Update([]Watch{{ID: "web/a", Spec: spec(80, slower)}, {ID: "web/b", Spec: spec(81, slower)}}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"web/a", "web/b"} {
			if up, ok := m.Up(id); !ok || up {
				t.Errorf("%s after its check changed: up %v known %v, want down", id, up, ok)
			}
		}
		if st := m.Status(); len(st) != 2 || st[0].Checks == 0 {
			t.Errorf("status after the change: %+v", st)
		}
	})
}

// resultsChecker returns its results in turn, then the last one forever.
type resultsChecker struct {
	mu      sync.Mutex
	results []Result
}

func (c *resultsChecker) Check(context.Context) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.results[0]
	if len(c.results) > 1 {
		c.results = c.results[1:]
	}
	return r
}

// A dynamic weight reaches the subscribers as an event although the
// state does not change; a failure short of fall keeps it, the fall
// drops it, and an exit 0 goes back to the configured weight.
func TestMonitorDynamicWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := func(n int) Result { return Result{Up: true, Dynamic: true, Weight: n} }
		plain, fail := Result{Up: true}, Result{}
		c := &resultsChecker{results: []Result{plain, w(10), w(10), fail, w(20), plain, fail, fail, fail, w(5)}}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(Spec) (Checker, error) { return c, nil }})
		s := spec(80, func(s *Spec) { s.Type, s.DynamicWeight, s.Rise, s.Fall = TypeExec, true, 1, 3 })
		if err := m.Update([]Watch{{ID: "dns/r1", Spec: s}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		type seen struct {
			up     bool
			weight int
			ok     bool
		}
		var got []seen
		for len(got) < 5 {
			ev := <-m.Events()
			wt, ok := m.Weight("dns/r1")
			got = append(got, seen{ev.Up, wt, ok})
		}
		// plain (no event), 10 (event), 10 (none), fail (none, weight
		// kept), 20 (event), plain (event: configured), 3 fails (down),
		// 5 (up at 5).
		want := []seen{{true, 10, true}, {true, 20, true}, {true, 0, false}, {false, 0, false}, {true, 5, true}}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("event %d: %+v, want %+v (all: %+v)", i, got[i], want[i], got)
			}
		}
		if st, _ := m.StatusOf("dns/r1"); !st.Dynamic || st.Weight != 5 {
			t.Errorf("status %+v, want dynamic weight 5", st)
		}
	})
}

// Several checks of one real (several watches with one ID): up while all
// are, each visible on its own, the dynamic weight of the up ones, and a
// check whose parameters change takes over the state of the one in its
// place, not of its sibling.
func TestMonitorSeveralChecksOfOneReal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		results := map[uint16]*resultsChecker{
			80: {results: []Result{{Up: true, Reason: "connected"}}},
			81: {results: []Result{{Up: true, Reason: "exit status 0"}, {Reason: "exit status 1"}, {Up: true, Dynamic: true, Weight: 7}}},
		}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(s Spec) (Checker, error) { return results[s.Target.Port()], nil }})
		one := func(s *Spec) { s.Rise, s.Fall = 1, 1 }
		a, b := spec(80, one), spec(81, one)
		if err := m.Update([]Watch{{ID: "web/r1", Spec: a}, {ID: "web/r1", Spec: b}, {ID: "web/r1", Spec: b}}); err != nil {
			t.Fatal(err)
		}
		if st := m.StatusesOf("web/r1"); len(st) != 2 || st[0].Target != "10.0.0.1:80" || st[1].Target != "10.0.0.1:81" {
			t.Fatalf("statuses %+v, want the two distinct checks in order", st)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		ev := <-m.Events() // 81's exit 1
		if ev.Up {
			t.Fatalf("event %+v, want a down", ev)
		}
		if up, known := m.Up("web/r1"); up || !known {
			t.Errorf("one of two checks down: Up = %v, %v", up, known)
		}
		st, _ := m.StatusOf("web/r1")
		if st.Up || st.Last.Reason != "exit status 1" {
			t.Errorf("combined status %+v, want down as the failing check says", st)
		}
		each := m.StatusesOf("web/r1")
		if !each[0].Up || each[0].Last.Reason != "connected" || each[1].Up {
			t.Errorf("each check: %+v", each)
		}
		<-m.Events() // 81 up at weight 7
		if up, _ := m.Up("web/r1"); !up {
			t.Error("both checks up, the real is not")
		}
		if w, ok := m.Weight("web/r1"); !ok || w != 7 {
			t.Errorf("Weight = %d, %v; want 7", w, ok)
		}
		// 81 goes down; then 80's timeout changes: it is a new probe,
		// heir to 80 (up), not to its down sibling.
		results[81].mu.Lock()
		results[81].results = []Result{{Reason: "exit status 1"}}
		results[81].mu.Unlock()
		if ev := <-m.Events(); ev.Up {
			t.Fatalf("event %+v, want 81 down", ev)
		}
		a2 := spec(80, one, func(s *Spec) { s.Timeout = 400 * time.Millisecond })
		if err := m.Update([]Watch{{ID: "web/r1", Spec: a2}, {ID: "web/r1", Spec: b}}); err != nil {
			t.Fatal(err)
		}
		if each := m.StatusesOf("web/r1"); len(each) != 2 || !each[0].Up || each[0].Last.Reason != "connected" {
			t.Errorf("after the change: %+v, want the new check up with 80's last result", each)
		}
	})
}

// Event.Flipped names a real only when its state changes: not for a
// change of dynamic weight, not for its second check going down while
// the first is down, and again when the last failing check comes up.
func TestMonitorEventFlipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := func(n int) Result { return Result{Up: true, Dynamic: true, Weight: n} }
		results := map[uint16]*resultsChecker{
			// a: weight 10, down, down, up, up...
			80: {results: []Result{w(10), {}, {}, {Up: true}}},
			// b: up, up, down, down, down, up...
			81: {results: []Result{{Up: true}, {Up: true}, {}, {}, {}, {Up: true}}},
		}
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(s Spec) (Checker, error) { return results[s.Target.Port()], nil }})
		one := func(s *Spec) { s.Rise, s.Fall, s.DynamicWeight = 1, 1, true }
		// Each round at most one of the two has an event, so their
		// order within a round does not matter.
		if err := m.Update([]Watch{{ID: "r", Spec: spec(80, one)}, {ID: "r", Spec: spec(81, one)}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		type seen struct {
			port    uint16
			up      bool
			flipped int
		}
		var got []seen
		for len(got) < 5 {
			ev := <-m.Events()
			got = append(got, seen{ev.Spec.Target.Port(), ev.Up, len(ev.Flipped)})
		}
		// a weight 10 (no flip); a down (flip); b down (a is down: no
		// flip); a up (b still down: no flip); b up (flip).
		want := []seen{{80, true, 0}, {80, false, 1}, {81, false, 0}, {80, true, 0}, {81, true, 1}}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("events %+v, want %+v", got, want)
			}
		}
	})
}
