package healthcheck

// timeHeap is a binary min-heap of values by a time, held in the entry
// itself as nanoseconds from an epoch of the owner's choosing: a sift
// compares integers in one array. container/heap's Less, which follows a
// pointer to each probe to read its time, was 5 % of directord's CPU at
// 1,000 checks/s, mostly cache misses.
// There is no removal from the middle: an owner marks a value dead and
// drops it when it comes out on top, so no entry needs to know its index.
type timeHeap[T any] struct {
	entries []heapEntry[T]
}

type heapEntry[T any] struct {
	at int64
	v  T
}

func (h *timeHeap[T]) Len() int { return len(h.entries) }

// peek returns the earliest entry; the heap must not be empty.
func (h *timeHeap[T]) peek() (int64, T) {
	e := h.entries[0]
	return e.at, e.v
}

func (h *timeHeap[T]) push(at int64, v T) {
	h.entries = append(h.entries, heapEntry[T]{at, v})
	h.up(len(h.entries) - 1)
}

// pop removes and returns the earliest value; the heap must not be empty.
func (h *timeHeap[T]) pop() T {
	last := len(h.entries) - 1
	v := h.entries[0].v
	h.entries[0] = h.entries[last]
	h.entries[last] = heapEntry[T]{} // drop the reference
	h.entries = h.entries[:last]
	h.down(0)
	return v
}

func (h *timeHeap[T]) swap(i, j int) {
	h.entries[i], h.entries[j] = h.entries[j], h.entries[i]
}

func (h *timeHeap[T]) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h.entries[parent].at <= h.entries[i].at {
			break
		}
		h.swap(parent, i)
		i = parent
	}
}

func (h *timeHeap[T]) down(i int) {
	n := len(h.entries)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h.entries[r].at < h.entries[l].at {
			c = r
		}
		if h.entries[i].at <= h.entries[c].at {
			break
		}
		h.swap(i, c)
		i = c
	}
}
