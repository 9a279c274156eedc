package bgp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"directord/internal/nldump"
)

// Record keeps the list of addresses VIPs added, so that a daemon
// restarted after kill -9 knows which of those on the interface are its
// own to remove.
type Record interface {
	Load() ([]netip.Prefix, error)
	Save([]netip.Prefix) error
}

// VIPs holds the announced addresses on one interface (lo or a dummy) of
// a director, so that the kernel takes the packets routed to them and
// IPVS sees them. Only addresses it added (now or in a run the record
// remembers) are removed again: one an operator put there is used and
// left.
type VIPs struct {
	mu     sync.Mutex
	link   netlink.Link
	record Record
	added  map[netip.Prefix]bool
}

// HoldVIPs adds prefixes to the interface, adopting those of the record
// still there, and removes the record's others.
func HoldVIPs(iface string, prefixes []netip.Prefix, record Record) (*VIPs, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("vip_interface %s: %w", iface, err)
	}
	v := &VIPs{link: link, record: record, added: map[netip.Prefix]bool{}}
	mine, err := record.Load()
	if err != nil {
		return nil, fmt.Errorf("VIP record: %w", err)
	}
	present, err := nldump.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", iface, err)
	}
	for _, a := range present {
		ad, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if p := netip.PrefixFrom(ad.Unmap(), ones); slices.Contains(mine, p) {
			v.added[p] = true
		}
	}
	if err := v.Set(prefixes); err != nil {
		v.Release()
		return nil, err
	}
	return v, nil
}

// Set makes the held addresses prefixes: new ones added, those no longer
// wanted removed (if this added them).
func (v *VIPs) Set(prefixes []netip.Prefix) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	want := map[netip.Prefix]bool{}
	var errs []error
	for _, p := range prefixes {
		want[p] = true
		if v.added[p] {
			continue
		}
		err := netlink.AddrAdd(v.link, addr(p))
		switch {
		case errors.Is(err, unix.EEXIST):
			// Already there, not ours.
		case err != nil:
			errs = append(errs, fmt.Errorf("adding %s to %s: %w", p, v.link.Attrs().Name, err))
		default:
			v.added[p] = true
		}
	}
	for p := range v.added {
		if want[p] {
			continue
		}
		if err := netlink.AddrDel(v.link, addr(p)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("removing %s from %s: %w", p, v.link.Attrs().Name, err))
			continue
		}
		delete(v.added, p)
	}
	mine := make([]netip.Prefix, 0, len(v.added))
	for p := range v.added {
		mine = append(mine, p)
	}
	slices.SortFunc(mine, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if err := v.record.Save(mine); err != nil {
		errs = append(errs, fmt.Errorf("VIP record: %w", err))
	}
	return errors.Join(errs...)
}

// Release removes every address this added.
func (v *VIPs) Release() error { return v.Set(nil) }

// addr is a host address; IPv6 without duplicate address detection, so it
// is usable at once.
func addr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}
