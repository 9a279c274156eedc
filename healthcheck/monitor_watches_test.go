package healthcheck

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// Watches gives back the set Update was given (each watch's checks in
// their order, a shared check under each watcher), so a reload that
// fails after its Update can restore the running set without keeping
// the slice it passed: the restored probes are the same, state and all.
func TestMonitorWatchesRestoresTheSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{results: make([]bool, 20)} // failing throughout
		m := NewMonitor(Options{Rand: fixedRand(), NewChecker: func(Spec) (Checker, error) { return c, nil }})
		running := []Watch{{ID: "b", Spec: spec(82)}, {ID: "b", Spec: spec(81)}, {ID: "a", Spec: spec(80)}, {ID: "c", Spec: spec(80)}}
		if err := m.Update(running); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		for range 3 {
			<-m.Events() // 80, 81 and 82 down
		}
		got := m.Watches()
		want := []Watch{running[2], running[0], running[1], running[3]} // by ID, each ID's checks in order
		if len(got) != len(want) {
			t.Fatalf("Watches() = %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].ID != want[i].ID || got[i].Spec.Key() != want[i].Spec.Key() {
				t.Errorf("Watches()[%d] = %s %s, want %s %s", i, got[i].ID, got[i].Spec.Name(), want[i].ID, want[i].Spec.Name())
			}
		}
		// The reload's set: a's and c's check changed (80 is gone), b's
		// kept; the restore builds 80 again, and it takes the state a's
		// new check inherited.
		if err := m.Update([]Watch{{ID: "a", Spec: spec(90)}, running[0], running[1], {ID: "c", Spec: spec(83)}}); err != nil {
			t.Fatal(err)
		}
		if err := m.Update(got); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a", "b", "c"} {
			if up, ok := m.Up(id); !ok || up {
				t.Errorf("%s after the restore: up %v known %v, want down (its state kept)", id, up, ok)
			}
		}
		if n := m.Len(); n != 3 {
			t.Errorf("%d probes after the restore, want 3", n)
		}
	})
}

// Probes share one copy of the settings their Specs have alike, and
// hand each Spec back whole; settings no probe has any more are let go.
func TestMonitorSharesProbeSettings(t *testing.T) {
	m := NewMonitor(Options{NewChecker: func(Spec) (Checker, error) { return nil, nil }})
	var ws []Watch
	params := &Params{} // one per health_check block, as the daemon makes them
	for i := range 100 {
		s := spec(uint16(1000+i), func(s *Spec) { s.Real, s.Mark, s.Params = s.Target, uint32(i), params })
		if i >= 50 {
			s.Interval = 2 * time.Second
		}
		ws = append(ws, Watch{ID: fmt.Sprint("r", i), Spec: s})
	}
	if err := m.Update(ws); err != nil {
		t.Fatal(err)
	}
	if n := len(m.settings); n != 2 {
		t.Errorf("%d shared settings for two kinds of probe, want 2", n)
	}
	got := m.Watches()
	slices.SortFunc(got, func(a, b Watch) int { return int(a.Spec.Mark) - int(b.Spec.Mark) })
	for i, w := range got {
		if w.Spec != ws[i].Spec {
			t.Fatalf("watch %d: spec %+v, want %+v", i, w.Spec, ws[i].Spec)
		}
	}
	if err := m.Update(ws[:50]); err != nil {
		t.Fatal(err)
	}
	if n := len(m.settings); n != 1 {
		t.Errorf("%d shared settings after the 2 s probes went, want 1", n)
	}
}
