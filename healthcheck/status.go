package healthcheck

import (
	"slices"
	"strings"
	"time"
)

// ProbeStatus is a probe as the status view shows it.
type ProbeStatus struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Target      string    `json:"target"`
	Subscribers []string  `json:"subscribers"`
	Up          bool      `json:"up"`
	Last        Result    `json:"last"`
	LastCheck   time.Time `json:"last_check"`
	Since       time.Time `json:"since"`
	Checks      uint64    `json:"checks"`
	// Dynamic and Weight: the weight a dynamic exec check set for an up
	// real, in place of its configured one.
	Dynamic bool `json:"dynamic,omitempty"`
	Weight  int  `json:"weight,omitempty"`
}

// Status describes every probe, sorted by name.
func (m *Monitor) Status() []ProbeStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ProbeStatus, 0, len(m.probes))
	for _, p := range m.probes {
		out = append(out, p.status())
	}
	slices.SortFunc(out, func(a, b ProbeStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// StatusOf describes the probes watch ID subscribes to as one: up while
// all are, and then the first probe's result and times; down as the
// first down probe says. Checks counts the probes of all of them.
func (m *Monitor) StatusOf(id string) (ProbeStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.probesOf(id)
	if len(ps) == 0 {
		return ProbeStatus{}, false
	}
	out := ps[0].status()
	for _, p := range ps {
		if !p.health.up && out.Up {
			checks := out.Checks
			out = p.status()
			out.Checks = checks
		}
	}
	for _, p := range ps[1:] {
		out.Checks += p.checks
	}
	return out, true
}

// StatusesOf describes each probe watch ID subscribes to, in declaration
// order.
func (m *Monitor) StatusesOf(id string) []ProbeStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ProbeStatus
	for _, p := range m.probesOf(id) {
		out = append(out, p.status())
	}
	return out
}

func (p *probe) status() ProbeStatus {
	return ProbeStatus{
		Name: p.spec().Name(), Type: p.settings.Type, Target: p.target.String(),
		Subscribers: slices.Clone(p.subs), Up: p.health.up, Last: p.last,
		LastCheck: p.lastCheck, Since: p.since, Checks: p.checks,
		Dynamic: p.weighted, Weight: p.weight,
	}
}
