package lab

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// phase is one part of the scripted scenario: its failures must all fall
// within allowed of its start.
type phase struct {
	name    string
	start   time.Time
	allowed time.Duration
}

// Script runs the fixed scenario (start, kill the master, fail a real,
// restore both) and writes a plain report. It returns whether every
// check held: the master changed, the failed real's weight went to 0 and
// came back, and every request after each failover window succeeded.
func (e *Engine) Script(w io.Writer) bool {
	t0 := e.Started
	line := func(what, format string, args ...any) {
		fmt.Fprintf(w, "%6.1fs  %-12s %s\n", time.Since(t0).Seconds(), what, fmt.Sprintf(format, args...))
	}
	pause := func(d time.Duration) { time.Sleep(d) }
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Fprintf(w, "          FAILED: %s\n", fmt.Sprintf(format, args...))
	}
	mdi := 3*e.Settings.Advert + time.Duration(256-100)*e.Settings.Advert/256
	checkBound := time.Duration(e.Settings.Fall)*e.Settings.CheckInterval + e.Settings.CheckTimeout
	var phases []phase

	first := e.Master()
	if first == nil {
		fmt.Fprintln(w, "no master at start")
		return false
	}
	line("start", "%s MASTER, %s BACKUP; weights %s", first.Host.Name, e.other(first).Host.Name, e.weightList(first))
	pause(3 * time.Second)
	e.traffic(line, time.Time{})

	// Kill the master.
	start := time.Now()
	if _, err := e.KillMaster(); err != nil {
		fail("%v", err)
		return false
	}
	line("kill master", "kill -9 directord on %s", first.Host.Name)
	backup := e.other(first)
	if err := waitUntil(5*time.Second, func() bool { return backup.State("web") == "MASTER" }); err != nil {
		fail("%s did not take over", backup.Host.Name)
		return false
	}
	line("failover", "%s MASTER after %s", backup.Host.Name, time.Since(start).Round(10*time.Millisecond))
	changed := true
	phases = append(phases, phase{"failover", start, mdi + time.Second})
	pause(3 * time.Second)
	e.traffic(line, start)

	// Fail a real server.
	rs := e.Lab.Reals[1]
	start = time.Now()
	if err := e.ToggleReal(1); err != nil {
		fail("%v", err)
		return false
	}
	line("fail "+rs.Name, "%s's HTTP server stopped", rs.Name)
	zeroed := waitUntil(5*time.Second, func() bool { return e.realWeight(backup, rs, 0) })
	if zeroed != nil {
		fail("%s's weight never reached 0", rs.Name)
	} else {
		line("weight 0", "%s weight 0 on %s after %s (bound fall × interval + timeout = %s)", rs.Name, backup.Host.Name,
			time.Since(start).Round(10*time.Millisecond), checkBound)
	}
	phases = append(phases, phase{"real failure", start, time.Since(start)})
	zeroAt := time.Now()
	pause(2 * time.Second)
	e.traffic(line, start)
	for _, c := range e.clients() {
		if n := answered(c.Since(zeroAt), rs.Name); n > 0 {
			fail("%s answered %d requests%s after its weight was 0", rs.Name, n, c.over)
		}
	}

	// Restore both. The window opens before the actions, as the faults'
	// do: a request sent while lb1's directord restarts belongs to the
	// restore (one sent 30 ms before the window, during the restart, was
	// judged a late failure of the real's stop).
	start = time.Now()
	if err := e.Restore(); err != nil {
		fail("%v", err)
		return false
	}
	if err := e.ToggleReal(1); err != nil {
		fail("%v", err)
	}
	line("restore", "directord on %s restarted, %s's HTTP server started", first.Host.Name, rs.Name)
	var preempted time.Time
	if err := waitUntil(10*time.Second, func() bool { return first.State("web") == "MASTER" }); err != nil {
		fail("%s did not become master again", first.Host.Name)
	} else {
		preempted = time.Now()
		line("preempt", "%s MASTER again, %s after the restore", first.Host.Name, preempted.Sub(start).Round(10*time.Millisecond))
	}
	back := waitUntil(10*time.Second, func() bool { return e.realWeight(first, rs, rs.Weight) })
	if back != nil {
		fail("%s's weight never came back", rs.Name)
	} else {
		line("weight back", "%s weight %d on %s, %s after the restore", rs.Name, rs.Weight, first.Host.Name, time.Since(start).Round(10*time.Millisecond))
	}
	phases = append(phases, restorePhase(start, preempted))
	pause(3 * time.Second)
	e.traffic(line, start)
	for _, c := range e.clients() {
		if answered(c.Since(start), rs.Name) == 0 {
			fail("%s got no request%s after it came back", rs.Name, c.over)
		}
	}

	// Every failure must fall inside its phase's window.
	clean := true
	fmt.Fprintln(w)
	for _, c := range e.clients() {
		all := c.Since(time.Time{})
		late := lateFailures(phases, all)
		for _, l := range late {
			fail("%s%s", l, c.over)
		}
		clean = clean && len(late) == 0
		o := Summarize(all)
		fmt.Fprintf(w, "%d requests%s, %d failed, each inside a failover window\n", o.Requests, c.over, o.Failed)
	}
	results := []string{
		verdict(changed, "master change"),
		verdict(zeroed == nil && back == nil, rs.Name+" weight 0 and back"),
		verdict(clean, "every request after each failover window succeeded"),
	}
	fmt.Fprintf(w, "result: %s\n", strings.Join(results, "; "))
	if !ok || !clean {
		// What the directors said is where a failed run is explained.
		for _, d := range e.Directors {
			log := strings.Split(strings.TrimSpace(d.Log()), "\n")
			fmt.Fprintf(w, "\nlast lines of %s's log:\n%s\n", d.Host.Name, strings.Join(log[max(0, len(log)-40):], "\n"))
		}
	}
	return ok && clean
}

// restorePhase is the window after the restore: requests may fail until
// a second after the preempt, when the VIP moves back and connections
// opened through the backup are reset. It is measured from the preempt,
// not from the restart: a loaded machine takes longer to restart the
// director and bring its checks up (a fixed second from the restart
// failed a CI run whose preempt came late).
func restorePhase(start, preempted time.Time) phase {
	if preempted.IsZero() {
		return phase{"restore", start, time.Second}
	}
	return phase{"restore", start, preempted.Sub(start) + time.Second}
}

// lateFailures describes every failed request that no phase's window
// covers. A failure belongs to the last phase that had started when the
// request ended: a request in flight when a real server is stopped fails
// because of that stop, even though it was sent in the phase before. It
// is late when it was sent after its phase's window: one sent inside it
// may fail a whole client timeout later.
func lateFailures(phases []phase, reqs []Request) []string {
	var out []string
	for _, r := range reqs {
		if r.OK {
			continue
		}
		var p *phase
		for i := range phases {
			if !phases[i].start.After(r.End) {
				p = &phases[i]
			}
		}
		switch {
		case p == nil:
			out = append(out, fmt.Sprintf("a request failed before any fault: %s", r.Err))
		case r.Start.After(p.start.Add(p.allowed)):
			out = append(out, fmt.Sprintf("%s: a request sent at +%s failed, after its window of %s: %s",
				p.name, r.Start.Sub(p.start).Round(time.Millisecond), p.allowed, r.Err))
		}
	}
	return out
}

func verdict(good bool, what string) string {
	if good {
		return what + ": ok"
	}
	return what + ": FAILED"
}

func (e *Engine) other(d *Director) *Director {
	for _, x := range e.Directors {
		if x != d {
			return x
		}
	}
	return nil
}

func (e *Engine) weightList(d *Director) string {
	w := e.Weights(d)
	var parts []string
	for _, r := range e.Lab.Reals {
		parts = append(parts, fmt.Sprintf("%s %d", r.Name, w[r.Addr.String()]))
	}
	return strings.Join(parts, ", ")
}

// familyClient is a client of the lab and how the report names it.
type familyClient struct {
	*Client
	over string // "" for IPv4, " over IPv6"
}

// clients are the lab's clients: IPv4, and IPv6 in the dual-stack layout.
func (e *Engine) clients() []familyClient {
	out := []familyClient{{e.Client, ""}}
	if e.Client6 != nil {
		out = append(out, familyClient{e.Client6, " over IPv6"})
	}
	return out
}

// realWeight reports whether r has weight w on d, in each family's
// service.
func (e *Engine) realWeight(d *Director, r *Real, w int) bool {
	ws := e.Weights(d)
	if r.Addr6.IsValid() && ws[r.Addr6.String()] != w {
		return false
	}
	return ws[r.Addr.String()] == w
}

// traffic reports the clients' requests since from.
func (e *Engine) traffic(line func(string, string, ...any), from time.Time) {
	for _, c := range e.clients() {
		e.trafficOf(line, c, from)
	}
}

func (e *Engine) trafficOf(line func(string, string, ...any), c familyClient, from time.Time) {
	reqs := c.Since(from)
	o := Summarize(reqs)
	t := Tally(reqs)
	var names []string
	for n := range t {
		names = append(names, n)
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d", n, t[n]))
	}
	window := ""
	if o.Failed > 0 {
		window = fmt.Sprintf(" within %s", o.Window.Round(10*time.Millisecond))
	}
	what := "traffic"
	if c.over != "" {
		what = "traffic IPv6"
	}
	line(what, "%d requests, %d failed%s; answered by %s", o.Requests, o.Failed, window, strings.Join(parts, ", "))
}

func answered(reqs []Request, real string) int {
	n := 0
	for _, r := range reqs {
		if r.OK && r.Real == real {
			n++
		}
	}
	return n
}
