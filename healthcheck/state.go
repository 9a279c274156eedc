package healthcheck

import (
	"math"
	"time"
)

// health is the rise/fall state of one probe: pure, no clock, no I/O.
type health struct {
	// int32: a probe each at 10,000 reals, and no rise or fall
	// (config caps them) comes near.
	rise, fall int32
	okStreak   int32
	failStreak int32
	up         bool
}

func newHealth(initialUp bool, rise, fall int) health {
	return health{up: initialUp, rise: int32(min(max(1, rise), math.MaxInt32)), fall: int32(min(max(1, fall), math.MaxInt32))}
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
