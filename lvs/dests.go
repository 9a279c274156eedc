package lvs

import (
	"cmp"
	"slices"
)

// Dests are a service's destinations, sorted by address and then port,
// each key once. A slice, not a map: a service has a handful of reals,
// and at 10,000 services a map of four (about 800 bytes) each was most
// of the reconciler's memory, for its believed table and again for the
// desired one every pass. Sorted, two sets are equal when their slices
// are, and Diff walks two of them side by side.
type Dests []Destination

// DestsOf returns ds as Dests: sorted, and for a key given more than
// once the last one (as assigning to a map would leave it). It sorts ds
// in place.
func DestsOf(ds ...Destination) Dests {
	// Stable: equal keys keep their order, so the last is last.
	slices.SortStableFunc(ds, func(a, b Destination) int { return compareDestKeys(a.DestKey, b.DestKey) })
	out := ds[:0]
	for i, d := range ds {
		if i+1 < len(ds) && ds[i+1].DestKey == d.DestKey {
			continue
		}
		out = append(out, d)
	}
	return Dests(out)
}

func compareDestKeys(a, b DestKey) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

func (ds Dests) find(k DestKey) (int, bool) {
	return slices.BinarySearchFunc(ds, k, func(d Destination, k DestKey) int { return compareDestKeys(d.DestKey, k) })
}

// Get returns the destination with key k.
func (ds Dests) Get(k DestKey) (Destination, bool) {
	if i, ok := ds.find(k); ok {
		return ds[i], true
	}
	return Destination{}, false
}

// Has reports whether a destination has key k.
func (ds Dests) Has(k DestKey) bool {
	_, ok := ds.find(k)
	return ok
}

// Set adds d, or replaces the destination with its key.
func (ds *Dests) Set(d Destination) {
	i, ok := ds.find(d.DestKey)
	if ok {
		(*ds)[i] = d
		return
	}
	// append grows a slice by size class (a service's 4 dests fill
	// 224 bytes exactly); slices.Insert left twice the room.
	s := append(*ds, Destination{})
	copy(s[i+1:], s[i:])
	s[i] = d
	*ds = s
}

// Delete removes the destination with key k, if there is one.
func (ds *Dests) Delete(k DestKey) {
	if i, ok := ds.find(k); ok {
		*ds = slices.Delete(*ds, i, i+1)
	}
}
