//go:build linux

package throughvip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"directord/internal/nldump"
)

// Manager keeps the kernel's rules and routes for checks through the VIP
// equal to the last Apply, and accept_local set where replies from a held
// VIP arrive.
type Manager struct {
	rng Range
	log *slog.Logger
	// saved is each sysctl file Apply changed, with what it held.
	saved map[string]string
	// applied is, per mark, the steer last installed: a real whose next
	// hop cannot be looked up keeps its routes (and accept_local) only
	// while its mark still names the same real.
	applied map[uint32]Steer
}

// New returns a Manager owning the marks in rng.
func New(rng Range, log *slog.Logger) *Manager {
	return &Manager{rng: rng, log: log, saved: map[string]string{}, applied: map[uint32]Steer{}}
}

// resolve fills in each steer's next hop from the main routing table. A
// real without a route, or one that is this host's own address, is left
// out with an error; if its mark had the same real before, that mark is
// in kept.
func (m *Manager) resolve(steers []Steer) (out []Steer, kept map[uint32]bool, err error) {
	var errs []error
	kept = map[uint32]bool{}
	for _, st := range steers {
		rs, rerr := netlink.RouteGet(st.Real.AsSlice())
		if rerr == nil && len(rs) > 0 && rs[0].Type == unix.RTN_LOCAL {
			rerr = errors.New("it is an address of this host")
		}
		if rerr != nil || len(rs) == 0 {
			errs = append(errs, fmt.Errorf("through_vip: no route to real server %s: %v", st.Real, rerr))
			if prev, ok := m.applied[st.Mark]; ok && prev.Real == st.Real {
				kept[st.Mark] = true
			}
			continue
		}
		st.Via, st.Link = st.Real, rs[0].LinkIndex
		if gw, ok := netip.AddrFromSlice(rs[0].Gw); ok && rs[0].Gw != nil {
			st.Via = gw.Unmap()
		}
		out = append(out, st)
	}
	return out, kept, errors.Join(errs...)
}

// Apply makes the kernel match steers, their next hops looked up in the
// main table. It reads what is installed each time, so it also removes
// what a killed daemon left behind, and puts back what a link going down
// flushed. A real whose next hop cannot be found keeps what it had.
// Every change is attempted; the errors are joined.
func (m *Manager) Apply(steers []Steer) error {
	steers, kept, rerr := m.resolve(steers)
	applied := map[uint32]Steer{}
	for _, st := range steers {
		applied[st.Mark] = st
	}
	for mark := range kept {
		applied[mark] = m.applied[mark]
	}
	m.applied = applied
	// accept_local first: it does not depend on the listing below.
	errs := []error{rerr, m.acceptLocal(applied)}
	have, err := m.installed()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	ch := Plan(have, Want(steers)).Keep(kept)
	for _, r := range ch.DelRoutes {
		errs = append(errs, m.do("delete", r.String(), netlink.RouteDel(r.netlink())))
	}
	for _, r := range ch.DelRules {
		errs = append(errs, m.do("delete", r.String(), netlink.RuleDel(r.netlink())))
	}
	for _, r := range ch.AddRules {
		errs = append(errs, m.do("add", r.String(), netlink.RuleAdd(r.netlink())))
	}
	for _, r := range ch.AddRoutes {
		errs = append(errs, m.do("add", r.String(), netlink.RouteAdd(r.netlink())))
	}
	return errors.Join(errs...)
}

// Close removes every rule and route in the range and restores the
// sysctls Apply changed.
func (m *Manager) Close() error { return m.Apply(nil) }

func (m *Manager) do(verb, what string, err error) error {
	if err != nil {
		return fmt.Errorf("through_vip: %s %s: %w", verb, what, err)
	}
	m.log.Info("through_vip: "+verb, "what", what)
	return nil
}

// installed reads the rules and routes this Manager owns: rules whose
// mark is in the range and whose table is that mark, and every route in
// such a table (with or without its rule, which a crash may have left).
func (m *Manager) installed() (State, error) {
	var s State
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := nldump.Retry(func() ([]netlink.Rule, error) { return netlink.RuleList(fam) })
		if fam == netlink.FAMILY_V6 && errors.Is(err, unix.EAFNOSUPPORT) {
			continue // a kernel booted without IPv6 has no rules of it
		}
		if err != nil {
			return s, fmt.Errorf("through_vip: list rules: %w", err)
		}
		for _, r := range rules {
			if m.rng.Contains(r.Mark) && r.Table == int(r.Mark) && r.Priority == RulePriority && (r.Mask == nil || *r.Mask == 0xffffffff) {
				s.Rules = append(s.Rules, Rule{IPv6: fam == netlink.FAMILY_V6, Mark: r.Mark})
			}
		}
		// Table 0 with the table filter lists every table.
		routes, err := nldump.Retry(func() ([]netlink.Route, error) {
			return netlink.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return s, fmt.Errorf("through_vip: list routes: %w", err)
		}
		for _, rt := range routes {
			if rt.Table > 0 && m.rng.Contains(uint32(rt.Table)) {
				s.Routes = append(s.Routes, routeFrom(uint32(rt.Table), rt))
			}
		}
	}
	s.sort()
	return s, nil
}

func routeFrom(mark uint32, rt netlink.Route) Route {
	r := Route{Mark: mark, Link: rt.LinkIndex}
	if rt.Dst != nil {
		if a, ok := netip.AddrFromSlice(rt.Dst.IP); ok {
			r.VIP = a.Unmap()
		}
	}
	if a, ok := netip.AddrFromSlice(rt.Gw); ok {
		r.Via = a.Unmap()
	}
	return r
}

func (r Rule) netlink() *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V4
	if r.IPv6 {
		nr.Family = netlink.FAMILY_V6
	}
	nr.Priority, nr.Mark, nr.Table = RulePriority, r.Mark, int(r.Mark)
	mask := uint32(0xffffffff)
	nr.Mask = &mask
	return nr
}

func (r Route) netlink() *netlink.Route {
	bits := r.VIP.BitLen()
	return &netlink.Route{
		Dst:       &net.IPNet{IP: r.VIP.AsSlice(), Mask: net.CIDRMask(bits, bits)},
		Gw:        r.Via.AsSlice(),
		LinkIndex: r.Link,
		Table:     int(r.Mark),
		Flags:     int(netlink.FLAG_ONLINK),
		Family:    map[bool]int{false: netlink.FAMILY_V4, true: netlink.FAMILY_V6}[r.VIP.Is6()],
	}
}

// acceptLocal sets accept_local on each interface an IPv4 real is reached
// through: on the director holding the VIP, the real's reply comes from
// the VIP, a local address, and is dropped as a martian without it. It is
// read every time, so a value reset under it (an interface made again)
// is set again; an interface no real needs any more gets back what it
// had.
func (m *Manager) acceptLocal(steers map[uint32]Steer) error {
	var errs []error
	need := map[string]bool{}
	for _, st := range steers {
		if !st.Real.Is4() {
			continue
		}
		link, err := netlink.LinkByIndex(st.Link)
		if err != nil {
			errs = append(errs, fmt.Errorf("through_vip: interface #%d: %w", st.Link, err))
			continue
		}
		path := filepath.Join("/proc/sys/net/ipv4/conf", link.Attrs().Name, "accept_local")
		if need[path] {
			continue
		}
		need[path] = true
		cur, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("through_vip: %w", err))
			continue
		}
		old := strings.TrimSpace(string(cur))
		if old == "1" {
			continue
		}
		if err := writeSysctl(path, "1"); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, ok := m.saved[path]; !ok {
			m.saved[path] = old
		}
		m.log.Info("through_vip: sysctl set", "path", path, "value", 1, "was", old)
	}
	return errors.Join(append(errs, m.restore(need))...)
}

// restore writes back every sysctl Apply changed that need lacks.
func (m *Manager) restore(need map[string]bool) error {
	var errs []error
	for path, old := range m.saved {
		if need[path] {
			continue
		}
		if err := writeSysctl(path, old); err != nil {
			errs = append(errs, err)
			continue
		}
		m.log.Info("through_vip: sysctl restored", "path", path, "value", old)
		delete(m.saved, path)
	}
	return errors.Join(errs...)
}

func writeSysctl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("through_vip: %w", err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("through_vip: write %s: %w", path, err)
	}
	return nil
}
