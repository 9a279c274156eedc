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
	for i := range out {
		k.setConns(&out[i])
	}
	return out, err
}

func (k *connKernel) ReadServiceStats(key lvs.ServiceKey) (*lvs.ServiceStats, error) {
	s, err := k.Kernel.ReadServiceStats(key)
	if s != nil {
		k.setConns(s)
	}
	return s, err
}

func (k *connKernel) setConns(s *lvs.ServiceStats) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for j := range s.Dests {
		s.Dests[j].ActiveConns = k.conns[s.Dests[j].Key]
	}
}

// SetActiveConns makes the table report n active connections to dest
// (in every service that has it).
func (d *Daemon) SetActiveConns(dest lvs.DestKey, n uint32) {
	d.conns.mu.Lock()
	defer d.conns.mu.Unlock()
	d.conns.conns[dest] = n
}
