package daemon

import "time"

// SetTableMaxAge changes how old the IPVS table of the status and the
// metrics may be (a second): at a dump's own duration, a flood of
// scrapes keeps one dump always in flight, the worst case for a write.
func SetTableMaxAge(d *Daemon, age time.Duration) {
	d.tables.mu.Lock()
	d.tables.maxAge = age
	d.tables.mu.Unlock()
}
