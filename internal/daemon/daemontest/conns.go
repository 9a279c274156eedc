package daemontest

import (
	"sync"

	"directord/lvs"
	"directord/lvs/lvstest"
)

// connKernel is the in-memory table with connection counts a test sets:
// lvstest reports none, and drain --wait waits on them.
type connKernel struct {
	*lvstest.Kernel
	mu    sync.Mutex
	conns map[lvs.DestKey]uint32
}

func (k *connKernel) ReadStats() ([]lvs.ServiceStats, error) {
	out, err := k.Kernel.ReadStats()
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range out {
		for j := range out[i].Dests {
			out[i].Dests[j].ActiveConns = k.conns[out[i].Dests[j].Key]
		}
	}
	return out, err
}

// SetActiveConns makes the table report n active connections to dest
// (in every service that has it).
func (d *Daemon) SetActiveConns(dest lvs.DestKey, n uint32) {
	d.conns.mu.Lock()
	defer d.conns.mu.Unlock()
	d.conns.conns[dest] = n
}
