package realserver_test

// `directord realserver up` and `down` with IPv6 VIPs, in fresh network
// namespaces: a /128 without DAD, no ARP sysctls unless an IPv4 VIP asks
// for them, and a down that takes away exactly what up added.

import (
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"directord/internal/harness"
	"directord/internal/labnet"
	"directord/internal/netnstest"
	"directord/internal/realserver"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// rsHost is a real server in its own namespace, with the built binary.
type rsHost struct {
	t   *testing.T
	ns  *labnet.NS
	bin string
}

// Addresses that neither up nor down may touch.
var unrelated = []string{"2001:db8::200/128", "198.51.100.7/32"}

// newRSHost makes a namespace whose eth0 carries IPv4 (an uplink, where
// ARP settings would go) and whose lo already holds unrelated addresses;
// eth0's arp_announce is not the default, so a change would show.
func newRSHost(t *testing.T) rsHost {
	t.Helper()
	lan := netnstest.NewLAN(t, map[string]string{"rs": "192.168.11.12/24"})
	buildOnce.Do(func() { binPath, buildErr = harness.BuildDirectord() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	h := rsHost{t: t, ns: lan.Hosts["rs"].NS, bin: binPath}
	// Registered after the LAN's own cleanup, so it runs first, while
	// the namespace exists: a state file left by a failed test would
	// otherwise outlive it and be read by a later namespace that
	// happens to get the same inode number.
	t.Cleanup(func() { _, _ = h.ns.Command(t.Context(), h.bin, "realserver", "down").CombinedOutput() })
	if err := h.ns.Sysctl("net/ipv4/conf/eth0/arp_announce", "1"); err != nil {
		t.Fatal(err)
	}
	for _, a := range unrelated {
		if _, err := h.ns.Run("ip", "addr", "add", a, "dev", "lo"); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// run runs the binary in the namespace and returns its output and exit
// status.
func (h rsHost) run(args ...string) (string, int) {
	h.t.Helper()
	out, err := h.ns.Command(h.t.Context(), h.bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return string(out), 0
}

// mustRun is run that fails the test unless the exit status is 0.
func (h rsHost) mustRun(args ...string) string {
	h.t.Helper()
	out, code := h.run(args...)
	if code != 0 {
		h.t.Fatalf("directord %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// addrs lists dev's addresses as `ip -o addr` prints them: "inet6
// 2001:db8::100/128" to the flags after it ("scope", "global", "nodad").
func (h rsHost) addrs(dev string) map[string][]string {
	h.t.Helper()
	out, err := h.ns.Run("ip", "-o", "addr", "show", "dev", dev)
	if err != nil {
		h.t.Fatal(err)
	}
	m := map[string][]string{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		i := slices.IndexFunc(f, func(s string) bool { return s == "inet" || s == "inet6" })
		if i < 0 || i+1 >= len(f) {
			continue
		}
		flags := f[i+2:]
		if j := slices.Index(flags, `\`); j >= 0 {
			flags = flags[:j]
		}
		m[f[i]+" "+f[i+1]] = flags
	}
	return m
}

// sysctls reads the ARP settings up may change, on every interface it
// may change them on.
func (h rsHost) sysctls() map[string]string {
	h.t.Helper()
	m := map[string]string{}
	for _, iface := range []string{"all", "default", "lo", "eth0"} {
		for _, key := range []string{"arp_ignore", "arp_announce"} {
			m[iface+"/"+key] = sysctl(h.t, h.ns, iface, key)
		}
	}
	return m
}

// listen binds a TCP listener to addr inside the namespace and closes it.
func (h rsHost) listen(addr string) error {
	return h.ns.Do(func() error {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return err
		}
		return l.Close()
	})
}

// stateFile reports whether up's state file for this namespace exists.
func (h rsHost) stateFile() bool {
	h.t.Helper()
	var st syscall.Stat_t
	if err := h.ns.Do(func() error { return syscall.Stat("/proc/thread-self/ns/net", &st) }); err != nil {
		h.t.Fatal(err)
	}
	_, err := os.Stat(filepath.Join(realserver.StateDir, fmt.Sprintf("realserver-%d.json", st.Ino)))
	return err == nil
}

// added is what after has that before has not; removed the reverse.
func diff(before, after map[string][]string) (added, removed []string) {
	for k := range after {
		if _, ok := before[k]; !ok {
			added = append(added, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// checkAdded fails unless up added exactly want to dev, each IPv6 one
// flagged nodad and not tentative.
func (h rsHost) checkAdded(dev string, before map[string][]string, want ...string) {
	h.t.Helper()
	after := h.addrs(dev)
	added, removed := diff(before, after)
	if !slices.Equal(added, want) || len(removed) > 0 {
		h.t.Errorf("up on %s added %q and removed %q, want %q added and nothing removed", dev, added, removed, want)
	}
	for _, k := range want {
		flags, ok := after[k]
		if !ok || !strings.HasPrefix(k, "inet6 ") {
			continue
		}
		if !slices.Contains(flags, "nodad") || slices.Contains(flags, "tentative") || slices.Contains(flags, "dadfailed") {
			h.t.Errorf("%s on %s has flags %q: want nodad, not tentative", k, dev, flags)
		}
		if !slices.Contains(flags, "deprecated") {
			h.t.Errorf("%s on %s has flags %q: want deprecated, so it is never a source", k, dev, flags)
		}
	}
}

// checkDown runs down and fails unless dev and the sysctls are as they
// were before up, and the state file is gone.
func (h rsHost) checkDown(dev string, before map[string][]string, sysBefore map[string]string) string {
	h.t.Helper()
	out := h.mustRun("realserver", "down")
	added, removed := diff(before, h.addrs(dev))
	if len(added) > 0 || len(removed) > 0 {
		h.t.Errorf("after down, %s gained %q and lost %q", dev, added, removed)
	}
	if got := h.sysctls(); !maps.Equal(got, sysBefore) {
		h.t.Errorf("after down, sysctls %v, want %v as before up", got, sysBefore)
	}
	if h.stateFile() {
		h.t.Error("down left its state file")
	}
	return out
}

// An IPv6-only VIP: a /128 on lo, nodad, bound to at once, no ARP
// sysctl changed (IPv6 has no equivalent to set), and up says so.
func TestUpDownIPv6Only(t *testing.T) {
	h := newRSHost(t)
	before, sysBefore := h.addrs("lo"), h.sysctls()
	out := h.mustRun("realserver", "up", "--vip", "2001:db8::100")
	if err := h.listen("2001:db8::100"); err != nil {
		t.Errorf("listen on the VIP right after up: %v", err)
	}
	h.checkAdded("lo", before, "inet6 2001:db8::100/128")
	if got := h.sysctls(); !maps.Equal(got, sysBefore) {
		t.Errorf("an IPv6-only up changed sysctls: %v, before %v", got, sysBefore)
	}
	// The report is what an operator reads: it must not claim ARP
	// settings that were not made, and names the VIP as added.
	if !strings.Contains(out, "2001:db8::100/128 on lo") || strings.Contains(out, "arp_ignore=") {
		t.Errorf("up's report: %q, want the /128 on lo and no ARP settings claimed", out)
	}
	st := h.mustRun("realserver", "status", "--vip", "2001:db8::100")
	if !strings.Contains(st, "VIP 2001:db8::100 on lo") || strings.Contains(st, "arp_") {
		t.Errorf("status for an IPv6-only VIP:\n%s", st)
	}
	if out := h.checkDown("lo", before, sysBefore); !strings.Contains(out, "removed 2001:db8::100/128 from lo; no ARP settings to restore") {
		t.Errorf("down's report: %q, want the /128 removed and no ARP settings claimed", out)
	}
}

// An IPv4 and an IPv6 VIP together: both on lo, and the IPv4 one needs
// the ARP settings on all, lo and the uplink; down undoes all of it.
func TestUpDownMixedFamilies(t *testing.T) {
	h := newRSHost(t)
	before, sysBefore := h.addrs("lo"), h.sysctls()
	out := h.mustRun("realserver", "up", "--vip", "192.0.2.1", "--vip", "2001:db8::100")
	for _, a := range []string{"2001:db8::100", "192.0.2.1"} {
		if err := h.listen(a); err != nil {
			t.Errorf("listen on %s right after up: %v", a, err)
		}
	}
	if !strings.Contains(out, "192.0.2.1/32, 2001:db8::100/128 on lo") || !strings.Contains(out, "arp_ignore=1, arp_announce=2") {
		t.Errorf("up's report: %q, want both VIPs and the ARP settings", out)
	}
	h.checkAdded("lo", before, "inet 192.0.2.1/32", "inet6 2001:db8::100/128")
	got := h.sysctls()
	for _, iface := range []string{"all", "lo", "eth0"} {
		if a, b := got[iface+"/arp_ignore"], got[iface+"/arp_announce"]; a != "1" || b != "2" {
			t.Errorf("after up, %s: arp_ignore=%s arp_announce=%s, want 1 and 2", iface, a, b)
		}
	}
	if got["default/arp_ignore"] != sysBefore["default/arp_ignore"] {
		t.Errorf("up changed default/arp_ignore: %s", got["default/arp_ignore"])
	}
	h.checkDown("lo", before, sysBefore)
}

// On an interface with a carrier the kernel runs DAD, which keeps an
// address tentative (unusable) for a second or more; up's VIP must be
// usable at once there too. The control address, added the ordinary
// way, shows that DAD does run on this interface.
func TestIPv6VIPSkipsDAD(t *testing.T) {
	h := newRSHost(t)
	if _, err := h.ns.Run("ip", "addr", "add", "2001:db8::300/128", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	control := h.addrs("eth0")["inet6 2001:db8::300/128"]
	requireTentative(t, control)
	before, sysBefore := h.addrs("eth0"), h.sysctls()
	h.mustRun("realserver", "up", "--vip", "2001:db8::100", "--dev", "eth0")
	if err := h.listen("2001:db8::100"); err != nil {
		t.Errorf("listen on the VIP right after up: %v", err)
	}
	h.checkAdded("eth0", before, "inet6 2001:db8::100/128")
	h.checkDown("eth0", before, sysBefore)
}

// The VIP must never be the real server's own source: with --dev eth0
// it shares the interface with the server's address, and a /128 would
// win longest-prefix matching (RFC 6724 rule 8) for every destination
// near it; the server's own connections would leave from the VIP, and
// the answers go to whichever host holds it. Deprecated, it is skipped
// by rule 3 and still takes every packet sent to it.
func TestIPv6VIPIsNotTheSource(t *testing.T) {
	h := newRSHost(t)
	if _, err := h.ns.Run("ip", "addr", "add", "2001:db8::12/64", "dev", "eth0", "nodad"); err != nil {
		t.Fatal(err)
	}
	h.mustRun("realserver", "up", "--vip", "2001:db8::100", "--dev", "eth0")
	route, err := h.ns.Run("ip", "-6", "route", "get", "2001:db8::50")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(route, "src 2001:db8::12 ") {
		t.Errorf("the real server's source towards its subnet is not its own address: %s", route)
	}
	if err := h.listen("2001:db8::100"); err != nil {
		t.Errorf("listen on the deprecated VIP: %v", err)
	}
}

// requireTentative fails when the control address skipped DAD:
// the test would then prove nothing.
func requireTentative(t *testing.T, flags []string) {
	t.Helper()
	if !slices.Contains(flags, "tentative") {
		t.Fatalf("the control address is not tentative (flags %q): DAD does not run on eth0, so this test cannot tell", flags)
	}
}

// A namespace that was deleted without `realserver down` leaves its state
// file behind, named after the namespace's inode, which the kernel gives
// to a later namespace. That one must not inherit the dead one's state:
// its first up failed with "already up on eth0" in CI.
func TestStaleStateOfADeadNamespace(t *testing.T) {
	h := newRSHost(t)
	var st syscall.Stat_t
	if err := h.ns.Do(func() error { return syscall.Stat("/proc/thread-self/ns/net", &st) }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(realserver.StateDir, fmt.Sprintf("realserver-%d.json", st.Ino))
	if err := os.MkdirAll(realserver.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What the dead namespace's up wrote: another namespace's cookie.
	stale := `{"netns_cookie": 1, "dev": "eth0", "added": ["192.0.2.99/32"], "previous_sysctls": {}}`
	if err := os.WriteFile(path, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	before, sysBefore := h.addrs("lo"), h.sysctls()
	h.mustRun("realserver", "up", "--vip", "2001:db8::100")
	h.checkAdded("lo", before, "inet6 2001:db8::100/128")
	h.checkDown("lo", before, sysBefore)
}

// down restores only ARP settings of interfaces: a state file naming
// anything else is refused, not written under /proc/sys.
func TestDownRefusesForeignSysctls(t *testing.T) {
	h := newRSHost(t)
	var st syscall.Stat_t
	if err := h.ns.Do(func() error { return syscall.Stat("/proc/thread-self/ns/net", &st) }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(realserver.StateDir, fmt.Sprintf("realserver-%d.json", st.Ino))
	bad := `{"dev": "lo", "added": [], "previous_sysctls": {"../../ipv4/ip_forward/x": "1", "eth0/arp_ignore": "0; reboot"}}`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	out, code := h.run("realserver", "down")
	if code == 0 || !strings.Contains(out, "is not an ARP setting up saves") || !strings.Contains(out, "is not a number") {
		t.Errorf("down with a foreign sysctl in its state: exit %d\n%s", code, out)
	}
}
