package lab

import (
	"strings"
	"testing"
	"time"
)

func TestLateFailures(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	phases := []phase{
		{"failover", at(1000), 1400 * time.Millisecond},
		{"real failure", at(4000), 300 * time.Millisecond},
	}
	cases := []struct {
		name string
		req  Request
		late string // substring of the complaint, "" when none
	}{
		{"ok before any fault", Request{Start: at(100), End: at(110), OK: true}, ""},
		{"failed before any fault", Request{Start: at(100), End: at(110), Err: "EOF"}, "before any fault"},
		{"inside the failover window", Request{Start: at(1100), End: at(2000), Err: "EOF"}, ""},
		{"after the failover window", Request{Start: at(3000), End: at(3100), Err: "EOF"}, "failover: a request sent at +2s failed"},
		// Sent before the real was stopped, ended by the stop: the lab
		// blamed the failover phase for it (CI, stop 17).
		{"in flight when the real stops", Request{Start: at(3990), End: at(4010), Err: "EOF"}, ""},
		{"after the real failure window", Request{Start: at(4400), End: at(4500), Err: "EOF"}, "real failure: a request sent at +400ms failed"},
		// Sent inside the window, failed a client timeout later.
		{"sent inside the failover window", Request{Start: at(2300), End: at(3300), Err: "timeout"}, ""},
	}
	for _, c := range cases {
		got := lateFailures(phases, []Request{c.req})
		switch {
		case c.late == "" && len(got) > 0:
			t.Errorf("%s: complained %q", c.name, got)
		case c.late != "" && (len(got) != 1 || !strings.Contains(got[0], c.late)):
			t.Errorf("%s: got %q, want one complaint containing %q", c.name, got, c.late)
		}
	}
}

// The restore window runs until a second after the preempt, however long
// the restarted director took to preempt.
func TestRestoreWindowFollowsThePreempt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	p := restorePhase(at(0), at(1400))
	if got := lateFailures([]phase{p}, []Request{{Start: at(1500), End: at(1700), Err: "connection reset"}}); len(got) > 0 {
		t.Errorf("a failure 300ms after a late preempt: %q", got)
	}
	if got := lateFailures([]phase{p}, []Request{{Start: at(2500), End: at(2600), Err: "EOF"}}); len(got) != 1 {
		t.Errorf("a failure 1.2s after the preempt: %q, want one complaint", got)
	}
	if p := restorePhase(at(0), time.Time{}); p.allowed != time.Second {
		t.Errorf("no preempt: window %s, want 1s", p.allowed)
	}
}
