package bgp

import (
	"context"
	"net/netip"
	"time"
)

// Global is this director as a BGP speaker.
type Global struct {
	ASN      uint32
	RouterID netip.Addr
	// ListenPort is where routers may connect; 0: only connect out.
	ListenPort int
}

// Peer is one router to announce to.
type Peer struct {
	Address  netip.Addr
	ASN      uint32
	Port     uint16
	Password string
	HoldTime time.Duration
	// Multihop is the eBGP TTL for a router more than one hop away.
	Multihop uint8
	BFD      BFD
}

// BFD is a peer's BFD session (RFC 5880, single hop per RFC 5881); the
// zero value is none. Interval is both the rate this side sends at and
// the fastest it asks the router for; the router declares the director
// down after Multiplier intervals without a packet.
type BFD struct {
	Interval   time.Duration
	Multiplier int
}

// PeerStatus is one session as the speaker sees it.
type PeerStatus struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	// State is the BGP FSM state: "established", "active", "idle"…
	State string `json:"state"`
	// LastError is why the session last went down, "" when it never did.
	LastError string `json:"last_error,omitempty"`
}

// Session is a running BGP speaker: its sessions to the routers and the
// routes it announces on them. In the daemon it is a Remote, the
// directord-bgp process; that process runs GoBGP (package bgp/gobgp).
type Session interface {
	Speaker
	// SetPeers makes the sessions those of peers: new ones are added,
	// removed ones deleted, changed ones replaced; an unchanged peer's
	// session is not touched, so a reload keeps it up.
	SetPeers(ctx context.Context, peers []Peer) error
	// Peers is every session's state now, by address.
	Peers(ctx context.Context) ([]PeerStatus, error)
	// Stop ends every session (a Cease to each router, which withdraws
	// everything this director announced) and the speaker. Only the
	// first call does anything.
	Stop()
}

// StartFunc starts a Session; onPeer (may be nil) hears every session
// state change.
type StartFunc func(ctx context.Context, g Global, onPeer func(PeerStatus)) (Session, error)
