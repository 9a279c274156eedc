package vrrp

import (
	"context"
	"reflect"
	"slices"
	"time"
)

// Reload switches the router to cfgs and groups while it runs, touching
// only what changed:
//
//   - an unchanged instance keeps its state: no election, no VIP removed
//     and added back, no gratuitous ARP;
//   - a changed instance is updated in place (priority, advert interval,
//     preemption, VIPs, peers, authentication, tracking, hooks);
//   - an instance whose interface, VRID, version or ownership changed is a
//     new instance: the old one resigns, the new one starts;
//   - removed instances resign with priority 0; new ones start.
//
// Everything that can fail (sockets for new interfaces, addresses) is
// prepared first: on error nothing has changed.
func (r *Router) Reload(ctx context.Context, cfgs []Config, groups []SyncGroup) error {
	var err error
	if cerr := r.call(ctx, func() { err = r.reload(cfgs, groups) }); cerr != nil {
		return cerr
	}
	return err
}

func (r *Router) reload(cfgs []Config, groups []SyncGroup) error {
	now := r.sys.Now()
	type update struct {
		in  *instance
		cfg Config
	}
	var updates []update
	var retire []*instance
	pending := map[ifaceKey]*iface{}
	var built []*instance
	keep := map[string]bool{}
	for _, c := range cfgs {
		old := r.byName[c.Name]
		if old != nil && !sameIdentity(old.cfg, c) {
			retire = append(retire, old)
			old = nil
		}
		if old != nil {
			keep[c.Name] = true
			if !reflect.DeepEqual(old.cfg, c) {
				updates = append(updates, update{old, c})
			}
			continue
		}
		in, err := r.build(c, pending)
		if err != nil {
			for _, ifc := range pending {
				ifc.conn.Close()
			}
			return err
		}
		built = append(built, in)
	}
	for _, in := range r.insts {
		if !keep[in.cfg.Name] && !slices.Contains(retire, in) {
			retire = append(retire, in)
		}
	}
	// Retire first: a VIP may move from a removed instance to a new one.
	// A new instance may be built on the socket of an interface whose
	// last old instance retires here (a rename): that socket stays open.
	needed := map[*iface]bool{}
	for _, in := range built {
		needed[in.ifc] = true
	}
	for _, in := range retire {
		r.retire(now, in, needed)
	}
	for _, u := range updates {
		r.update(now, u.in, u.cfg)
	}
	for _, in := range built {
		r.register(in)
		r.startTrackers(r.bg, in, false)
		r.refreshTracking(now, in)
		r.feed(now, in, Startup{})
	}
	r.setGroups(groups)
	r.applyHolds(now)
	return nil
}

// sameIdentity reports whether b can be applied to an instance running a
// in place.
func sameIdentity(a, b Config) bool {
	return a.Interface == b.Interface && a.VRID == b.VRID && a.Params.Version == b.Params.Version && a.Family() == b.Family() &&
		(a.Params.Priority == 255) == (b.Params.Priority == 255)
}

// retire resigns an instance and takes it out of service, closing its
// interface's socket when no instance uses it any more and none of
// needed (the new instances of a reload) will.
func (r *Router) retire(now time.Time, in *instance, needed map[*iface]bool) {
	r.feed(now, in, Shutdown{})
	in.stopBackground()
	if len(in.cfg.Notify.Stop) > 0 {
		in.notify.queue(hookJob{argv: in.cfg.Notify.Stop, instance: in.cfg.Name, state: hookState(Initialize, true),
			priority: in.fsm.Priority(), timeout: in.cfg.Notify.Timeout, user: in.cfg.Notify.User})
	}
	delete(in.ifc.byVRID, in.cfg.VRID)
	delete(r.byName, in.cfg.Name)
	r.insts = slices.DeleteFunc(r.insts, func(x *instance) bool { return x == in })
	if len(in.ifc.byVRID) == 0 && !needed[in.ifc] {
		in.ifc.conn.Close()
		delete(r.ifaces, in.ifc.key())
	}
	in.log.Info("instance removed by reload")
}

// update applies a changed configuration to a running instance.
func (r *Router) update(now time.Time, in *instance, c Config) {
	old := in.cfg
	in.cfg = c
	in.policy = policyFor(c)
	if c.UnicastSrc != old.UnicastSrc {
		if err := r.resolveSource(in); err != nil {
			in.log.Warn("no source address for adverts", "err", err)
		}
	}
	in.setSource(in.src) // also refreshes the policy's own address
	p := c.Params
	p.Addr = in.src
	in.fsm.SetParams(p)

	if in.fsm.State() == Master && !in.owner() {
		var added []VIP
		for _, v := range c.VIPs {
			if !slices.ContainsFunc(old.VIPs, func(o VIP) bool { return o == v }) {
				if err := r.sys.Addrs.Add(in.dev(v), v); err != nil {
					in.log.Error("cannot add VIP", "vip", v.Prefix.String(), "err", err)
					continue
				}
				added = append(added, v)
			}
		}
		for _, v := range old.VIPs {
			if !slices.ContainsFunc(c.VIPs, func(n VIP) bool { return n == v }) {
				if err := r.sys.Addrs.Remove(in.dev(v), v); err != nil {
					in.log.Error("cannot remove VIP", "vip", v.Prefix.String(), "err", err)
				}
			}
		}
		if len(added) > 0 {
			r.announceNow(in, added)
		}
	}

	if !reflect.DeepEqual(old.TrackInterfaces, c.TrackInterfaces) || !reflect.DeepEqual(old.TrackScripts, c.TrackScripts) ||
		!reflect.DeepEqual(old.TrackFiles, c.TrackFiles) {
		previous := in.tracked
		in.tracked = trackedFor(c)
		for i := range in.tracked {
			for _, o := range previous {
				if o.Kind == in.tracked[i].Kind && o.Name == in.tracked[i].Name {
					in.tracked[i].OK, in.tracked[i].Value = o.OK, o.Value
				}
			}
		}
		if in.background != nil {
			in.background()
		}
		r.startTrackers(r.bg, in, false)
	}
	r.refreshTracking(now, in)
	in.log.Info("instance updated by reload", "priority", c.Params.Priority, "vips", len(c.VIPs))
}
