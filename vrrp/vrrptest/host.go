package vrrptest

import (
	"context"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"directord/vrrp"
)

// Host is one director's view of the world: its interfaces on the LAN,
// their addresses, and what it announced. It implements vrrp.AddrManager
// and vrrp.Watcher; System gives the router all of it.
type Host struct {
	Name string
	lan  *LAN

	mu        sync.Mutex
	links     map[string]*link
	nextIndex int
	addrs     map[string][]netip.Prefix // by interface
	conns     []*conn                   // in the order they were opened: delivery is deterministic
	linkSubs  []chan vrrp.LinkState
	addrSubs  []chan vrrp.AddrEvent
	sendFail  error
	announced []Announcement
	// crashed freezes the host as kill -9 leaves it (see Crash).
	crashed bool
	files   map[string]string // track files, by path
	lists   int               // List calls
}

type link struct {
	index int
	up    bool
}

// Announcement is one call of Announce.
type Announcement struct {
	At    time.Time
	Dev   string
	Addrs []netip.Addr
}

// AddHost attaches a host with one interface, up, holding addr.
func (l *LAN) AddHost(name, ifname string, addr netip.Prefix) *Host {
	h := &Host{Name: name, lan: l, links: map[string]*link{}, addrs: map[string][]netip.Prefix{}, nextIndex: 2}
	h.AddLink(ifname, addr)
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h
}

// System is the vrrp.System of this host, on the caller's clock (the
// synctest bubble's).
func (h *Host) System() vrrp.System {
	return vrrp.System{Listen: h.listen, Addrs: h, ARP: (*announcer)(h), Watcher: h, Now: time.Now, ReadFile: h.readFile}
}

// WriteFile puts content at path, for a track_file to read.
func (h *Host) WriteFile(path, content string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.files == nil {
		h.files = map[string]string{}
	}
	h.files[path] = content
}

// RemoveFile removes what WriteFile put at path.
func (h *Host) RemoveFile(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.files, path)
}

func (h *Host) readFile(path string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return []byte(c), nil
}

// AddLink makes an interface (again, after DeleteLink: with a new index,
// as the kernel does), up, with addrs, and reports it.
func (h *Host) AddLink(name string, addrs ...netip.Prefix) {
	h.mu.Lock()
	l := &link{index: h.nextIndex, up: true}
	h.nextIndex++
	h.links[name] = l
	h.addrs[name] = slices.Clone(addrs)
	h.mu.Unlock()
	h.emitLink(vrrp.LinkState{Name: name, Index: l.index, Up: true})
	for _, a := range addrs {
		h.emitAddr(vrrp.AddrEvent{LinkIndex: l.index, Addr: a.Addr()})
	}
}

// SetLink brings an interface up or down (its carrier, as a cable pull).
func (h *Host) SetLink(name string, up bool) {
	h.mu.Lock()
	l := h.links[name]
	if l == nil || l.up == up {
		h.mu.Unlock()
		return
	}
	l.up = up
	st := vrrp.LinkState{Name: name, Index: l.index, Up: up}
	h.mu.Unlock()
	h.emitLink(st)
}

// DeleteLink removes an interface and its addresses, as `ip link del`
// does; sockets bound to it go deaf and cannot send.
func (h *Host) DeleteLink(name string) {
	h.mu.Lock()
	l := h.links[name]
	if l == nil {
		h.mu.Unlock()
		return
	}
	delete(h.links, name)
	gone := h.addrs[name]
	delete(h.addrs, name)
	h.mu.Unlock()
	for _, a := range gone {
		h.emitAddr(vrrp.AddrEvent{LinkIndex: l.index, Addr: a.Addr(), Removed: true})
	}
	h.emitLink(vrrp.LinkState{Name: name, Index: l.index, Deleted: true})
}

// Crash freezes the host as kill -9 of its director leaves it: from now
// on what the router does has no effect (nothing is sent or received,
// addresses stay as they are, nothing is announced), so stopping the
// router then leaves its VIPs behind. Revive ends it, for a new router.
func (h *Host) Crash() {
	h.mu.Lock()
	h.crashed = true
	h.mu.Unlock()
}

// Revive undoes Crash.
func (h *Host) Revive() {
	h.mu.Lock()
	h.crashed = false
	h.mu.Unlock()
}

// FailSends makes every send on this host fail with err (nil: succeed).
func (h *Host) FailSends(err error) {
	h.mu.Lock()
	h.sendFail = err
	h.mu.Unlock()
}

// RemoveAddr removes an address as someone else would (networkd
// resetting the interface) and reports it.
func (h *Host) RemoveAddr(dev string, a netip.Addr) {
	h.mu.Lock()
	l := h.links[dev]
	n := len(h.addrs[dev])
	h.addrs[dev] = slices.DeleteFunc(h.addrs[dev], func(p netip.Prefix) bool { return p.Addr() == a })
	removed := l != nil && len(h.addrs[dev]) < n
	h.mu.Unlock()
	if removed {
		h.emitAddr(vrrp.AddrEvent{LinkIndex: l.index, Addr: a, Removed: true})
	}
}

// LoseAddr removes an address without an event, as when the kernel's
// notifications overflowed the subscriber's socket; Resync then says
// events were lost.
func (h *Host) LoseAddr(dev string, a netip.Addr) {
	h.mu.Lock()
	h.addrs[dev] = slices.DeleteFunc(h.addrs[dev], func(p netip.Prefix) bool { return p.Addr() == a })
	h.mu.Unlock()
}

// Resync tells the address subscribers that events may have been lost.
func (h *Host) Resync() { h.emitAddr(vrrp.AddrEvent{Resync: true}) }

// HasAddr reports whether a is on any interface.
func (h *Host) HasAddr(a netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hasAddr(a)
}

func (h *Host) hasAddr(a netip.Addr) bool {
	for _, ps := range h.addrs {
		if slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr() == a }) {
			return true
		}
	}
	return false
}

// Announced returns the announcements so far.
func (h *Host) Announced() []Announcement {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.announced)
}

func (h *Host) emitLink(st vrrp.LinkState) {
	h.mu.Lock()
	subs := slices.Clone(h.linkSubs)
	h.mu.Unlock()
	for _, c := range subs {
		c <- st
	}
}

func (h *Host) emitAddr(ev vrrp.AddrEvent) {
	h.mu.Lock()
	subs := slices.Clone(h.addrSubs)
	h.mu.Unlock()
	for _, c := range subs {
		c <- ev
	}
}

// The vrrp.Watcher side.

// Links streams link changes until ctx ends.
func (h *Host) Links(ctx context.Context) (<-chan vrrp.LinkState, error) {
	return subscribe(ctx, h, &h.linkSubs), nil
}

// Addrs streams address changes until ctx ends.
func (h *Host) Addrs(ctx context.Context) (<-chan vrrp.AddrEvent, error) {
	return subscribe(ctx, h, &h.addrSubs), nil
}

// subscribe adds a channel to subs for as long as ctx lives. Events are
// queued without bound so that the host never blocks on a router.
func subscribe[T any](ctx context.Context, h *Host, subs *[]chan T) <-chan T {
	in := make(chan T, 64)
	out := make(chan T)
	h.mu.Lock()
	*subs = append(*subs, in)
	h.mu.Unlock()
	go func() {
		defer close(out)
		var queue []T
		for {
			var send chan T
			var next T
			if len(queue) > 0 {
				send, next = out, queue[0]
			}
			select {
			case v := <-in:
				queue = append(queue, v)
			case send <- next:
				queue = queue[1:]
			case <-ctx.Done():
				h.mu.Lock()
				*subs = slices.DeleteFunc(*subs, func(c chan T) bool { return c == in })
				h.mu.Unlock()
				return
			}
		}
	}()
	return out
}

// Link reports an interface's current state.
func (h *Host) Link(name string) (vrrp.LinkState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.links[name]
	if l == nil {
		return vrrp.LinkState{Name: name}, fmt.Errorf("link %s: %w", name, syscall.ENODEV)
	}
	return vrrp.LinkState{Name: name, Index: l.index, Up: l.up}, nil
}

// The vrrp.AddrManager side.

// Add adds v to dev; adding one that is there is not an error.
func (h *Host) Add(dev string, v vrrp.VIP) error {
	h.mu.Lock()
	l := h.links[dev]
	if h.crashed {
		h.mu.Unlock()
		return nil
	}
	if l == nil {
		h.mu.Unlock()
		return fmt.Errorf("add %s to %s: %w", v.Prefix, dev, syscall.ENODEV)
	}
	if slices.ContainsFunc(h.addrs[dev], func(p netip.Prefix) bool { return p.Addr() == v.Prefix.Addr() }) {
		h.mu.Unlock()
		return nil
	}
	h.addrs[dev] = append(h.addrs[dev], v.Prefix)
	h.mu.Unlock()
	h.emitAddr(vrrp.AddrEvent{LinkIndex: l.index, Addr: v.Prefix.Addr()})
	return nil
}

// Remove removes v from dev; removing one that is not there is not an
// error.
func (h *Host) Remove(dev string, v vrrp.VIP) error {
	h.mu.Lock()
	l := h.links[dev]
	if l == nil || h.crashed {
		h.mu.Unlock()
		return nil
	}
	n := len(h.addrs[dev])
	h.addrs[dev] = slices.DeleteFunc(h.addrs[dev], func(p netip.Prefix) bool { return p.Addr() == v.Prefix.Addr() })
	removed := len(h.addrs[dev]) < n
	h.mu.Unlock()
	if removed {
		h.emitAddr(vrrp.AddrEvent{LinkIndex: l.index, Addr: v.Prefix.Addr(), Removed: true})
	}
	return nil
}

// List returns dev's addresses of family fam, and counts the call.
func (h *Host) List(dev string, fam vrrp.Family) ([]netip.Addr, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lists++
	if h.links[dev] == nil {
		return nil, fmt.Errorf("link %s: %w", dev, syscall.ENODEV)
	}
	var out []netip.Addr
	for _, p := range h.addrs[dev] {
		if vrrp.FamilyOf(p.Addr()) == fam {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// Lists is how many times List was called: each is a dump of the
// interface's addresses on a real host.
func (h *Host) Lists() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lists
}

// Primary is dev's first address of fam not in except (for IPv6, its
// first link-local one).
func (h *Host) Primary(dev string, fam vrrp.Family, except []netip.Addr) (netip.Addr, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.links[dev] == nil {
		return netip.Addr{}, fmt.Errorf("link %s: %w", dev, syscall.ENODEV)
	}
	for _, p := range h.addrs[dev] {
		a := p.Addr()
		if vrrp.FamilyOf(a) == fam && (fam == vrrp.IPv4 || a.IsLinkLocalUnicast()) && !slices.Contains(except, a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no %s address of its own", dev, fam)
}

// announcer is the host's vrrp.Announcer: it records.
type announcer Host

func (a *announcer) Prepare(string) error { return nil }
func (a *announcer) Close() error         { return nil }

func (a *announcer) Announce(dev string, addrs []netip.Addr) error {
	h := (*Host)(a)
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.links[dev]; l == nil || !l.up {
		return fmt.Errorf("announce on %s: %w", dev, syscall.ENETDOWN)
	}
	if h.crashed {
		return nil
	}
	h.announced = append(h.announced, Announcement{At: time.Now(), Dev: dev, Addrs: slices.Clone(addrs)})
	return nil
}
