package daemon

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"directord/lvs"
)

// fakeClock is a clock a test moves.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []fakeTimer
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// add moves the clock by d and runs the functions after has come to.
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.t) {
			kept = append(kept, tm)
		} else {
			due = append(due, tm.f)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// after runs f when add has moved the clock d on.
func (c *fakeClock) after(d time.Duration, f func()) {
	c.mu.Lock()
	c.timers = append(c.timers, fakeTimer{c.t.Add(d), f})
	c.mu.Unlock()
}

type fakeTimer struct {
	at time.Time
	f  func()
}

// heldReads is a table read that blocks until the test releases it, and
// counts the reads begun.
type heldReads struct {
	n       atomic.Int64
	release chan struct{}
}

func (h *heldReads) read(context.Context) ([]lvs.ServiceStats, error) {
	n := h.n.Add(1)
	<-h.release
	return []lvs.ServiceStats{{Name: "read", Persist: uint32(n)}}, nil
}

// Many at once share one dump; within the age they share its result;
// after it, one new dump; after invalidate, a dump begun later.
func TestTableCacheSharesOneDump(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	h := &heldReads{release: make(chan struct{})}
	c := newTableCache(time.Second, clock.now, clock.after, h.read)
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make(chan uint32, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.get(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			got <- s.Table[0].Persist
		}()
	}
	for h.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the others reach their wait
	close(h.release)
	wg.Wait()
	close(got)
	for n := range got {
		if n != 1 {
			t.Errorf("a request got dump %d, want the first and only one", n)
		}
	}
	if n := h.n.Load(); n != 1 {
		t.Fatalf("%d dumps for 10 requests at once, want 1", n)
	}
	clock.add(999 * time.Millisecond)
	if s, _ := c.get(ctx); s.Table[0].Persist != 1 || h.n.Load() != 1 {
		t.Errorf("within the age: dump %d of %d, want the first, no new one", s.Table[0].Persist, h.n.Load())
	}
	clock.add(2 * time.Millisecond)
	if s, _ := c.get(ctx); s.Table[0].Persist != 2 || !s.At.Equal(clock.now()) {
		t.Errorf("past the age: dump %d at %s, want a new one now", s.Table[0].Persist, s.At)
	}
	clock.add(time.Millisecond)
	c.invalidate()
	clock.add(time.Millisecond)
	if s, _ := c.get(ctx); s.Table[0].Persist != 3 {
		t.Errorf("after invalidate: dump %d, want a new one", s.Table[0].Persist)
	}
}

// The cache lets a snapshot go once it is too old to answer: it is not
// held until the next scrape, maybe minutes later.
func TestTableCacheForgetsAStaleSnapshot(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	h := &heldReads{release: make(chan struct{})}
	close(h.release)
	c := newTableCache(time.Second, clock.now, clock.after, h.read)
	if _, err := c.get(context.Background()); err != nil {
		t.Fatal(err)
	}
	held := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.cur != nil
	}
	clock.add(999 * time.Millisecond)
	if !held() {
		t.Fatal("the snapshot was let go within its age")
	}
	clock.add(time.Millisecond)
	if held() {
		t.Fatal("the cache still holds a snapshot past its age")
	}
	if s, _ := c.get(context.Background()); s.Table[0].Persist != 2 {
		t.Errorf("after it was let go: dump %d, want a new one", s.Table[0].Persist)
	}
}

// A dump begun before an invalidate does not answer a request made
// after it: the request waits for the next one. A request that gives up
// leaves the dump to the others.
func TestTableCacheInvalidateAndGiveUp(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	h := &heldReads{release: make(chan struct{})}
	c := newTableCache(time.Second, clock.now, clock.after, h.read)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.get(ctx)
		gaveUp <- err
	}()
	for h.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("a request whose ctx ended got %v, want context.Canceled", err)
	}
	clock.add(time.Millisecond)
	c.invalidate()
	clock.add(time.Millisecond)
	after := make(chan *tableSnapshot, 1)
	go func() {
		s, _ := c.get(context.Background())
		after <- s
	}()
	time.Sleep(20 * time.Millisecond)
	h.release <- struct{}{} // the first dump ends
	h.release <- struct{}{} // the one the request started after it
	if s := <-after; s.Table[0].Persist != 2 {
		t.Errorf("request after invalidate got dump %d, want the one begun after it", s.Table[0].Persist)
	}
}

// Beyond n in flight a request waits for a turn, and gets 503 with
// Retry-After if none comes in time.
func TestLimitInFlight(t *testing.T) {
	hold, entered := make(chan struct{}), make(chan struct{}, 3)
	h := limitInFlight(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-hold
	}), 2, 100*time.Millisecond)
	codes := make(chan int, 3)
	serve := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		codes <- rec.Code
	}
	go serve()
	go serve()
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || time.Since(start) < 100*time.Millisecond {
		t.Errorf("third request: %d, Retry-After %q after %s; want 503, 1, after waiting 100 ms", rec.Code, rec.Header().Get("Retry-After"), time.Since(start))
	}
	// One that waits gets the turn a finished one gives back.
	go serve()
	time.Sleep(20 * time.Millisecond)
	hold <- struct{}{}
	<-entered
	close(hold)
	for range 3 {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("a served request answered %d", code)
		}
	}
}
