package throughvip

import (
	"net/netip"
	"slices"
	"testing"
)

var (
	vip4 = netip.MustParseAddr("10.0.0.100")
	vip6 = netip.MustParseAddr("2001:db8::100")
	rs1  = netip.MustParseAddr("10.0.0.11")
	rs2  = netip.MustParseAddr("10.0.0.12")
	rs6  = netip.MustParseAddr("2001:db8::11")
)

// One rule per mark and family in use, one route per VIP; the same VIP
// twice is one route.
func TestWant(t *testing.T) {
	got := Want([]Steer{
		{Mark: 2, Real: rs2, VIPs: []netip.Addr{vip4}, Via: rs2, Link: 3},
		{Mark: 1, Real: rs1, VIPs: []netip.Addr{vip4, vip4}, Via: rs1, Link: 3},
		{Mark: 5, Real: rs6, VIPs: []netip.Addr{vip6}, Via: rs6, Link: 3},
	})
	wantRules := []Rule{{Mark: 1}, {Mark: 2}, {IPv6: true, Mark: 5}}
	if !slices.Equal(got.Rules, wantRules) {
		t.Errorf("rules %v, want %v", got.Rules, wantRules)
	}
	wantRoutes := []Route{
		{Mark: 1, VIP: vip4, Via: rs1, Link: 3},
		{Mark: 2, VIP: vip4, Via: rs2, Link: 3},
		{Mark: 5, VIP: vip6, Via: rs6, Link: 3},
	}
	if !slices.Equal(got.Routes, wantRoutes) {
		t.Errorf("routes %v, want %v", got.Routes, wantRoutes)
	}
}

// Plan touches only what differs: a real gone loses its rule and route,
// a new one gains them, a next hop that moved is replaced, and the same
// state twice is nothing to do.
func TestPlan(t *testing.T) {
	have := Want([]Steer{
		{Mark: 1, Real: rs1, VIPs: []netip.Addr{vip4}, Via: rs1, Link: 3},
		{Mark: 2, Real: rs2, VIPs: []netip.Addr{vip4}, Via: rs2, Link: 3},
	})
	if c := Plan(have, have); !c.Empty() {
		t.Errorf("same state: %+v", c)
	}
	want := Want([]Steer{
		{Mark: 1, Real: rs1, VIPs: []netip.Addr{vip4}, Via: rs1, Link: 4},
		{Mark: 3, Real: rs2, VIPs: []netip.Addr{vip4}, Via: rs2, Link: 3},
	})
	c := Plan(have, want)
	if !slices.Equal(c.DelRules, []Rule{{Mark: 2}}) || !slices.Equal(c.AddRules, []Rule{{Mark: 3}}) {
		t.Errorf("rules: del %v add %v", c.DelRules, c.AddRules)
	}
	wantDel := []Route{{Mark: 1, VIP: vip4, Via: rs1, Link: 3}, {Mark: 2, VIP: vip4, Via: rs2, Link: 3}}
	wantAdd := []Route{{Mark: 1, VIP: vip4, Via: rs1, Link: 4}, {Mark: 3, VIP: vip4, Via: rs2, Link: 3}}
	if !slices.Equal(c.DelRoutes, wantDel) || !slices.Equal(c.AddRoutes, wantAdd) {
		t.Errorf("routes: del %v add %v", c.DelRoutes, c.AddRoutes)
	}
	if c := Plan(have, State{}); len(c.DelRules) != 2 || len(c.DelRoutes) != 2 || len(c.AddRules)+len(c.AddRoutes) != 0 {
		t.Errorf("to nothing: %+v", c)
	}
}

func TestRange(t *testing.T) {
	r := Range{Value: 0x44490000, Mask: 0xffff0000}
	for m, want := range map[uint32]bool{0x44490001: true, 0x4449ffff: true, 0x44490000: false, 0x444a0001: false, 7: false} {
		if r.Contains(m) != want {
			t.Errorf("Contains(%#x) = %v", m, !want)
		}
	}
}
