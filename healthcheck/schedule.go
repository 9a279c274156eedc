package healthcheck

import (
	"context"
	"time"
)

// slot is the grid probes are scheduled on: the largest of 50, 20, 10,
// 5, 2 and 1 ms that divides the interval and is at most a tenth of it
// (0, none, for an interval in fractions of a millisecond). Probes due in
// the same slot start on one wake-up of the scheduler, and the next one
// after it: at 1 s, twenty wake-ups a second whatever the number of
// probes, where each probe's own time would be thousands. A wake-up of a
// Go program costs far more than a connect: the runtime wakes a second
// thread and its monitor thread (sysmon) each time. An interval that is
// a multiple of its slot keeps every probe on the grid, so a probe runs
// exactly an interval after the one before it and detection keeps its
// bound, fall × interval + timeout.
func slot(interval time.Duration) time.Duration {
	for _, s := range []time.Duration{50, 20, 10, 5, 2, 1} {
		s *= time.Millisecond
		if interval%s == 0 && s <= interval/10 {
			return s
		}
	}
	return 0
}

// at is t in the probes' and the queue's time: ns from the epoch, on
// the monotonic clock (a step of the wall clock moves no probe).
func (m *Monitor) at(t time.Time) int64 { return int64(t.Sub(m.epoch)) }

// firstRun picks a time in the first interval, on the probe's grid.
// The caller holds m.mu.
func (m *Monitor) firstRun(now time.Time, interval time.Duration) int64 {
	s := slot(interval)
	if s == 0 {
		return m.at(now) + m.rnd.Int64N(int64(max(interval, 1)))
	}
	return onSlot(m.at(now), s) + int64(s)*m.rnd.Int64N(int64(interval/s))
}

// reschedule sets p's next run after a result at now: due an interval
// (or retry_delay, rounded up to the slot) after the previous one was
// due. A result that came after that (a timeout as long as the interval)
// runs the next probe at once, off the grid, but keeps the cadence; one
// more than an interval behind (the scheduler was held up) starts over on
// the grid rather than catch up in a burst. The caller holds m.mu.
func (m *Monitor) reschedule(p *probe, now time.Time) {
	s := slot(p.settings.Interval)
	nowAt := m.at(now)
	due := onSlot(p.due+int64(p.health.nextDelay(p.settings.Interval, p.settings.RetryDelay)), s)
	switch {
	case due >= nowAt:
		p.due, p.next = due, due
	case nowAt-due < int64(p.settings.Interval):
		p.due, p.next = due, nowAt
	default:
		p.due = onSlot(nowAt, s)
		p.next = p.due
	}
}

// enqueue puts p in the queue at its next run. The caller holds m.mu.
func (m *Monitor) enqueue(p *probe) {
	m.queue.push(p.next, p)
}

// onSlot rounds d, ns from the epoch, up to the grid of slot s.
func onSlot(d int64, s time.Duration) int64 {
	n := int64(s)
	if n <= 0 || d%n == 0 {
		return d
	}
	if d < 0 {
		return d - d%n
	}
	return d - d%n + n
}

// connectorFor returns the connector if p is a TCP check it can run,
// starting it with the first such check. The caller holds m.mu.
func (m *Monitor) connectorFor(ctx context.Context, p *probe) *connector {
	if p.checker != nil || p.settings.Type != TypeTCP {
		return nil
	}
	if m.conn != nil && m.conn.stopped() && ctx.Err() == nil {
		// Its wait failed: run the checks on workers from now on.
		m.log.Warn("TCP checks run one goroutine each: their connector stopped")
		m.conn, m.connFailed = nil, true
	}
	if m.conn == nil && !m.connFailed {
		conn, err := newConnector()
		if err != nil {
			m.connFailed = true
			m.log.Warn("TCP checks run one goroutine each", "reason", err)
			return nil
		}
		m.conn = conn
		go conn.run(ctx, m.reaped)
	}
	return m.conn
}

func (m *Monitor) recordConnects(ctx context.Context, batch []connectDone, now time.Time) {
	for _, d := range batch {
		m.record(ctx, probeResult{p: d.tag.(*probe), res: d.res}, now)
	}
}

func (m *Monitor) launchDue(ctx context.Context) {
	now := time.Now()
	done := m.done[:0]
	m.mu.Lock()
	nowAt := int64(now.Sub(m.epoch))
	for n := 0; m.queue.Len() > 0; n++ {
		if at, _ := m.queue.peek(); at > nowAt {
			break
		}
		p := m.queue.pop()
		if p.removed {
			continue // by Update, while it waited in the queue
		}
		p.running = true
		if n%64 == 63 {
			// Hundreds of connects take milliseconds: keep each
			// probe's start, and so its timeout, near the truth
			// without a clock read per probe (a system call where
			// there is no vDSO, as in User-Mode Linux).
			now = time.Now()
			nowAt = int64(now.Sub(m.epoch))
		}
		if conn := m.connectorFor(ctx, p); conn != nil {
			if res, ok := conn.Start(p.target, p.origin(), now, now.Add(p.settings.Timeout), p); ok {
				done = append(done, connectDone{tag: p, res: res})
			}
			continue
		}
		select {
		case m.jobs <- job{p, now}: // an idle worker took it
		default:
			go m.worker(ctx, job{p, now})
		}
	}
	if m.conn != nil {
		// Connects on loopback or a near LAN have often finished
		// already: record them on this wake-up.
		now = time.Now()
		done = m.conn.Reap(now, done)
	}
	m.mu.Unlock()
	m.recordConnects(ctx, done, now)
	// Kept for the next launch: a slice grown anew on every wake-up was
	// half the bytes allocated per check.
	clear(done)
	m.done = done[:0]
}

// workerIdle is how long a probe worker waits for work before it ends.
const workerIdle = 10 * time.Second

// worker runs probes as long as there are some: a goroutine that lives
// on keeps the stack it grew in the dialer, where one per probe would
// grow it again every time. There are as many workers as probes in
// flight, no more.
func (m *Monitor) worker(ctx context.Context, j job) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		m.probe(ctx, j.p, j.start)
		idle.Reset(workerIdle)
		select {
		case j = <-m.jobs:
		case <-idle.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (m *Monitor) probe(ctx context.Context, p *probe, start time.Time) {
	c := p.checker
	if c == nil {
		// A built-in TCP check, here when the connector could not
		// start.
		c = &tcpChecker{target: p.target, from: p.origin()}
	}
	cctx, cancel := context.WithTimeout(ctx, p.settings.Timeout)
	res := c.Check(cctx)
	cancel()
	select {
	case m.results <- probeResult{p: p, res: res}:
	case <-ctx.Done():
	}
}
