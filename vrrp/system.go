package vrrp

import (
	"context"
	"directord/internal/proc"
	"errors"
	"io"
	"net/netip"
	"time"
)

// Family is the address family an instance runs over: one per instance,
// as in keepalived (a dual-stack VIP set is two instances, in a sync
// group if they must move together).
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// FamilyOf is a's family; an IPv4-mapped IPv6 address is IPv4.
func FamilyOf(a netip.Addr) Family {
	if a.Is6() && !a.Is4In6() {
		return IPv6
	}
	return IPv4
}

// Family is the address family of c's VIPs (validated to be one).
func (c Config) Family() Family {
	if len(c.VIPs) == 0 {
		return IPv4
	}
	return FamilyOf(c.VIPs[0].Prefix.Addr())
}

// Config is one instance as the router runs it.
type Config struct {
	Name      string
	Interface string
	VRID      uint8
	Params    Params // Addr is filled in by the router from the interface
	VIPs      []VIP
	// UnicastSrc overrides the interface's primary address as source.
	UnicastSrc netip.Addr
	// Peers, when set, replace multicast: adverts go to each peer and
	// only theirs are accepted.
	Peers    []netip.Addr
	AuthType AuthType
	AuthData [authDataLen]byte

	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript
	TrackFiles      []TrackFile
	GARP            GARPConfig
	Notify          NotifyConfig
}

// VIP is a virtual address and where it goes.
type VIP struct {
	Prefix netip.Prefix
	Dev    string // the instance's interface when empty
	Label  string
}

// GARPConfig schedules gratuitous ARP (keepalived's garp_master_*).
type GARPConfig struct {
	Delay         time.Duration // second burst after becoming master; 0: none
	Repeat        int           // packets per VIP and burst
	Interval      time.Duration // between packets of a burst
	Refresh       time.Duration // periodic burst while master; 0: none
	RefreshRepeat int
}

// NotifyConfig holds the state-change hooks, each an argv.
type NotifyConfig struct {
	Master, Backup, Fault, Stop []string
	Timeout                     time.Duration
	// User runs the hooks (nil: as the daemon).
	User *proc.User
}

// TrackInterface follows a link; see TrackWeight for the weight.
type TrackInterface struct {
	Name   string
	Weight int
}

// TrackScript runs a command periodically.
type TrackScript struct {
	Name              string
	Command           []string
	Interval, Timeout time.Duration
	Rise, Fall        int
	Weight            int
	// User runs the script (nil: as the daemon).
	User *proc.User
}

// TrackFile reads an integer from a file.
type TrackFile struct {
	Path   string
	Weight int
}

// SyncGroup names instances that change state together.
type SyncGroup struct {
	Name      string
	Instances []string
}

// PacketConn sends and receives VRRP messages on one interface. Send puts
// the message in an IPv4 packet with TTL 255 from src to dst.
type PacketConn interface {
	Send(msg []byte, src, dst netip.Addr) error
	// Receive blocks for the next packet; buf is reused by the caller.
	Receive(buf []byte) (Received, error)
	Close() error
}

// AddrManager adds and removes addresses. Add and Remove are idempotent.
type AddrManager interface {
	Add(dev string, v VIP) error
	Remove(dev string, v VIP) error
	// List returns the addresses of family fam on dev, in one dump:
	// the router asks about many VIPs at once (addrCache).
	List(dev string, fam Family) ([]netip.Addr, error)
	// Primary is the address adverts of family fam go out from on dev:
	// its first IPv4 address that is not in except, or its link-local
	// IPv6 address (RFC 9568 §5.1.2.1). An address still in duplicate
	// address detection comes with ErrTentative.
	Primary(dev string, fam Family, except []netip.Addr) (netip.Addr, error)
}

// ErrTentative comes with an advert source that is still in duplicate
// address detection: the kernel refuses to send from it until DAD ends.
var ErrTentative = errors.New("the address is still in duplicate address detection")

// Announcer sends gratuitous ARP for addresses on dev.
type Announcer interface {
	// Prepare opens what Announce on dev needs, ahead of time, so that
	// the first announcement of a takeover pays no setup.
	Prepare(dev string) error
	Announce(dev string, addrs []netip.Addr) error
	Close() error
}

// LinkState is an interface's state as the router cares: up means it can
// carry traffic (administratively up and with a carrier).
type LinkState struct {
	Name  string
	Index int
	Up    bool
	// Deleted reports that the interface is gone (RTM_DELLINK). One made
	// again under the same name has a new index.
	Deleted bool
}

// AddrEvent reports an address added to or removed from an interface.
type AddrEvent struct {
	LinkIndex int
	Addr      netip.Addr
	Removed   bool
	// Resync says that changes may have been missed (the subscription
	// failed and was made again): the router checks every VIP it should
	// hold.
	Resync bool
}

// Watcher streams link and address changes until ctx ends.
type Watcher interface {
	Links(ctx context.Context) (<-chan LinkState, error)
	Addrs(ctx context.Context) (<-chan AddrEvent, error)
	Link(name string) (LinkState, error)
}

// RunFunc runs argv with env as user within timeout, its output to out
// (may be nil).
type RunFunc func(ctx context.Context, user *proc.User, argv, env []string, timeout time.Duration, out io.Writer) (proc.Result, error)

// System is everything the router needs from the operating system. The
// Linux implementation is NewLinuxSystem.
type System struct {
	Listen  func(ifname string, fam Family) (PacketConn, error)
	Addrs   AddrManager
	ARP     Announcer
	Watcher Watcher
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Run runs a program for a hook or a track script, as user (nil:
	// as the daemon), bounded by timeout; proc.RunAs when nil.
	Run RunFunc
	// ReadFile reads a track_file; when nil, a reader of regular files
	// of at most 4 KiB that never blocks on a FIFO.
	ReadFile func(name string) ([]byte, error)
	// EarlyWake is how long before a backup's master-down deadline the
	// loop wakes to wait out the rest on the CPU (see masterDownEarly).
	// NewLinuxSystem sets it; a simulated clock leaves it zero, since a
	// spin never lets fake time advance.
	EarlyWake time.Duration
}
