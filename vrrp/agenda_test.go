package vrrp

import (
	"testing"
	"time"
)

func TestAgendaOrder(t *testing.T) {
	var a agenda
	t0 := time.Unix(1000, 0)
	var got []string
	add := func(name string, d time.Duration) {
		a.at(t0.Add(d), func(time.Time) { got = append(got, name) })
	}
	add("c", 30*time.Millisecond)
	add("a", 10*time.Millisecond)
	add("b1", 20*time.Millisecond)
	add("b2", 20*time.Millisecond) // same time: after b1, scheduled first
	if n := a.next(); !n.Equal(t0.Add(10 * time.Millisecond)) {
		t.Fatalf("next = %v, want +10ms", n.Sub(t0))
	}
	a.runDue(t0.Add(5 * time.Millisecond))
	if len(got) != 0 {
		t.Fatalf("ran %v before anything was due", got)
	}
	// A job may schedule another that is already due: it runs in the
	// same turn, after the jobs due before it.
	a.at(t0.Add(20*time.Millisecond), func(now time.Time) {
		got = append(got, "b3")
		a.at(now, func(time.Time) { got = append(got, "b3-then") })
	})
	a.runDue(t0.Add(25 * time.Millisecond))
	want := []string{"a", "b1", "b2", "b3", "b3-then"}
	if len(got) != len(want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ran %v, want %v", got, want)
		}
	}
	if n := a.next(); !n.Equal(t0.Add(30 * time.Millisecond)) {
		t.Fatalf("next = %v, want +30ms (c)", n.Sub(t0))
	}
	a.runDue(t0.Add(time.Second))
	if !a.next().IsZero() {
		t.Fatal("jobs left after everything was due")
	}
}
