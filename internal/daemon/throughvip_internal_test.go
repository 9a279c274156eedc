package daemon

import (
	"net/netip"
	"slices"
	"testing"

	"directord/throughvip"
)

// A reload's union of running and new steers keeps one per mark, the new
// configuration's where both have it (a mark that moved to another real).
func TestMergeByMark(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	old := []throughvip.Steer{{Mark: 1, Real: a}, {Mark: 2, Real: b}}
	now := []throughvip.Steer{{Mark: 1, Real: c}, {Mark: 3, Real: a}}
	got := mergeByMark(old, now, func(st throughvip.Steer) uint32 { return st.Mark })
	want := []throughvip.Steer{{Mark: 1, Real: c}, {Mark: 3, Real: a}, {Mark: 2, Real: b}}
	if !slices.EqualFunc(got, want, func(x, y throughvip.Steer) bool { return x.Mark == y.Mark && x.Real == y.Real }) {
		t.Errorf("merged %+v, want %+v", got, want)
	}
}
