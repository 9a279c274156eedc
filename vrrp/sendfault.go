package vrrp

import (
	"fmt"
	"time"
)

// A director that cannot send adverts must not hold the VIP: its peer
// hears nothing and takes over, and both would answer. After
// sendFailLimit adverts in a row fail, the instance goes to FAULT (its
// VIPs go), and the router reopens the interface's socket, the usual
// cure (the interface was made again under the same name), after
// reopenFirst, doubling up to reopenMax while the sends keep failing.
const (
	sendFailLimit = 3
	reopenFirst   = time.Second
	reopenMax     = 30 * time.Second
)

// advertSent records the outcome of one advert of in (every destination
// tried). It reports whether the instance has just reached the limit;
// the caller then refreshes its tracking once the current actions are
// done, so that a fault never lands between a takeover's steps.
func (r *Router) advertSent(in *instance, err error) bool {
	if err == nil {
		if in.sendFailures > 0 {
			in.log.Info("adverts are sent again", "after_failures", in.sendFailures)
		}
		in.sendFailures = 0
		in.ifc.reopenAfter = 0
		return false
	}
	in.sendFailures++
	if in.sendFailures == 1 || in.sendFailures == sendFailLimit {
		in.log.Error("advert not sent", "interface", in.ifc.name, "consecutive_failures", in.sendFailures, "err", err)
	}
	if in.sendFailures != sendFailLimit {
		return false
	}
	in.sendFault = fmt.Sprintf("%d adverts in a row not sent on %s: %v", sendFailLimit, in.ifc.name, err)
	r.scheduleReopen(in.ifc)
	return true
}

// scheduleReopen has the loop reopen ifc's socket after its back-off.
func (r *Router) scheduleReopen(ifc *iface) {
	if ifc.reopening {
		return
	}
	ifc.reopening = true
	if ifc.reopenAfter == 0 {
		ifc.reopenAfter = reopenFirst
	}
	wait := ifc.reopenAfter
	ifc.reopenAfter = min(2*ifc.reopenAfter, reopenMax)
	gen := ifc.reopens
	r.agenda.at(r.sys.Now().Add(wait), func(now time.Time) {
		// A reload may have closed the interface meanwhile, or a link
		// event reopened the socket already.
		if r.ifaces[ifc.key()] == ifc && ifc.reopens == gen {
			r.reopen(now, ifc, "adverts could not be sent")
		}
	})
}

// reopen replaces ifc's socket with a new one on the interface's current
// index, and clears the send faults of its instances: they start again
// from BACKUP, so a director that still cannot send is master for at most
// sendFailLimit adverts before it is in FAULT again.
func (r *Router) reopen(now time.Time, ifc *iface, why string) {
	ifc.reopening = false
	ifc.reopens++
	conn, err := r.sys.Listen(ifc.name, ifc.fam)
	if err != nil {
		r.log.Error("cannot reopen the VRRP socket; trying again", "interface", ifc.name, "why", why, "err", err)
		r.scheduleReopen(ifc)
		return
	}
	st, _ := r.sys.Watcher.Link(ifc.name)
	ifc.conn.Close()
	ifc.conn, ifc.index = conn, st.Index
	go r.readLoop(ifc, conn)
	r.log.Warn("VRRP socket reopened", "interface", ifc.name, "index", st.Index, "why", why)
	for _, in := range ifc.byVRID {
		in.sendFailures = 0
		if in.sendFault != "" {
			in.sendFault = ""
			r.refreshTracking(now, in)
		}
	}
}
