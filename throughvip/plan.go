package throughvip

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// RulePriority is where the rules go: before the main table (32766) and
// after the local one (0), clear of the low numbers other tools pick.
const RulePriority = 1000

// Steer is one real server checked through one or more VIPs.
type Steer struct {
	Mark uint32
	Real netip.Addr
	VIPs []netip.Addr
	// Via and Link are the next hop towards Real (Real itself when it is
	// on the link, as a direct-routing real must be) and its interface.
	Via  netip.Addr
	Link int
}

// Range is the marks this package owns: m & Mask == Value.
type Range struct{ Value, Mask uint32 }

// Contains reports whether m is one of the range's marks.
func (r Range) Contains(m uint32) bool { return m&r.Mask == r.Value && m != r.Value }

// Rule is "fwmark Mark lookup Mark" for one family.
type Rule struct {
	IPv6 bool
	Mark uint32
}

func (r Rule) String() string {
	fam := "inet"
	if r.IPv6 {
		fam = "inet6"
	}
	return fmt.Sprintf("%s rule fwmark %#x lookup %d", fam, r.Mark, r.Mark)
}

// Route is a VIP through the next hop towards a real, in table Mark.
type Route struct {
	Mark uint32
	VIP  netip.Addr
	Via  netip.Addr
	Link int
}

func (r Route) String() string {
	return fmt.Sprintf("route %s via %s dev #%d onlink table %d", r.VIP, r.Via, r.Link, r.Mark)
}

// State is a set of rules and routes.
type State struct {
	Rules  []Rule
	Routes []Route
}

// Want is the state steers call for.
func Want(steers []Steer) State {
	var s State
	for _, st := range steers {
		fams := map[bool]bool{}
		for _, v := range st.VIPs {
			fams[v.Is6()] = true
			s.Routes = append(s.Routes, Route{Mark: st.Mark, VIP: v, Via: st.Via, Link: st.Link})
		}
		for _, v6 := range []bool{false, true} {
			if fams[v6] {
				s.Rules = append(s.Rules, Rule{IPv6: v6, Mark: st.Mark})
			}
		}
	}
	s.sort()
	return s
}

func (s *State) sort() {
	slices.SortFunc(s.Rules, func(a, b Rule) int { return cmp.Compare(a.String(), b.String()) })
	s.Rules = slices.Compact(s.Rules)
	slices.SortFunc(s.Routes, func(a, b Route) int { return cmp.Compare(a.String(), b.String()) })
	s.Routes = slices.Compact(s.Routes)
}

// Changes is what turns one state into another. Deletes come first, so a
// route that changed its real is removed before its replacement is added
// (both have the same destination in the same table).
type Changes struct {
	DelRoutes []Route
	DelRules  []Rule
	AddRules  []Rule
	AddRoutes []Route
}

// Empty reports whether there is nothing to do.
func (c Changes) Empty() bool {
	return len(c.DelRoutes)+len(c.DelRules)+len(c.AddRules)+len(c.AddRoutes) == 0
}

// Plan compares what is installed with what is wanted: everything in have
// that want lacks is deleted (a route whose next hop changed is deleted
// and added again), everything missing is added.
func Plan(have, want State) Changes {
	var c Changes
	c.DelRoutes = minus(have.Routes, want.Routes)
	c.AddRoutes = minus(want.Routes, have.Routes)
	c.DelRules = minus(have.Rules, want.Rules)
	c.AddRules = minus(want.Rules, have.Rules)
	return c
}

// Keep drops from c the deletes of marks in keep: a real whose next hop
// could not be looked up keeps the rule and routes it had.
func (c Changes) Keep(keep map[uint32]bool) Changes {
	if len(keep) == 0 {
		return c
	}
	c.DelRoutes = slices.DeleteFunc(c.DelRoutes, func(r Route) bool { return keep[r.Mark] })
	c.DelRules = slices.DeleteFunc(c.DelRules, func(r Rule) bool { return keep[r.Mark] })
	return c
}

func minus[T comparable](a, b []T) []T {
	var out []T
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
