package vrrp_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"directord/vrrp"
	"directord/vrrp/vrrptest"
)

// event applies one random fault.
func (w *simWorld) event() {
	d := w.dirs[w.rnd.IntN(len(w.dirs))]
	switch k := w.rnd.IntN(100); {
	case k < 12:
		if d.alive() {
			w.note("kill -9 %s", d.name)
			w.stopDir(d, true)
			w.fault("", true)
		} else {
			w.restart(d)
		}
	case k < 22:
		if d.alive() {
			w.note("SIGTERM %s", d.name)
			w.stopDir(d, false)
			w.fault("", true)
		} else {
			w.restart(d)
		}
	case k < 34:
		w.toggleLink(d)
	case k < 44:
		w.togglePartition()
	case k < 52:
		w.toggleLoss()
	case k < 60:
		w.toggleIface(d)
	case k < 70:
		w.toggleTrack(d)
	default:
		w.reload(d)
	}
}

func (w *simWorld) restart(d *simDir) {
	w.note("start %s", d.name)
	if d.crashed {
		d.host.Revive()
		d.crashed = false
		d.stale = nil
		for v := uint8(1); v <= 4; v++ {
			for _, second := range []bool{false, true} {
				a := simVIPFor(v, second).Addr()
				if d.host.HasAddr(a) && !slices.ContainsFunc(d.cfgs, func(c vrrp.Config) bool {
					return slices.ContainsFunc(c.VIPs, func(x vrrp.VIP) bool { return x.Prefix.Addr() == a })
				}) {
					d.stale = append(d.stale, a)
				}
			}
		}
	}
	w.fault("", true)
	w.startDir(d)
}

func (w *simWorld) toggleLink(d *simDir) {
	if d.ifaceGone {
		return
	}
	d.linkDown = !d.linkDown
	w.note("%s eth0 %s", d.name, map[bool]string{true: "down", false: "up"}[d.linkDown])
	d.host.SetLink("eth0", !d.linkDown)
	w.fault("link "+d.name, d.linkDown)
}

func (w *simWorld) toggleIface(d *simDir) {
	if d.linkDown {
		return
	}
	d.ifaceGone = !d.ifaceGone
	if d.ifaceGone {
		w.note("%s eth0 deleted", d.name)
		d.host.DeleteLink("eth0")
	} else {
		w.note("%s eth0 made again", d.name)
		d.host.AddLink("eth0", d.addr)
	}
	w.fault("iface "+d.name, d.ifaceGone)
}

func (w *simWorld) toggleTrack(d *simDir) {
	d.eth1Down = !d.eth1Down
	w.note("%s eth1 (tracked, weight %d) %s", d.name, d.trackW, map[bool]string{true: "down", false: "up"}[d.eth1Down])
	d.host.SetLink("eth1", !d.eth1Down)
	w.fault("track "+d.name, d.eth1Down)
}

func (w *simWorld) togglePartition() {
	w.partitioned = !w.partitioned
	if !w.partitioned {
		w.note("partition healed")
		w.lan.Partition()
		w.fault("partition", false)
		return
	}
	var a, b []*vrrptest.Host
	var names []string
	for i, d := range w.dirs {
		if i == 0 || w.rnd.IntN(2) == 0 {
			a = append(a, d.host)
			names = append(names, d.name)
		} else {
			b = append(b, d.host)
		}
	}
	w.note("partition: %v apart", names)
	w.lan.Partition(a, b)
	w.fault("partition", true)
}

func (w *simWorld) toggleLoss() {
	w.lossy = !w.lossy
	if w.lossy {
		w.note("loss burst: 40%% lost, 10%% duplicated, up to 30 ms reordering")
		w.lan.SetLoss(0.4, 0.1)
		w.lan.SetDelay(0, 30*time.Millisecond)
	} else {
		w.note("loss burst over")
		w.lan.SetLoss(0, 0)
		w.lan.SetDelay(0, 0)
	}
	w.fault("loss", w.lossy)
}

// reload changes one instance of d: a rename, a priority, a second VIP
// added or removed, or (without sync groups) its VRID.
func (w *simWorld) reload(d *simDir) {
	cfgs := slices.Clone(d.cfgs)
	i := w.rnd.IntN(len(cfgs))
	c := cfgs[i]
	c.VIPs = slices.Clone(c.VIPs)
	var what string
	switch k := w.rnd.IntN(4); {
	case k == 0 && len(d.groups) == 0:
		c.Name += "x"
		what = "rename " + cfgs[i].Name + " to " + c.Name
	case k == 1:
		c.Params.Priority = uint8(50 + w.rnd.IntN(200))
		what = fmt.Sprintf("%s priority %d", c.Name, c.Params.Priority)
		if len(d.groups) > 0 && c.VRID <= 2 {
			cfgs[1-i%2].Params.Priority = c.Params.Priority // the group's other member
			what = fmt.Sprintf("sync group priority %d", c.Params.Priority)
		}
	case k == 2 && len(d.groups) == 0 && w.rnd.IntN(3) == 0:
		c.VRID = uint8(1 + w.rnd.IntN(4))
		if slices.ContainsFunc(cfgs, func(o vrrp.Config) bool { return o.VRID == c.VRID }) {
			return
		}
		c.VIPs = []vrrp.VIP{{Prefix: simVIPFor(c.VRID, false)}}
		what = fmt.Sprintf("%s VRID %d", c.Name, c.VRID)
	default:
		if len(c.VIPs) == 1 {
			c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: simVIPFor(c.VRID, true)})
			what = c.Name + " adds " + c.VIPs[1].Prefix.Addr().String()
		} else {
			c.VIPs = c.VIPs[:1]
			what = c.Name + " drops its second VIP"
		}
	}
	cfgs[i] = c
	w.note("reload %s: %s", d.name, what)
	if d.alive() {
		if err := d.r.Reload(context.Background(), cfgs, d.groups); err != nil {
			// A new instance needs its interface's address: with the
			// interface gone the reload is refused and changes nothing.
			if !d.ifaceGone {
				w.violate("reload of %s refused: %v", d.name, err)
			}
			w.note("reload of %s refused: %v", d.name, err)
			return
		}
		w.mu.Lock()
		for name := range w.states[d.name] {
			if !slices.ContainsFunc(cfgs, func(c vrrp.Config) bool { return c.Name == name }) {
				delete(w.states[d.name], name)
			}
		}
		w.mu.Unlock()
	}
	d.cfgs = cfgs
	w.fault("", true)
}

// check tests the invariants at this instant.
func (w *simWorld) check() {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.trans {
		if t.checked {
			continue
		}
		t.checked = true
		if !w.caused(t.at) {
			w.violate("%s %s went %s (%s) with no fault for %s", t.dir, t.instance, t.to, t.why, simSettle)
		}
		if t.to == vrrp.Master {
			w.checkAnnounced(t)
		}
	}
	for _, d := range w.dirs {
		w.checkVIPs(d)
	}
	if w.settled(now) {
		w.checkOneMaster()
	}
}

// checkAnnounced: every takeover is announced at once.
func (w *simWorld) checkAnnounced(t *simTransition) {
	d := w.dir(t.dir)
	if d.crashed || d.linkDown || d.ifaceGone {
		return
	}
	for _, a := range d.host.Announced() {
		if !a.At.Before(t.at) && a.At.Sub(t.at) < time.Millisecond {
			return
		}
	}
	w.violate("%s %s became MASTER (%s) without a gratuitous ARP", t.dir, t.instance, t.why)
}

// checkVIPs: a running director holds exactly the VIPs of the instances
// it is master of.
func (w *simWorld) checkVIPs(d *simDir) {
	if !d.alive() || d.ifaceGone {
		return
	}
	want := map[netip.Addr]string{}
	for _, c := range d.cfgs {
		if w.states[d.name][c.Name] == vrrp.Master {
			for _, v := range c.VIPs {
				want[v.Prefix.Addr()] = c.Name
			}
		}
	}
	for v := uint8(1); v <= 4; v++ {
		for _, second := range []bool{false, true} {
			a := simVIPFor(v, second).Addr()
			if slices.Contains(d.stale, a) {
				continue
			}
			if has := d.host.HasAddr(a); has != (want[a] != "") {
				w.violate("%s holds %s: %v, but is master of %q for it", d.name, a, has, want[a])
			}
		}
	}
}

// checkOneMaster: once settled, each VRID has exactly one master among
// the directors that can be one, and with preemption everywhere it is
// the one with the highest priority (then address).
func (w *simWorld) checkOneMaster() {
	vrids := map[uint8]bool{}
	for _, d := range w.dirs {
		for _, c := range d.cfgs {
			vrids[c.VRID] = true
		}
	}
	for vrid := range vrids {
		var masters []string
		var best []string // the directors with the highest priority
		bestPrio, preemptAll, candidates := -1, true, 0
		for _, d := range w.dirs {
			i := slices.IndexFunc(d.cfgs, func(c vrrp.Config) bool { return c.VRID == vrid })
			if i < 0 || !d.eligible() {
				continue
			}
			c := d.cfgs[i]
			candidates++
			preemptAll = preemptAll && c.Params.Preempt
			// Among equal priorities the higher address wins only
			// between masters (RFC 9568 §6.4.3); a backup does not
			// preempt its equal: any of them may be master.
			switch p := d.effPrio(c); {
			case p > bestPrio:
				best, bestPrio = []string{d.name}, p
			case p == bestPrio:
				best = append(best, d.name)
			}
			if w.states[d.name][c.Name] == vrrp.Master {
				masters = append(masters, d.name)
			}
		}
		switch {
		case candidates > 0 && len(masters) != 1:
			w.violate("VRID %d has masters %v, settled", vrid, masters)
		case candidates > 0 && preemptAll && !slices.Contains(best, masters[0]):
			w.violate("VRID %d: %s is master, but %v have the highest priority (%d) and everyone preempts", vrid, masters[0], best, bestPrio)
		}
	}
}

func (w *simWorld) dir(name string) *simDir {
	for _, d := range w.dirs {
		if d.name == name {
			return d
		}
	}
	return nil
}
