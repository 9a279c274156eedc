package lvs

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// Dests behave as the map they replaced: after any sequence of sets and
// deletes they hold the map's values, sorted by key, each key once, and
// Get and Has answer as the map does. DestsOf keeps the last of a key
// given twice, as assignments to a map would.
func TestDestsActAsAMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := func(label string) DestKey {
			return DestKey{
				Addr: rapid.SampledFrom([]netip.Addr{
					netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
					netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("2001:db8::1"),
				}).Draw(t, label+"-addr"),
				Port: uint16(rapid.IntRange(0, 2).Draw(t, label+"-port")),
			}
		}
		m := map[DestKey]Destination{}
		var list []Destination
		for i := range rapid.IntRange(0, 12).Draw(t, "initial") {
			d := Destination{DestKey: key("initial"), Weight: uint32(i)}
			m[d.DestKey] = d
			list = append(list, d)
		}
		ds := DestsOf(list...)
		for range rapid.IntRange(0, 30).Draw(t, "ops") {
			k := key("op")
			if rapid.Bool().Draw(t, "delete") {
				delete(m, k)
				ds.Delete(k)
				continue
			}
			d := Destination{DestKey: k, Weight: uint32(rapid.IntRange(0, 9).Draw(t, "weight"))}
			m[k] = d
			ds.Set(d)
		}
		want := slices.SortedFunc(maps.Values(m), func(a, b Destination) int { return compareDestKeys(a.DestKey, b.DestKey) })
		if !slices.Equal(ds, Dests(want)) {
			t.Fatalf("dests %v, want %v", ds, want)
		}
		k := key("probe")
		d, ok := ds.Get(k)
		if md, mok := m[k]; ok != mok || d != md || ds.Has(k) != mok {
			t.Fatalf("Get(%s) = %v, %v; the map has %v, %v", k, d, ok, md, mok)
		}
	})
}

// Diff's walk of two sorted sets finds every create, update and delete
// (it is also covered by the property tests in diff_test.go).
func TestDiffDestsWalksBothSets(t *testing.T) {
	s := svc(80, "wrr")
	want := DestsOf(dst(1, 1), dst(3, 2), dst(5, 1))
	have := DestsOf(dst(2, 1), dst(3, 1), dst(5, 1), dst(6, 1))
	got := diffDests(nil, s, want, have)
	var kinds []string
	for _, op := range got {
		kinds = append(kinds, op.Kind.String()+" "+op.Dest.DestKey.String())
	}
	wantKinds := []string{
		"create-dest 10.0.0.1:80", "delete-dest 10.0.0.2:80", "update-dest 10.0.0.3:80", "delete-dest 10.0.0.6:80",
	}
	if !slices.Equal(kinds, wantKinds) {
		t.Fatalf("ops %q, want %q", kinds, wantKinds)
	}
}
