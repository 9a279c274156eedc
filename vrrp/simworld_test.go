package vrrp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing/synctest"
	"time"

	"directord/vrrp"
	"directord/vrrp/vrrptest"
)

// simDir is one director of a schedule.
type simDir struct {
	name    string
	host    *vrrptest.Host
	addr    netip.Prefix
	cfgs    []vrrp.Config
	groups  []vrrp.SyncGroup
	r       *vrrp.Router
	cancel  context.CancelFunc
	done    chan error
	crashed bool // killed -9: its host keeps what it had
	// stale are addresses a killed director left that its configuration
	// no longer lists: a restart cannot know them (keepalived cannot
	// either), so the checks leave them alone.
	stale     []netip.Addr
	linkDown  bool
	ifaceGone bool
	eth1Down  bool
	trackW    int // weight of eth1; 0 puts it in FAULT while eth1 is down
}

func (d *simDir) alive() bool { return d.r != nil }

// eligible says whether d can be master now: running, with its link,
// and not held in FAULT by tracking.
func (d *simDir) eligible() bool {
	return d.alive() && !d.linkDown && !d.ifaceGone && !(d.eth1Down && d.trackW == 0)
}

func (d *simDir) effPrio(c vrrp.Config) int {
	p := int(c.Params.Priority)
	if d.eth1Down {
		p += d.trackW
	}
	return max(1, min(p, 254))
}

type simTransition struct {
	at       time.Time
	dir      string
	instance string
	to       vrrp.State
	why      vrrp.Reason
	checked  bool
}

// simWorld is one schedule: directors on a LAN, the transitions they
// made, and the faults so far, as intervals.
type simWorld struct {
	rnd   *rand.Rand
	lan   *vrrptest.LAN
	dirs  []*simDir
	logf  func(string, ...any)
	start time.Time

	mu     sync.Mutex
	states map[string]map[string]vrrp.State // director → instance → state
	trans  []*simTransition

	faultFrom, faultTo []time.Time // closed intervals; an open one ends at the zero time
	open               map[string]int
	partitioned, lossy bool
	violations         []string
}

func (w *simWorld) violate(format string, args ...any) {
	msg := fmt.Sprintf("+%s: ", time.Since(w.start).Round(time.Millisecond)) + fmt.Sprintf(format, args...)
	if len(w.violations) < 10 {
		w.violations = append(w.violations, msg)
	}
}

func (w *simWorld) note(format string, args ...any) {
	w.logf("+%-8s %s", time.Since(w.start).Round(time.Millisecond), fmt.Sprintf(format, args...))
}

// fault records a fault now; a toggle's start stays open until its end.
func (w *simWorld) fault(key string, on bool) {
	now := time.Now()
	switch {
	case key == "":
		w.faultFrom, w.faultTo = append(w.faultFrom, now), append(w.faultTo, now)
	case on:
		w.open[key] = len(w.faultFrom)
		w.faultFrom, w.faultTo = append(w.faultFrom, now), append(w.faultTo, time.Time{})
	default:
		if i, ok := w.open[key]; ok {
			w.faultTo[i] = now
			delete(w.open, key)
		}
	}
}

// settled reports whether every fault ended at least simSettle ago.
func (w *simWorld) settled(now time.Time) bool {
	if len(w.open) > 0 {
		return false
	}
	for _, to := range w.faultTo {
		if now.Sub(to) < simSettle {
			return false
		}
	}
	return true
}

// caused reports whether a transition at t falls within a fault or its
// settling time.
func (w *simWorld) caused(t time.Time) bool {
	for i, from := range w.faultFrom {
		to := w.faultTo[i]
		if !t.Before(from) && (to.IsZero() || !t.After(to.Add(simSettle))) {
			return true
		}
	}
	return false
}

var simBase = netip.MustParseAddr("10.0.0.0")

func simVIPFor(vrid uint8, second bool) netip.Prefix {
	b := simBase.As4()
	b[3] = 100 + vrid
	if second {
		b[2] = 1
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 24)
}

// newWorld draws the directors and their instances from seed.
func newWorld(seed uint64, logf func(string, ...any)) *simWorld {
	rnd := rand.New(rand.NewPCG(seed, 0xd1eec70d))
	w := &simWorld{rnd: rnd, lan: vrrptest.NewLAN(seed), logf: logf, start: time.Now(),
		states: map[string]map[string]vrrp.State{}, open: map[string]int{}}
	nDirs := 2 + rnd.IntN(2)
	nVRIDs := 1 + rnd.IntN(3)
	grouped := nVRIDs >= 2 && rnd.IntN(3) == 0
	for i := range nDirs {
		addr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i)}), 24)
		d := &simDir{name: fmt.Sprintf("lb%d", i+1), addr: addr, trackW: []int{0, simTrackNeg}[rnd.IntN(2)]}
		d.host = w.lan.AddHost(d.name, "eth0", addr)
		d.host.AddLink("eth1")
		// A sync group's members share priority and preemption, as
		// they must for the group to have one master.
		prio, preempt := uint8(50+rnd.IntN(200)), rnd.IntN(5) > 0
		for v := range nVRIDs {
			vrid := uint8(v + 1)
			if !grouped || v >= 2 {
				prio, preempt = uint8(50+rnd.IntN(200)), rnd.IntN(5) > 0
			}
			c := vrrp.Config{
				Name: fmt.Sprintf("vr%d", vrid), Interface: "eth0", VRID: vrid,
				Params:          vrrp.Params{Version: 3, Priority: prio, AdvertInterval: simAdvert, Preempt: preempt},
				VIPs:            []vrrp.VIP{{Prefix: simVIPFor(vrid, false)}},
				GARP:            vrrp.GARPConfig{Repeat: 2, Interval: 100 * time.Millisecond},
				TrackInterfaces: []vrrp.TrackInterface{{Name: "eth1", Weight: d.trackW}},
			}
			d.cfgs = append(d.cfgs, c)
		}
		if grouped {
			d.groups = []vrrp.SyncGroup{{Name: "g", Instances: []string{"vr1", "vr2"}}}
		}
		w.dirs = append(w.dirs, d)
		w.states[d.name] = map[string]vrrp.State{}
	}
	for _, d := range w.dirs {
		w.logf("%s %s: %s", d.name, d.addr.Addr(), describe(d))
	}
	return w
}

func describe(d *simDir) string {
	var parts []string
	for _, c := range d.cfgs {
		p := ""
		if !c.Params.Preempt {
			p = " nopreempt"
		}
		parts = append(parts, fmt.Sprintf("%s vrid %d prio %d%s", c.Name, c.VRID, c.Params.Priority, p))
	}
	if len(d.groups) > 0 {
		parts = append(parts, "sync group vr1+vr2")
	}
	return fmt.Sprintf("%v; eth1 weight %d", parts, d.trackW)
}

// startDir runs a router for d.
func (w *simWorld) startDir(d *simDir) {
	r := vrrp.NewRouter(d.host.System(), nil)
	r.OnTransition(func(instance string, to vrrp.State, why vrrp.Reason) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.states[d.name][instance] = to
		w.trans = append(w.trans, &simTransition{at: time.Now(), dir: d.name, instance: instance, to: to, why: why})
		w.note("  %s %s → %s (%s)", d.name, instance, to, why)
	})
	ctx, cancel := context.WithCancel(context.Background())
	d.r, d.cancel, d.done = r, cancel, make(chan error, 1)
	go func() { d.done <- r.Run(ctx, d.cfgs, d.groups) }()
	select {
	case <-r.Ready():
	case err := <-d.done:
		// run refuses to start without its interface: systemd starts
		// it again later.
		if !d.ifaceGone {
			w.violate("%s did not start: %v", d.name, err)
		}
		w.note("%s did not start: %v", d.name, err)
		d.r = nil
	}
}

// stopDir stops d's router: gracefully, or as kill -9 does.
func (w *simWorld) stopDir(d *simDir, crash bool) {
	if crash {
		d.host.Crash()
		d.crashed = true
	}
	d.cancel()
	<-d.done
	d.r = nil
	w.mu.Lock()
	w.states[d.name] = map[string]vrrp.State{}
	w.mu.Unlock()
}

// simulate runs seed's schedule and returns its violations.
func simulate(seed uint64, logf func(string, ...any)) []string {
	w := newWorld(seed, logf)
	w.fault("", true)
	for _, d := range w.dirs {
		w.startDir(d)
	}
	end := w.start.Add(simLength)
	next := w.start.Add(w.gap())
	for now := time.Now(); now.Before(end.Add(simQuiet)); now = time.Now() {
		time.Sleep(simSample)
		synctest.Wait()
		w.check()
		if now = time.Now(); now.Before(end) && !now.Before(next) {
			w.event()
			synctest.Wait()
			next = now.Add(w.gap())
		}
		if !now.Before(end) {
			w.endFaults()
		}
	}
	w.check()
	for _, d := range w.dirs {
		if d.alive() {
			w.stopDir(d, false)
		}
	}
	return w.violations
}

// gap is the time to the next event: mostly short, sometimes long enough
// for the routers to settle.
func (w *simWorld) gap() time.Duration {
	if w.rnd.IntN(3) == 0 {
		return simSettle + time.Duration(w.rnd.Int64N(int64(4*time.Second)))
	}
	return 200*time.Millisecond + time.Duration(w.rnd.Int64N(int64(3*time.Second)))
}

// endFaults lifts every fault still in effect, for the quiet end.
func (w *simWorld) endFaults() {
	for _, d := range w.dirs {
		if d.linkDown {
			w.toggleLink(d)
		}
		if d.ifaceGone {
			w.toggleIface(d)
		}
		if d.eth1Down {
			w.toggleTrack(d)
		}
		if !d.alive() {
			w.restart(d)
		}
	}
	if w.partitioned {
		w.togglePartition()
	}
	if w.lossy {
		w.toggleLoss()
	}
}
