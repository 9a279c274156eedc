// Package events is the daemon's event stream: what `directord events`
// prints, one JSON object a line, for operators to pipe anywhere. The
// daemon publishes every VRRP transition, health flip, quorum change,
// IPVS write (weight changes included) and failed write, drain and
// reload; subscribers read them over the status socket.
//
// Publishing never blocks the daemon: each subscriber has a bounded
// queue, and a subscriber too slow to keep up loses events, which its
// stream reports (a "lost" event with the count) instead of hiding.
package events

import (
	"sync"
	"time"
)

// Kind says what an event is about.
type Kind string

// The kinds of event.
const (
	KindVRRP    Kind = "vrrp"     // an instance changed state
	KindHealth  Kind = "health"   // a check's verdict on a real server flipped
	KindQuorum  Kind = "quorum"   // a virtual server lost or regained quorum
	KindIPVS    Kind = "ipvs"     // the daemon wrote the IPVS table
	KindIPVSErr Kind = "ipvs_err" // an IPVS write failed
	KindDrain   Kind = "drain"    // an operator drained, undrained or weighted a real
	KindReload  Kind = "reload"   // a reload ended
	KindLost    Kind = "lost"     // this subscriber missed events
	KindHook    Kind = "hook"     // a notify hook ended
	KindBGP     Kind = "bgp"      // a BGP session changed, a route was announced or withdrawn
)

// Event is one line of the stream. Fields that do not apply to its kind
// are left out.
type Event struct {
	Time          time.Time `json:"time"`
	Kind          Kind      `json:"kind"`
	Instance      string    `json:"instance,omitempty"`
	State         string    `json:"state,omitempty"`
	VirtualServer string    `json:"virtual_server,omitempty"`
	RealServer    string    `json:"real_server,omitempty"`
	Check         string    `json:"check,omitempty"`
	Up            *bool     `json:"up,omitempty"`
	Op            string    `json:"op,omitempty"`
	Weight        *int      `json:"weight,omitempty"`
	OK            *bool     `json:"ok,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	Error         string    `json:"error,omitempty"`
	Lost          uint64    `json:"lost,omitempty"`
	Peer          string    `json:"peer,omitempty"`
	Prefix        string    `json:"prefix,omitempty"`
}

// Bool and Int make the optional fields.
func Bool(b bool) *bool { return &b }

// Int is Bool for numbers.
func Int(n int) *int { return &n }

// Queue is how many events a subscriber may be behind before it loses
// some: a burst (every real of a service flipping, a reload's writes)
// fits.
const Queue = 4096

// Bus hands published events to every subscriber.
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
	now  func() time.Time
}

// NewBus makes a bus; now stamps events published without a time.
func NewBus(now func() time.Time) *Bus {
	return &Bus{subs: map[*Subscription]struct{}{}, now: now}
}

// Subscription is one reader of the stream.
type Subscription struct {
	bus  *Bus
	c    chan Event
	mu   sync.Mutex
	lost uint64
}

// Subscribe starts a subscription; Close ends it.
func (b *Bus) Subscribe() *Subscription {
	s := &Subscription{bus: b, c: make(chan Event, Queue)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// C delivers the events.
func (s *Subscription) C() <-chan Event { return s.c }

// TakeLost returns how many events were lost since the last call.
func (s *Subscription) TakeLost() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lost
	s.lost = 0
	return n
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
}

// Publish hands e to every subscriber without waiting for any.
func (b *Bus) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- e:
		default:
			s.mu.Lock()
			s.lost++
			s.mu.Unlock()
		}
	}
}
