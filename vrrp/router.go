package vrrp

import (
	"context"
	"directord/internal/proc"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Router runs VRRP instances. One goroutine, the loop, owns every state
// machine and carries out their actions, so there are no locks around
// protocol state. Its inputs are events on one channel (received adverts,
// link and address changes, track script results, calls) and its own
// timers (the state machines' deadlines and the agenda: gratuitous ARP
// rounds, track script and file schedules, socket reopening), all on the
// clock of System; its effects go through System. What runs beside it
// only feeds the channel: socket readers, the netlink watchers, the track
// scripts and notify hooks (programs, run through System.Run).
type Router struct {
	log    *slog.Logger
	sys    System
	events chan any

	insts  []*instance
	byName map[string]*instance
	ifaces map[ifaceKey]*iface
	groups map[string][]*instance // instance name → its sync group, itself included
	links  map[int]string         // ifindex → name, from link events

	hooksCtx context.Context
	bg       context.Context // lives as long as Run

	onTransition func(instance string, to State, why Reason)
	agenda       agenda // the loop's own timers

	holdMu  sync.Mutex
	holds   map[string]string // instance → why its preemption is held
	ready   chan struct{}
	stopped chan struct{}
	last    Status // snapshot served after the loop ends
}

// NewRouter returns a router that uses sys. log may be nil.
func NewRouter(sys System, log *slog.Logger) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if sys.Now == nil {
		sys.Now = time.Now
	}
	if sys.Run == nil {
		sys.Run = proc.RunAs
	}
	if sys.ReadFile == nil {
		sys.ReadFile = readSmallFile
	}
	return &Router{
		log:     log,
		sys:     sys,
		events:  make(chan any, 1024),
		byName:  map[string]*instance{},
		ifaces:  map[ifaceKey]*iface{},
		groups:  map[string][]*instance{},
		links:   map[int]string{},
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// ifaceKey names a VRRP socket: one per interface and address family.
type ifaceKey struct {
	name string
	fam  Family
}

// iface is one interface's VRRP socket of one family, and its instances.
type iface struct {
	name string
	fam  Family
	conn PacketConn
	// index is the interface index the socket was opened on: a socket
	// is bound to an index, so an interface deleted and made again under
	// the same name needs a new one.
	index  int
	byVRID map[uint8]*instance
	drops  map[Drop]uint64 // packets no instance claims
	// reopenAfter is the back-off of the next attempt to reopen a
	// socket that cannot send; reopening says one is scheduled, so that
	// the instances sharing the socket make one timer, not one each.
	reopenAfter time.Duration
	reopening   bool
	// reopens counts the socket's reopenings: a reopen job scheduled
	// before the last one (a link event may reopen first) is stale.
	reopens uint64
}

func (ifc *iface) key() ifaceKey { return ifaceKey{ifc.name, ifc.fam} }

// Event types the loop receives.
type (
	rxEvent struct {
		ifc *iface
		rx  Received
	}
	callEvent struct {
		fn   func()
		done chan struct{}
	}
	holdEvent struct{}
)

// OnTransition has fn called on the loop after each state change of an
// instance, with the instance's name, its new state and why. fn must not
// block: the loop is the takeover path. Set it before Run.
func (r *Router) OnTransition(fn func(instance string, to State, why Reason)) {
	r.onTransition = fn
}

// Ready is closed once every instance has started.
func (r *Router) Ready() <-chan struct{} { return r.ready }

// Run starts the instances and runs them until ctx ends. Then every master
// resigns with priority 0, every VIP is removed, the stop hooks run, and
// Run returns nil. An error before the instances start (a missing
// interface, an owner without its addresses) is returned at once and
// changes nothing.
func (r *Router) Run(ctx context.Context, cfgs []Config, groups []SyncGroup) error {
	defer close(r.stopped)
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	r.bg = bg
	hooksCtx, cancelHooks := context.WithCancel(context.Background())
	defer cancelHooks()
	r.hooksCtx = hooksCtx

	pending := map[ifaceKey]*iface{}
	var built []*instance
	for _, c := range cfgs {
		in, err := r.build(c, pending)
		if err != nil {
			for _, ifc := range pending {
				ifc.conn.Close()
			}
			return err
		}
		built = append(built, in)
	}
	for _, in := range built {
		r.register(in)
	}
	r.setGroups(groups)
	if err := r.startWatchers(bg); err != nil {
		r.closeAll()
		return err
	}
	now := r.sys.Now()
	r.applyHolds(now)
	for _, in := range r.insts {
		r.startTrackers(bg, in, true)
		r.refreshTracking(now, in)
		r.feed(now, in, Startup{})
	}
	close(r.ready)
	r.loop(ctx)
	r.shutdown()
	return nil
}

// build makes an instance for c and checks it can run here, without
// changing anything: a socket for a new interface goes into pending, not
// into the router. A reload builds every new instance before it touches
// any, so a failure leaves the running configuration as it was.
func (r *Router) build(c Config, pending map[ifaceKey]*iface) (*instance, error) {
	key := ifaceKey{c.Interface, c.Family()}
	ifc := r.ifaces[key]
	if ifc == nil {
		ifc = pending[key]
	}
	if ifc == nil {
		conn, err := r.sys.Listen(c.Interface, key.fam)
		if err != nil {
			return nil, fmt.Errorf("vrrp instance %q: %w", c.Name, err)
		}
		st, _ := r.sys.Watcher.Link(c.Interface)
		ifc = &iface{name: c.Interface, fam: key.fam, conn: conn, index: st.Index, byVRID: map[uint8]*instance{}, drops: map[Drop]uint64{}}
		pending[key] = ifc
	}
	in := newInstance(c, ifc, r.log)
	if err := r.resolveSource(in); err != nil {
		if c.Family() != IPv6 || c.UnicastSrc.IsValid() {
			return nil, err
		}
		// The kernel makes the link-local address only once the link is
		// up with a carrier (a cable out at boot): the instance starts
		// without a source, in FAULT while its link is down, and the
		// address event that brings one makes the router look again.
		// Refusing would stop every other instance of the daemon too.
		in.log.Warn("no link-local address yet: adverts wait for one", "err", err)
	}
	if in.owner() {
		on := r.addrCache()
		for _, v := range c.VIPs {
			ok, err := on.has(in.dev(v), v.Prefix.Addr())
			if err != nil || !ok {
				return nil, fmt.Errorf("vrrp instance %q: priority 255 makes this router the address owner, but %s is not an address of %s", c.Name, v.Prefix.Addr(), in.dev(v))
			}
		}
	}
	return in, nil
}

// register puts a built instance into service. A VIP left on the
// interface by a crashed run goes first, before we know who is master, or
// two hosts could answer for it.
func (r *Router) register(in *instance) {
	c := in.cfg
	if r.ifaces[in.ifc.key()] == nil {
		r.ifaces[in.ifc.key()] = in.ifc
		go r.readLoop(in.ifc, in.ifc.conn)
	}
	if !in.owner() {
		on := r.addrCache()
		for _, v := range c.VIPs {
			if ok, _ := on.has(in.dev(v), v.Prefix.Addr()); ok {
				if err := r.sys.Addrs.Remove(in.dev(v), v); err != nil {
					in.log.Error("cannot remove a VIP left by an earlier run", "vip", v.Prefix.String(), "err", err)
					continue
				}
				in.log.Warn("removed a VIP left by an earlier run", "vip", v.Prefix.String(), "dev", in.dev(v))
			}
		}
	}
	for _, v := range c.VIPs {
		if FamilyOf(v.Prefix.Addr()) == IPv6 {
			// The ARP socket needs an IPv4 address on dev; neighbour
			// advertisements open their own on first use.
			continue
		}
		if err := r.sys.ARP.Prepare(in.dev(v)); err != nil {
			in.log.Warn("cannot open the gratuitous ARP socket yet", "dev", in.dev(v), "err", err)
		}
	}
	in.notify = newNotifier(r.hooksCtx, in.log, r.sys.Run)
	in.ifc.byVRID[c.VRID] = in
	r.insts = append(r.insts, in)
	r.byName[c.Name] = in
}

// setGroups indexes the sync groups by member.
func (r *Router) setGroups(groups []SyncGroup) {
	r.groups = map[string][]*instance{}
	for _, g := range groups {
		var members []*instance
		for _, n := range g.Instances {
			if in := r.byName[n]; in != nil {
				members = append(members, in)
			}
		}
		for _, m := range members {
			r.groups[m.cfg.Name] = members
		}
	}
}

// resolveSource picks the advert source: unicast_src, or the interface's
// primary address that is not a VIP.
func (r *Router) resolveSource(in *instance) error {
	src := in.cfg.UnicastSrc
	if !src.IsValid() {
		var err error
		// An owner's VIPs are its own addresses: one of them is the
		// source. Anyone else's must never be.
		var except []netip.Addr
		if !in.owner() {
			except = in.vipAddrs()
		}
		src, err = r.sys.Addrs.Primary(in.cfg.Interface, in.cfg.Family(), except)
		if err != nil && !errors.Is(err, ErrTentative) {
			return fmt.Errorf("vrrp instance %q: %w", in.cfg.Name, err)
		}
		in.srcTentative = err != nil
	}
	in.setSource(src)
	return nil
}

func (r *Router) startWatchers(ctx context.Context) error {
	links, err := r.sys.Watcher.Links(ctx)
	if err != nil {
		return err
	}
	addrs, err := r.sys.Watcher.Addrs(ctx)
	if err != nil {
		return err
	}
	go forward(ctx, links, r.events)
	go forward(ctx, addrs, r.events)
	return nil
}

func forward[T any](ctx context.Context, in <-chan T, out chan<- any) {
	for v := range in {
		select {
		case out <- v:
		case <-ctx.Done():
			return
		}
	}
}

// readLoop hands what conn receives to the loop until conn is closed.
// It takes conn rather than reading ifc.conn, which the loop replaces
// when it reopens the socket.
func (r *Router) readLoop(ifc *iface, conn PacketConn) {
	buf := make([]byte, 9000)
	for {
		rx, err := conn.Receive(buf)
		if err != nil {
			return // closed
		}
		rx.Data = slices.Clone(rx.Data)
		select {
		case r.events <- rxEvent{ifc: ifc, rx: rx}:
		case <-r.bg.Done():
			return
		}
	}
}

// refreshTracking recomputes priority and fault from the tracked objects
// and from whether adverts can be sent.
func (r *Router) refreshTracking(now time.Time, in *instance) {
	prio, fault, cause := EffectivePriority(in.cfg.Params.Priority, in.tracked)
	if in.sendFault != "" && !fault {
		fault, cause = true, in.sendFault
	}
	if fault != in.fsm.fault {
		if fault {
			in.log.Warn("tracking puts the instance in fault", "cause", cause)
		} else {
			in.log.Info("tracking fault cleared")
		}
	}
	in.faultCause = cause
	if !in.owner() && prio != in.fsm.Priority() {
		in.log.Info("effective priority changed", "from", in.fsm.Priority(), "to", prio)
		r.feed(now, in, PriorityChanged{prio})
	}
	changed := fault != in.fsm.fault
	r.feed(now, in, FaultChanged{fault})
	if changed {
		r.groupFaults(now, in)
	}
}

// HoldPreemption holds the preemption of the named instances, each with
// a reason, and releases every other (see PreemptHold). It never blocks:
// the loop applies the latest holds when it gets to them.
func (r *Router) HoldPreemption(holds map[string]string) {
	r.holdMu.Lock()
	r.holds = maps.Clone(holds)
	r.holdMu.Unlock()
	select {
	case r.events <- holdEvent{}:
	default:
	}
}

// applyHolds feeds each instance its hold. A sync group moves together,
// so a member held holds every member: one that preempted would drag
// the held one to MASTER with it (a group changes state on any member's
// protocol decision).
func (r *Router) applyHolds(now time.Time) {
	r.holdMu.Lock()
	holds := r.holds
	r.holdMu.Unlock()
	own := func(in *instance) string {
		if why := holds[in.cfg.Name]; why != "" {
			return why
		}
		if in.srcTentative || !in.src.IsValid() {
			// Its adverts would fail until DAD ends, and three failed
			// sends put it (and its sync group) in FAULT: a takeover
			// from a live master waits. One from a dead master does not.
			return "its link-local address is missing or still in duplicate address detection"
		}
		return ""
	}
	for _, in := range r.insts {
		why := own(in)
		for _, m := range r.groups[in.cfg.Name] {
			if why == "" && m != in && own(m) != "" {
				why = "sync group member " + m.cfg.Name + ": " + own(m)
			}
		}
		if (why != "") == in.fsm.Held() && why == in.holdReason {
			continue
		}
		if why != "" {
			in.log.Warn("preemption held: this director could not serve the VIPs", "why", why)
		} else {
			in.log.Info("preemption released")
		}
		in.holdReason = why
		r.feed(now, in, PreemptHold{Hold: why != ""})
	}
}

// call runs fn on the loop and waits for it; it fails once the loop is
// gone.
func (r *Router) call(ctx context.Context, fn func()) error {
	ev := callEvent{fn: fn, done: make(chan struct{})}
	select {
	case r.events <- ev:
	case <-r.stopped:
		return errors.New("vrrp: router stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ev.done:
		return nil
	case <-r.stopped:
		return errors.New("vrrp: router stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown resigns every instance, runs the stop hooks (each bounded by
// its timeout) and closes the sockets.
func (r *Router) shutdown() {
	now := r.sys.Now()
	var waits []chan struct{}
	for _, in := range r.insts {
		r.feed(now, in, Shutdown{})
		if len(in.cfg.Notify.Stop) > 0 {
			done := make(chan struct{})
			in.notify.queue(hookJob{argv: in.cfg.Notify.Stop, instance: in.cfg.Name, state: hookState(Initialize, true),
				priority: in.fsm.Priority(), timeout: in.cfg.Notify.Timeout, user: in.cfg.Notify.User, done: done})
			waits = append(waits, done)
		}
	}
	r.last = r.snapshot()
	for _, w := range waits {
		<-w
	}
	r.closeAll()
}

func (r *Router) closeAll() {
	for _, in := range r.insts {
		in.stopBackground()
	}
	for _, ifc := range r.ifaces {
		ifc.conn.Close()
	}
	if r.sys.ARP != nil {
		r.sys.ARP.Close()
	}
}
