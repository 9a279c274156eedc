package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
)

// Route is one prefix announced, with its attributes.
type Route struct {
	Prefix      netip.Prefix
	Communities []uint32
	MED         uint32
	HasMED      bool
}

// Equal reports whether r and o are the same announcement.
func (r Route) Equal(o Route) bool {
	return r.Prefix == o.Prefix && slices.Equal(r.Communities, o.Communities) && r.HasMED == o.HasMED && r.MED == o.MED
}

func (r Route) String() string {
	s := r.Prefix.String()
	for _, c := range r.Communities {
		s += fmt.Sprintf(" community %d:%d", c>>16, c&0xffff)
	}
	if r.HasMED {
		s += fmt.Sprintf(" med %d", r.MED)
	}
	return s
}

// HostRoute is the /32 or /128 of addr.
func HostRoute(addr netip.Addr) netip.Prefix {
	return netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
}

// Service is one virtual server whose address is announced.
type Service struct {
	Name  string
	Route Route
	// Instance, when set, is the VRRP instance that holds the address:
	// it is announced only while that instance is MASTER here, so the
	// routers send its traffic to the director that has it.
	Instance string
	// Always: the announcement has no quorum of its own (a VRRP VIP
	// announced by its instance), only Instance's mastership.
	Always bool
}

// Speaker is the BGP engine the announcements go through.
type Speaker interface {
	// Announce sends r to every peer, replacing an earlier announcement
	// of the same prefix.
	Announce(ctx context.Context, r Route) error
	// Withdraw takes the prefix back from every peer.
	Withdraw(ctx context.Context, p netip.Prefix) error
}

// Announcer keeps what a Speaker announces equal to the routes of the
// services that have quorum. A prefix several services share is
// announced while any of them has quorum: withdrawing it for one dead
// service would take the others' traffic away too. An address a VRRP
// instance holds is announced only while that instance is MASTER. A service whose quorum
// is not yet known (no reconciler pass since it appeared) is not
// announced, so a starting director draws no traffic before its checks.
// Its methods are not safe for concurrent use.
type Announcer struct {
	sp       Speaker
	services []Service
	up       map[string]bool
	master   map[string]bool // VRRP instances in MASTER here
	have     map[netip.Prefix]Route
	// unsure are the prefixes whose last write failed: it may have taken
	// effect or not, so the next Sync writes them whatever have says.
	unsure  map[netip.Prefix]bool
	stopped bool
}

// NewAnnouncer announces nothing until SetQuorum and Sync.
func NewAnnouncer(sp Speaker, services []Service) *Announcer {
	return &Announcer{sp: sp, services: slices.Clone(services), up: map[string]bool{}, master: map[string]bool{},
		have: map[netip.Prefix]Route{}, unsure: map[netip.Prefix]bool{}}
}

// SetServices replaces the services (a reload); the quorum of those that
// stay is kept.
func (a *Announcer) SetServices(services []Service) {
	a.services = slices.Clone(services)
	keep := map[string]bool{}
	for _, s := range services {
		if up, ok := a.up[s.Name]; ok {
			keep[s.Name] = up
		}
	}
	a.up = keep
}

// SetQuorum records whether a service has quorum on this director.
func (a *Announcer) SetQuorum(name string, up bool) { a.up[name] = up }

// SetMaster records whether a VRRP instance is MASTER on this director.
func (a *Announcer) SetMaster(instance string, master bool) { a.master[instance] = master }

// Want is what should be announced now, by prefix.
func (a *Announcer) Want() map[netip.Prefix]Route {
	want := map[netip.Prefix]Route{}
	if a.stopped {
		return want
	}
	for _, s := range a.services {
		if _, dup := want[s.Route.Prefix]; !dup && (s.Always || a.up[s.Name]) && (s.Instance == "" || a.master[s.Instance]) {
			want[s.Route.Prefix] = s.Route
		}
	}
	return want
}

// Sync announces and withdraws the difference between Want and what was
// announced. A failed write is retried at the next Sync, whether or not
// it took effect.
func (a *Announcer) Sync(ctx context.Context) (announced, withdrawn []Route, err error) {
	want := a.Want()
	var errs []error
	gone := map[netip.Prefix]Route{}
	for p, r := range a.have {
		gone[p] = r
	}
	for p := range a.unsure {
		if _, ok := gone[p]; !ok {
			gone[p] = Route{Prefix: p}
		}
	}
	for _, p := range sortedPrefixes(gone) {
		if _, ok := want[p]; ok {
			continue
		}
		if e := a.sp.Withdraw(ctx, p); e != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", p, e))
			a.unsure[p] = true
			continue
		}
		if _, had := a.have[p]; had {
			withdrawn = append(withdrawn, a.have[p])
		}
		delete(a.have, p)
		delete(a.unsure, p)
	}
	for _, p := range sortedPrefixes(want) {
		r := want[p]
		if old, ok := a.have[p]; ok && old.Equal(r) && !a.unsure[p] {
			continue
		}
		if e := a.sp.Announce(ctx, r); e != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", r, e))
			a.unsure[p] = true
			continue
		}
		a.have[p] = r
		delete(a.unsure, p)
		announced = append(announced, r)
	}
	return announced, withdrawn, errors.Join(errs...)
}

// Stop withdraws everything, and nothing is announced after it.
func (a *Announcer) Stop(ctx context.Context) ([]Route, error) {
	a.stopped = true
	_, withdrawn, err := a.Sync(ctx)
	return withdrawn, err
}

// Announced is what the speaker was told to announce, by prefix order.
func (a *Announcer) Announced() []Route {
	out := make([]Route, 0, len(a.have))
	for _, p := range sortedPrefixes(a.have) {
		out = append(out, a.have[p])
	}
	return out
}

func sortedPrefixes(m map[netip.Prefix]Route) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		if c := ps[i].Addr().Compare(ps[j].Addr()); c != 0 {
			return c < 0
		}
		return ps[i].Bits() < ps[j].Bits()
	})
	return ps
}
