// Package realserver prepares a real server of an LVS-DR or LVS-TUN setup,
// as the seed's realserver script did: each VIP as a /32 on lo (or another
// device) so the host accepts packets for it, with arp_ignore=1 and
// arp_announce=2 so it never answers ARP for the VIP nor announces it
// (Documentation/networking/ip-sysctl.rst). Only the director may own the
// VIP on the wire. An IPv6 VIP is a /128 without DAD and needs no such
// setting (see NeedsARP).
//
// Up records what it changed in a state file, per network namespace, so
// that Down undoes exactly that and nothing else, and both are idempotent.
package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"directord/internal/nldump"
	"directord/internal/privdir"
)

// Wanted sysctl values.
const (
	ArpIgnore   = 1 // reply only for addresses on the receiving interface
	ArpAnnounce = 2 // use the best local source address in ARP requests
)

// StateDir holds the state files.
const StateDir = "/run/directord"

// state is what Up changed: the VIPs it added and the sysctl values it
// replaced, in the network namespace whose cookie it names.
type state struct {
	Cookie   uint64            `json:"netns_cookie,omitempty"`
	Dev      string            `json:"dev"`
	Added    []netip.Prefix    `json:"added"`
	Previous map[string]string `json:"previous_sysctls"`
}

// statePath is per network namespace: real servers of a lab share /run.
func statePath() (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", err
	}
	return filepath.Join(StateDir, fmt.Sprintf("realserver-%d.json", st.Ino)), nil
}

// netnsCookie is this network namespace's cookie (SO_NETNS_COOKIE):
// unlike its inode number, never given to another namespace while the
// machine runs. Kernels before 5.14 have none: 0, and state files are
// then trusted as they were before cookies.
func netnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if errors.Is(err, unix.ENOPROTOOPT) {
		return 0, nil
	}
	return c, err
}

// loadState reads this namespace's state. A file that names another
// namespace's cookie was left by one deleted without `realserver down`
// whose inode number this namespace got: it describes nothing here.
func loadState() (*state, string, error) {
	path, err := statePath()
	if err != nil {
		return nil, "", err
	}
	// Root acts on what the file says: its directory must be one no
	// other user could have made or could write to.
	if err := privdir.Ensure(StateDir); err != nil {
		return nil, "", fmt.Errorf("state directory: %w", err)
	}
	cookie, err := netnsCookie()
	if err != nil {
		return nil, "", fmt.Errorf("network namespace cookie: %w", err)
	}
	fresh := &state{Cookie: cookie, Previous: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fresh, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, path, fmt.Errorf("%s: %w", path, err)
	}
	// A file without a cookie is an earlier version's (or an old
	// kernel's), and trusted.
	if s.Cookie != 0 && cookie != 0 && s.Cookie != cookie {
		return fresh, path, nil
	}
	s.Cookie = cookie
	if s.Previous == nil {
		s.Previous = map[string]string{}
	}
	return &s, path, nil
}

// save writes the state atomically: a crash leaves the old file or the
// new one, never half of one.
func (s *state) save(path string) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	f, err := os.CreateTemp(filepath.Dir(path), ".realserver-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return werr
	}
	return os.Rename(tmp, path)
}

// uplinks are the interfaces that carry an IPv4 address, other than lo
// and dev: where ARP for the VIP would otherwise be answered.
func uplinks(dev string) ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 || ifi.Name == dev {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				out = append(out, ifi.Name)
				break
			}
		}
	}
	return out, nil
}

func sysctlPath(iface, key string) string {
	return filepath.Join("/proc/sys/net/ipv4/conf", iface, key)
}

func readSysctl(iface, key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(iface, key))
	return strings.TrimSpace(string(b)), err
}

// NeedsARP reports whether up sets the ARP sysctls for vips: only for an
// IPv4 VIP. IPv6 needs no arp_ignore: Linux answers a neighbour
// solicitation only for an address of the interface it arrived on, never
// for one on lo.
func NeedsARP(vips []netip.Addr) bool { return slices.ContainsFunc(vips, netip.Addr.Is4) }

// Up adds the VIPs to dev and sets the ARP sysctls on all, lo, dev and the
// uplinks. Running it again changes nothing.
func Up(vips []netip.Addr, dev string) error {
	s, path, err := loadState()
	if err != nil {
		return err
	}
	if s.Dev != "" && s.Dev != dev {
		return fmt.Errorf("realserver is already up on %s; run down first", s.Dev)
	}
	s.Dev = dev
	ups, err := uplinks(dev)
	if err != nil {
		return err
	}
	ifaces := append([]string{"all", "lo", dev}, ups...)
	if !NeedsARP(vips) {
		ifaces = nil
	}
	for _, iface := range slices.Compact(ifaces) {
		for key, want := range map[string]int{"arp_ignore": ArpIgnore, "arp_announce": ArpAnnounce} {
			name := iface + "/" + key
			cur, err := readSysctl(iface, key)
			if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			if cur == strconv.Itoa(want) {
				continue
			}
			if _, saved := s.Previous[name]; !saved {
				s.Previous[name] = cur
			}
			if err := os.WriteFile(sysctlPath(iface, key), []byte(strconv.Itoa(want)), 0o644); err != nil {
				return fmt.Errorf("set %s: %w", name, err)
			}
		}
	}
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("device %s: %w", dev, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("bring %s up: %w", dev, err)
		}
	}
	for _, vip := range vips {
		p := netip.PrefixFrom(vip, vip.BitLen())
		a := &netlink.Addr{IPNet: &net.IPNet{IP: vip.AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Bits())}}
		if vip.Is6() {
			// Usable at once, and deprecated (valid forever): never the
			// server's own source, which a /128 would otherwise be for
			// every destination near it (longest prefix wins), while it
			// still takes every packet sent to it.
			a.Flags = unix.IFA_F_NODAD
			a.PreferedLft, a.ValidLft = 0, infiniteLifetime()
		}
		err := netlink.AddrAdd(link, a)
		switch {
		case errors.Is(err, unix.EEXIST):
		case err != nil:
			return fmt.Errorf("add %s to %s: %w", p, dev, err)
		case !slices.Contains(s.Added, p):
			s.Added = append(s.Added, p)
		}
	}
	return s.save(path)
}

// infiniteLifetime is INFINITY_LIFE_TIME of the kernel's IFA_CACHEINFO
// as netlink's int field carries it; with a 32-bit int it cannot (-1 is
// not sent), and the VIP is then permanent but not deprecated.
func infiniteLifetime() int {
	if strconv.IntSize == 32 {
		return -1
	}
	lft := uint64(math.MaxUint32)
	return int(lft)
}

// Down removes the VIPs Up added and puts back the sysctl values it
// replaced. Without a state file it does nothing.
func Down() (Undone, error) {
	var u Undone
	s, path, err := loadState()
	if err != nil {
		return u, err
	}
	if s.Dev == "" {
		return u, nil
	}
	u.Dev = s.Dev
	var errs []error
	if link, err := netlink.LinkByName(s.Dev); err == nil {
		for _, p := range s.Added {
			err := netlink.AddrDel(link, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}})
			if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
				continue
			}
			u.Removed = append(u.Removed, p)
		}
	}
	for name, v := range s.Previous {
		iface, key, _ := strings.Cut(name, "/")
		// Only what Up saves: an ARP setting of an interface, to a
		// number. The file is root's, but a name from it never walks
		// out of /proc/sys/net/ipv4/conf.
		if (key != "arp_ignore" && key != "arp_announce") || iface == "" || strings.ContainsAny(iface, "/\x00") || iface == "." || iface == ".." {
			errs = append(errs, fmt.Errorf("state file: %q is not an ARP setting up saves", name))
			continue
		}
		if _, err := strconv.Atoi(v); err != nil {
			errs = append(errs, fmt.Errorf("state file: %s = %q is not a number", name, v))
			continue
		}
		if err := os.WriteFile(sysctlPath(iface, key), []byte(v), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("restore %s: %w", name, err))
			continue
		}
		u.Sysctls++
	}
	if len(errs) > 0 {
		return u, errors.Join(errs...)
	}
	return u, os.Remove(path)
}

// Undone is what Down took back: the VIPs removed from Dev and how many
// ARP settings it restored.
type Undone struct {
	Dev     string
	Removed []netip.Prefix
	Sysctls int
}

// Check is one line of Status.
type Check struct {
	What string `json:"what"`
	OK   bool   `json:"ok"`
	Note string `json:"note,omitempty"`
}

// Status says whether this host is ready to serve vips on dev.
func Status(vips []netip.Addr, dev string) ([]Check, error) {
	var out []Check
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", dev, err)
	}
	addrs, err := nldump.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	for _, vip := range vips {
		ok := slices.ContainsFunc(addrs, func(a netlink.Addr) bool {
			ip, _ := netip.AddrFromSlice(a.IP)
			return ip.Unmap() == vip
		})
		out = append(out, Check{What: fmt.Sprintf("VIP %s on %s", vip, dev), OK: ok})
	}
	ups, err := uplinks(dev)
	if err != nil {
		return nil, err
	}
	if !NeedsARP(vips) {
		ups = nil
	}
	for _, iface := range ups {
		// The kernel uses the larger of "all" and the interface's value.
		for key, want := range map[string]int{"arp_ignore": ArpIgnore, "arp_announce": ArpAnnounce} {
			a, _ := readSysctl("all", key)
			i, _ := readSysctl(iface, key)
			av, _ := strconv.Atoi(a)
			iv, _ := strconv.Atoi(i)
			eff := max(av, iv)
			out = append(out, Check{What: fmt.Sprintf("%s on %s", key, iface), OK: eff == want,
				Note: fmt.Sprintf("effective %d (all %s, %s %s), want %d", eff, a, iface, i, want)})
		}
	}
	slices.SortStableFunc(out, func(a, b Check) int { return strings.Compare(a.What, b.What) })
	return out, nil
}
