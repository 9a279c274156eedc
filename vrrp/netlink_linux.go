package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"directord/internal/nldump"
)

// NewLinuxSystem returns the router's view of this host: raw IPv4 sockets,
// netlink for addresses and links, and mdlayher/arp for announcements.
// log (may be nil) hears about netlink subscriptions made again.
func NewLinuxSystem(log *slog.Logger) System {
	return System{
		Listen:  listen,
		Addrs:   newNetlinkAddrs(),
		ARP:     newARPAnnouncer(),
		Watcher: netlinkWatcher{log: log},
		// Go's timers fire up to about a millisecond late.
		EarlyWake: masterDownEarly,
	}
}

// listen opens the VRRP socket of family fam on ifname.
func listen(ifname string, fam Family) (PacketConn, error) {
	if fam == IPv6 {
		return ListenIPv6(ifname)
	}
	return ListenIPv4(ifname)
}

// netlinkAddrs manages VIPs with RTM_NEWADDR and RTM_DELADDR over one
// netlink socket kept open, with the links looked up once: adding a VIP
// is on the takeover path, where a socket per call and a link lookup per
// VIP cost a fifth of a millisecond.
type netlinkAddrs struct {
	mu    sync.Mutex
	h     *netlink.Handle
	links map[string]netlink.Link
}

func newNetlinkAddrs() *netlinkAddrs {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		h = &netlink.Handle{} // a socket per request, as the package functions do
	}
	return &netlinkAddrs{h: h, links: map[string]netlink.Link{}}
}

// withLink runs fn with dev's link, looking it up again once if fn fails
// with a link that may have been deleted and made again under its name.
func (n *netlinkAddrs) withLink(dev string, fn func(netlink.Link) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for attempt := 0; ; attempt++ {
		l, ok := n.links[dev]
		if !ok {
			var err error
			if l, err = n.h.LinkByName(dev); err != nil {
				return err
			}
			n.links[dev] = l
		}
		err := fn(l)
		if err != nil && attempt == 0 && (errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL)) {
			delete(n.links, dev)
			continue
		}
		return err
	}
}

// vipAddr is v as netlink adds it. An IPv6 VIP skips duplicate address
// detection (IFA_F_NODAD): it is usable at once, so a takeover never
// waits a second or more for DAD, and the peer that held it a moment ago
// would only make DAD fail. It is also deprecated (preferred lifetime 0,
// valid forever): IPv6 has no secondary addresses, and Linux picks the
// newest of equally good sources, so the VIP would otherwise become the
// source of the director's own traffic, such as health checks to DR
// real servers that hold the VIP themselves and answer to it locally.
// A deprecated address still receives everything sent to it.
func vipAddr(v VIP) *netlink.Addr {
	a := v.Prefix.Addr()
	na := &netlink.Addr{
		IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), a.BitLen())},
		Label: v.Label,
	}
	if FamilyOf(a) == IPv6 {
		na.Flags = unix.IFA_F_NODAD
		na.Label = "" // labels are IPv4's
		na.PreferedLft, na.ValidLft = 0, infiniteLifetime()
	}
	return na
}

// infiniteLifetime is INFINITY_LIFE_TIME of the kernel's IFA_CACHEINFO
// as netlink's int field carries it. Where int has 32 bits it cannot:
// there it is -1, which netlink does not send, and the VIP is added
// permanent but not deprecated.
func infiniteLifetime() int {
	if strconv.IntSize == 32 {
		return -1
	}
	lft := uint64(math.MaxUint32)
	return int(lft)
}

func (n *netlinkAddrs) Add(dev string, v VIP) error {
	err := n.withLink(dev, func(l netlink.Link) error { return n.h.AddrAdd(l, vipAddr(v)) })
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("add %s to %s: %w", v.Prefix, dev, err)
	}
	return nil
}

func (n *netlinkAddrs) Remove(dev string, v VIP) error {
	err := n.withLink(dev, func(l netlink.Link) error { return n.h.AddrDel(l, vipAddr(v)) })
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s from %s: %w", v.Prefix, dev, err)
	}
	return nil
}

func (n *netlinkAddrs) List(dev string, fam Family) ([]netip.Addr, error) {
	addrs, err := listFamily(dev, fam)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, x := range addrs {
		out = append(out, ipOf(x))
	}
	return out, nil
}

func (n *netlinkAddrs) Primary(dev string, fam Family, except []netip.Addr) (netip.Addr, error) {
	if fam == IPv6 {
		return linkLocal(dev, except)
	}
	addrs, err := listV4(dev)
	if err != nil {
		return netip.Addr{}, err
	}
	// The kernel lists primaries before secondaries; a VIP in the same
	// subnet as the real address is a secondary, but a /32 VIP is a
	// primary of its own, hence the explicit exclusion.
	for _, x := range addrs {
		if a := ipOf(x); x.Flags&unix.IFA_F_SECONDARY == 0 && !slices.Contains(except, a) {
			return a, nil
		}
	}
	for _, x := range addrs {
		if a := ipOf(x); !slices.Contains(except, a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address of its own (set unicast_src)", dev)
}

// linkLocal is dev's own link-local IPv6 address, once duplicate
// address detection has passed: the source of IPv6 adverts. A VIP is
// never it: not one of except, and not one added the way VIPs are
// (without DAD, or deprecated), which covers the VIPs of other instances
// and those a crashed run left. The kernel lists the newest address
// first, and a VIP is never tentative, so it would otherwise win.
func linkLocal(dev string, except []netip.Addr) (netip.Addr, error) {
	addrs, err := listFamily(dev, IPv6)
	if err != nil {
		return netip.Addr{}, err
	}
	const notOwn = unix.IFA_F_DADFAILED | unix.IFA_F_NODAD | unix.IFA_F_DEPRECATED
	// One past DAD first; else one still in DAD (at boot, or just after
	// the link came up), with ErrTentative: sends fail until DAD is done,
	// and the address event that ends it makes the router look again.
	for _, tentative := range []bool{false, true} {
		for _, x := range addrs {
			a := ipOf(x)
			if !a.IsLinkLocalUnicast() || x.Flags&notOwn != 0 || slices.Contains(except, a) || (x.Flags&unix.IFA_F_TENTATIVE != 0) != tentative {
				continue
			}
			if tentative {
				return a, fmt.Errorf("%s on %s: %w", a, dev, ErrTentative)
			}
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no link-local IPv6 address (IPv6 disabled on it?)", dev)
}

func listV4(dev string) ([]netlink.Addr, error) { return listFamily(dev, IPv4) }

func listFamily(dev string, f Family) ([]netlink.Addr, error) {
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, err
	}
	fam := netlink.FAMILY_V4
	if f == IPv6 {
		fam = netlink.FAMILY_V6
	}
	return nldump.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(l, fam) })
}

func ipOf(a netlink.Addr) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.IP)
	return ip.Unmap()
}

// netlinkWatcher follows RTM_NEWLINK and RTM_{NEW,DEL}ADDR.
type netlinkWatcher struct{ log *slog.Logger }

func (w netlinkWatcher) logger() *slog.Logger {
	if w.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.log
}

func linkState(l netlink.Link) LinkState {
	a := l.Attrs()
	up := a.OperState == netlink.OperUp ||
		(a.OperState == netlink.OperUnknown && a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0)
	return LinkState{Name: a.Name, Index: a.Index, Up: up}
}

func (netlinkWatcher) Link(name string) (LinkState, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return LinkState{Name: name}, err
	}
	return linkState(l), nil
}

func (w netlinkWatcher) Links(ctx context.Context) (<-chan LinkState, error) {
	subscribe := func(ch chan netlink.LinkUpdate, done <-chan struct{}, onErr func(error)) error {
		// ListExisting: each (re)subscription starts with every link's
		// state, which is all a link event carries.
		err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: onErr})
		if err != nil {
			return fmt.Errorf("subscribe to links: %w", err)
		}
		return nil
	}
	return follow(ctx, w.logger(), "links", subscribe, func(u netlink.LinkUpdate) (LinkState, bool) {
		st := linkState(u.Link)
		if u.Header.Type == unix.RTM_DELLINK {
			st.Up, st.Deleted = false, true
		}
		return st, true
	}, nil)
}

func (w netlinkWatcher) Addrs(ctx context.Context) (<-chan AddrEvent, error) {
	subscribe := func(ch chan netlink.AddrUpdate, done <-chan struct{}, onErr func(error)) error {
		err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr})
		if err != nil {
			return fmt.Errorf("subscribe to addresses: %w", err)
		}
		return nil
	}
	return follow(ctx, w.logger(), "addresses", subscribe, func(u netlink.AddrUpdate) (AddrEvent, bool) {
		a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
		return AddrEvent{LinkIndex: u.LinkIndex, Addr: a.Unmap(), Removed: !u.NewAddr}, ok
	}, &AddrEvent{Resync: true})
}
