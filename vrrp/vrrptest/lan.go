package vrrptest

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"directord/vrrp"
)

// LAN is one broadcast segment. Every interface of every host attached
// to it hears what the others send, subject to the fault model.
type LAN struct {
	mu    sync.Mutex
	hosts []*Host
	rnd   *rand.Rand

	// The fault model, changed with the setters; zero is a perfect wire.
	delay     time.Duration // one-way latency
	jitter    time.Duration // up to this much more, which reorders
	loss, dup float64       // probabilities per delivery
	group     map[*Host]int // partition: hosts talk only within a group

	// Sent counts packets handed to the LAN; Delivered those received.
	sent, delivered int
}

// NewLAN returns a LAN whose random faults come from seed.
func NewLAN(seed uint64) *LAN {
	return &LAN{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), group: map[*Host]int{}}
}

// SetDelay sets the one-way latency and the jitter on top of it.
func (l *LAN) SetDelay(delay, jitter time.Duration) {
	l.mu.Lock()
	l.delay, l.jitter = delay, jitter
	l.mu.Unlock()
}

// SetLoss sets the probability that a delivery is lost, and that one is
// duplicated.
func (l *LAN) SetLoss(loss, dup float64) {
	l.mu.Lock()
	l.loss, l.dup = loss, dup
	l.mu.Unlock()
}

// Partition splits the LAN: hosts in different groups stop hearing each
// other. Hosts not named stay in group 0. Partition() heals it.
func (l *LAN) Partition(groups ...[]*Host) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.group = map[*Host]int{}
	for i, g := range groups {
		for _, h := range g {
			l.group[h] = i + 1
		}
	}
}

// Counts reports the packets sent onto the LAN and delivered from it.
func (l *LAN) Counts() (sent, delivered int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.delivered
}

// carry delivers a packet from src's interface to every other attached
// interface that is up.
func (l *LAN) carry(from *Host, msg []byte, src, dst netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	for _, h := range l.hosts {
		if h == from || l.group[h] != l.group[from] {
			continue
		}
		for _, c := range h.listeners() {
			if c.fam != vrrp.FamilyOf(dst) || (!dst.IsMulticast() && !h.hasAddr(dst)) {
				continue
			}
			copies := 1
			if l.rnd.Float64() < l.loss {
				copies = 0
			} else if l.rnd.Float64() < l.dup {
				copies = 2
			}
			for range copies {
				wait := l.delay
				if l.jitter > 0 {
					wait += time.Duration(l.rnd.Int64N(int64(l.jitter)))
				}
				l.delivered++
				rx := vrrp.Received{Src: src, Dst: dst, TTL: 255, IfIndex: c.index, Data: slices.Clone(msg)}
				if wait <= 0 {
					c.deliver(rx)
				} else {
					time.AfterFunc(wait, func() { c.deliver(rx) })
				}
			}
		}
	}
}
