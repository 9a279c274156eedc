package healthcheck

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The heap against a sorted slice under seeded random pushes, pops and
// removals by the index it reported through moved.
func TestTimeHeapOrdersAndTracksIndexes(t *testing.T) {
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		type item struct {
			at    int64
			index int
		}
		var h timeHeap[*item]
		h.moved = func(it *item, i int) { it.index = i }
		var live []*item
		for range 300 {
			switch op := rnd.IntN(4); {
			case op < 2 || len(live) == 0:
				it := &item{at: rnd.Int64N(50)}
				h.push(it.at, it)
				live = append(live, it)
			case op == 2:
				minAt := slices.MinFunc(live, func(a, b *item) int { return int(a.at - b.at) }).at
				at, top := h.peek()
				if got := h.pop(); got != top || got.at != minAt || at != minAt {
					t.Fatalf("seed %d: pop gave at %d, want the minimum %d", seed, got.at, minAt)
				}
				live = slices.DeleteFunc(live, func(x *item) bool { return x == top })
			default:
				victim := live[rnd.IntN(len(live))]
				if h.entries[victim.index].v != victim {
					t.Fatalf("seed %d: index %d does not hold its item", seed, victim.index)
				}
				if got := h.remove(victim.index); got != victim {
					t.Fatalf("seed %d: remove took the wrong item", seed)
				}
				live = slices.DeleteFunc(live, func(x *item) bool { return x == victim })
			}
			if h.Len() != len(live) {
				t.Fatalf("seed %d: %d entries, want %d", seed, h.Len(), len(live))
			}
			for i, e := range h.entries {
				if e.v.index != i {
					t.Fatalf("seed %d: entry %d says index %d", seed, i, e.v.index)
				}
				if i > 0 && h.entries[(i-1)/2].at > e.at {
					t.Fatalf("seed %d: heap order broken at %d", seed, i)
				}
			}
		}
	}
}

func BenchmarkTimeHeap(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var h timeHeap[*probe]
	h.moved = func(p *probe, i int) { p.index = i }
	for range 10000 {
		h.push(rnd.Int64N(1e9), &probe{})
	}
	for b.Loop() {
		at, _ := h.peek()
		h.push(at+1e9, h.pop())
	}
}
