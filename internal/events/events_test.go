package events

import (
	"testing"
	"time"
)

func TestEverySubscriberGetsEveryEventInOrder(t *testing.T) {
	b := NewBus(time.Now)
	a, c := b.Subscribe(), b.Subscribe()
	defer a.Close()
	defer c.Close()
	for i := range 10 {
		b.Publish(Event{Kind: KindIPVS, Weight: Int(i)})
	}
	for _, s := range []*Subscription{a, c} {
		for i := range 10 {
			e := <-s.C()
			if *e.Weight != i || e.Time.IsZero() {
				t.Fatalf("event %d: %+v", i, e)
			}
		}
	}
}

// A stuck reader must never block the daemon: it loses what its queue
// cannot hold, and learns how much.
func TestSlowSubscriberLosesAndIsTold(t *testing.T) {
	b := NewBus(time.Now)
	slow := b.Subscribe()
	defer slow.Close()
	done := make(chan struct{})
	go func() {
		for range Queue + 10 {
			b.Publish(Event{Kind: KindHealth})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	if n := slow.TakeLost(); n != 10 {
		t.Errorf("lost %d, want 10", n)
	}
	if n := slow.TakeLost(); n != 0 {
		t.Errorf("lost again %d, want 0 after taking", n)
	}
}

func TestClosedSubscriptionGetsNothing(t *testing.T) {
	b := NewBus(time.Now)
	s := b.Subscribe()
	s.Close()
	b.Publish(Event{Kind: KindReload})
	select {
	case e := <-s.C():
		t.Fatalf("got %+v after Close", e)
	default:
	}
}
