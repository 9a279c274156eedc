package vrrp

// The loop: the one goroutine that owns every state machine. It wakes for
// received adverts, link and address events, calls from outside, the
// earliest protocol deadline and the earliest job of the agenda.

import (
	"context"
	"runtime"
	"time"
)

// loop carries out the protocol until ctx ends.
func (r *Router) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due := r.armTimer(timer)
		select {
		case <-ctx.Done():
			return
		case ev := <-r.events:
			r.dispatch(ev)
		case <-timer.C:
			if !r.waitUntil(ctx, due) {
				continue
			}
			// The state machines first: a takeover must not wait
			// behind a gratuitous ARP round or a socket reopen.
			now := r.sys.Now()
			for _, in := range r.insts {
				if d := in.fsm.Deadline(); !d.IsZero() && !now.Before(d) {
					r.feed(now, in, Tick{})
				}
			}
			r.agenda.runDue(now)
		}
	}
}

// masterDownEarly is how long before a backup's master-down deadline the
// loop wakes. Go's timers fire up to about a millisecond late (the
// runtime's poller sleeps in whole milliseconds), which would put every
// takeover past Master_Down_Interval; the rest is waited out on the CPU
// by waitUntil. The deadline is reached only when the master is gone or
// resigned, so the wait is rare.
const masterDownEarly = 2 * time.Millisecond

// armTimer sets t for the earliest deadline or job, early for a backup's
// deadline, and returns that deadline.
func (r *Router) armTimer(t *time.Timer) (due time.Time) {
	var wake time.Time
	for _, in := range r.insts {
		d := in.fsm.Deadline()
		if d.IsZero() {
			continue
		}
		w := d
		if in.fsm.State() == Backup {
			w = d.Add(-r.sys.EarlyWake)
		}
		if wake.IsZero() || w.Before(wake) {
			wake, due = w, d
		}
	}
	if j := r.agenda.next(); !j.IsZero() && (wake.IsZero() || j.Before(wake)) {
		wake, due = j, j
	}
	wait := time.Hour
	if !wake.IsZero() {
		wait = max(0, wake.Sub(r.sys.Now()))
	}
	t.Reset(wait)
	return due
}

// waitUntil spins until due, handing any event that arrives meanwhile to
// dispatch and reporting false then: an advert that lands in the last
// millisecond must still count.
func (r *Router) waitUntil(ctx context.Context, due time.Time) bool {
	for r.sys.Now().Before(due) {
		select {
		case <-ctx.Done():
			return false
		case ev := <-r.events:
			r.dispatch(ev)
			return false
		default:
			runtime.Gosched()
		}
	}
	return true
}

func (r *Router) dispatch(ev any) {
	now := r.sys.Now()
	switch e := ev.(type) {
	case rxEvent:
		r.receive(e.ifc, e.rx)
	case LinkState:
		r.links[e.Index] = e.Name
		for _, fam := range []Family{IPv4, IPv6} {
			if ifc := r.ifaces[ifaceKey{e.Name, fam}]; ifc != nil && !e.Deleted && e.Index != ifc.index {
				r.reopen(now, ifc, "the interface was made again")
			}
		}
		for _, in := range r.insts {
			if in.setTracked(TrackKindInterface, e.Name, e.Up, 0) {
				r.refreshTracking(now, in)
			}
		}
		if e.Up {
			r.sourcesOn(e.Name)
		}
	case AddrEvent:
		r.addrChanged(e)
	case scriptResult:
		r.scriptDone(now, e)
	case fileResult:
		r.fileRead(now, e)
	case callEvent:
		e.fn()
		close(e.done)
	case holdEvent:
		r.applyHolds(now)
	}
}

// receive applies the receive rules and feeds an accepted advert.
func (r *Router) receive(ifc *iface, rx Received) {
	p, drop, vrid := Decode(rx)
	var in *instance
	if vrid >= 0 {
		in = ifc.byVRID[uint8(vrid)]
	}
	if drop == "" && in == nil {
		drop = DropVRID
	}
	if drop == "" {
		var mismatch bool
		drop, mismatch = in.policy.Check(p, rx.Src, rx.TTL)
		if drop == "" && mismatch {
			in.stats.addrMismatch++
			in.log.Warn("advert lists other addresses than ours: check the VIPs on both routers",
				"from", rx.Src.String(), "theirs", p.Addrs, "ours", in.vipAddrs())
		}
	}
	if drop != "" {
		if in != nil {
			in.stats.drops[drop]++
		} else {
			ifc.drops[drop]++
		}
		r.log.Debug("advert dropped", "interface", ifc.name, "from", rx.Src.String(), "reason", string(drop), "vrid", vrid)
		return
	}
	in.stats.received++
	r.feed(rx.At, in, AdvertReceived{Src: rx.Src, Priority: p.Priority, Interval: p.Interval})
}

// addrChanged restores a VIP that something else removed while we are
// master (NetworkManager or systemd-networkd resetting an interface:
// keepalived #836, #2479), and follows changes of primary addresses.
func (r *Router) addrChanged(e AddrEvent) {
	if e.Resync {
		r.restoreVIPs()
		for _, in := range r.insts {
			if !in.cfg.UnicastSrc.IsValid() {
				if err := r.resolveSource(in); err != nil {
					in.log.Warn("no source address for adverts", "err", err)
				}
			}
		}
		r.applyHolds(r.sys.Now())
		return
	}
	dev := r.links[e.LinkIndex]
	for _, in := range r.insts {
		for _, v := range in.cfg.VIPs {
			if v.Prefix.Addr() != e.Addr || in.dev(v) != dev {
				continue
			}
			if e.Removed && in.fsm.State() == Master && !in.owner() {
				if err := r.sys.Addrs.Add(dev, v); err != nil {
					in.log.Error("cannot restore a removed VIP", "vip", v.Prefix.String(), "err", err)
					continue
				}
				in.stats.vipRestored++
				in.log.Warn("VIP was removed by someone else while master: restored", "vip", v.Prefix.String(), "dev", dev)
				r.announceNow(in, []VIP{v})
			}
			return
		}
	}
	r.sourcesOn(dev)
}

// sourcesOn looks again for the advert sources on dev, and holds or
// releases preemption as they are in DAD or out of it. The kernel
// announces an IPv6 address only once DAD is over, so the link coming up
// is when a link-local address appears, tentative.
func (r *Router) sourcesOn(dev string) {
	for _, in := range r.insts {
		if in.cfg.Interface == dev && !in.cfg.UnicastSrc.IsValid() {
			if err := r.resolveSource(in); err != nil {
				in.log.Warn("no source address for adverts", "err", err)
			}
		}
	}
	r.applyHolds(r.sys.Now())
}

// restoreVIPs puts back every VIP a master lacks: the address events that
// would have said it was removed may have been lost.
func (r *Router) restoreVIPs() {
	on := r.addrCache()
	for _, in := range r.insts {
		if in.fsm.State() != Master || in.owner() {
			continue
		}
		var restored []VIP
		for _, v := range in.cfg.VIPs {
			if has, err := on.has(in.dev(v), v.Prefix.Addr()); err != nil || has {
				continue
			}
			if err := r.sys.Addrs.Add(in.dev(v), v); err != nil {
				in.log.Error("cannot restore a removed VIP", "vip", v.Prefix.String(), "err", err)
				continue
			}
			in.stats.vipRestored++
			in.log.Warn("VIP was removed while address events were lost: restored", "vip", v.Prefix.String())
			restored = append(restored, v)
		}
		if len(restored) > 0 {
			r.announceNow(in, restored)
		}
	}
}
