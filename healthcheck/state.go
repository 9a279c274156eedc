package healthcheck

import "time"

// health is the rise/fall state of one probe: pure, no clock, no I/O.
type health struct {
	up         bool
	rise, fall int
	okStreak   int
	failStreak int
}

func newHealth(initialUp bool, rise, fall int) health {
	return health{up: initialUp, rise: max(1, rise), fall: max(1, fall)}
}

// apply records one result and reports whether the state changed: up
// after rise successes in a row, down after fall failures in a row.
func (h *health) apply(ok bool) (changed bool) {
	if ok {
		h.okStreak++
		h.failStreak = 0
		if !h.up && h.okStreak >= h.rise {
			h.up, h.okStreak = true, 0
			return true
		}
		return false
	}
	h.failStreak++
	h.okStreak = 0
	if h.up && h.failStreak >= h.fall {
		h.up, h.failStreak = false, 0
		return true
	}
	return false
}

// nextDelay is the wait before the next probe: retry_delay while an up
// target is failing but not yet down (keepalived's delay_before_retry),
// the interval otherwise.
func (h *health) nextDelay(interval, retryDelay time.Duration) time.Duration {
	if h.up && h.failStreak > 0 {
		return retryDelay
	}
	return interval
}
