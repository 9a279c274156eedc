//go:build linux

package throughvip

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"directord/internal/labnet"
	"directord/internal/netnstest"
)

// The Manager on a real kernel, in a namespace: it installs a real's rule
// and route, sets accept_local, removes what a killed daemon left in its
// range, puts back a route that went away, keeps a real's route while its
// next hop cannot be looked up, refuses the host's own address, leaves
// every rule and table outside its ownership alone, and at Close removes
// all of its own and restores accept_local.
func TestManagerOnTheKernel(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"d": "10.77.0.1/24"})
	ns := lan.Hosts["d"].NS
	ip := func(args ...string) string {
		t.Helper()
		out, err := ns.Run("ip", args...)
		if err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// Not ours: a rule to another table, one at another priority, one
	// outside the range, and a route in an unrelated table.
	ip("rule", "add", "pref", "1000", "fwmark", "0x44490009", "lookup", "100")
	ip("rule", "add", "pref", "900", "fwmark", "0x44490008", "lookup", "1145634824")
	ip("rule", "add", "pref", "1000", "fwmark", "7", "lookup", "7")
	ip("route", "add", "10.77.0.100", "via", "10.77.0.50", "dev", "eth0", "onlink", "table", "100")
	// Left by a killed daemon: a rule and its route.
	ip("rule", "add", "pref", "1000", "fwmark", "0x44490005", "lookup", "1145634821")
	ip("route", "add", "10.77.0.100", "via", "10.77.0.13", "dev", "eth0", "onlink", "table", "1145634821")
	ip("route", "add", "203.0.113.0/24", "via", "10.77.0.254")
	foreignRules := func() []string {
		var out []string
		for _, l := range strings.Split(ip("rule"), "\n") {
			if strings.Contains(l, "lookup 100") || strings.Contains(l, "900:") || strings.Contains(l, "fwmark 0x7 ") {
				out = append(out, l)
			}
		}
		return out
	}

	m := New(Range{Value: 0x44490000, Mask: 0xffff0000}, slog.New(slog.DiscardHandler))
	vip := netip.MustParseAddr("10.77.0.100")
	s1 := Steer{Mark: 0x44490001, Real: netip.MustParseAddr("10.77.0.11"), VIPs: []netip.Addr{vip}}
	remote := Steer{Mark: 0x44490002, Real: netip.MustParseAddr("203.0.113.5"), VIPs: []netip.Addr{vip}}
	apply := func(steers ...Steer) error {
		t.Helper()
		var err error
		if derr := ns.Do(func() error { err = m.Apply(steers); return nil }); derr != nil {
			t.Fatal(derr)
		}
		return err
	}
	if err := apply(s1, remote); err != nil {
		t.Fatal(err)
	}
	rules := ip("rule")
	for _, want := range []string{"1000:\tfrom all fwmark 0x44490001 lookup 1145634817", "1000:\tfrom all fwmark 0x44490002 lookup 1145634818"} {
		if !strings.Contains(rules, want) {
			t.Errorf("ip rule lacks %q:\n%s", want, rules)
		}
	}
	if strings.Contains(rules, "0x44490005") {
		t.Errorf("the leftover rule is still there:\n%s", rules)
	}
	if got := len(foreignRules()); got != 3 {
		t.Errorf("%d of the 3 foreign rules left:\n%s", got, rules)
	}
	if r := ip("route", "show", "table", "1145634817"); !strings.HasPrefix(r, "10.77.0.100 via 10.77.0.11 dev eth0 onlink") {
		t.Errorf("table of 10.77.0.11: %q", r)
	}
	// A real behind a gateway is reached through it.
	if r := ip("route", "show", "table", "1145634818"); !strings.HasPrefix(r, "10.77.0.100 via 10.77.0.254 dev eth0 onlink") {
		t.Errorf("table of 203.0.113.5: %q", r)
	}
	if r := ip("route", "show", "table", "100"); !strings.Contains(r, "10.77.0.50") {
		t.Errorf("the foreign table lost its route: %q", r)
	}
	if v := sysctl(t, ns, "accept_local"); v != "1" {
		t.Errorf("accept_local = %s, want 1", v)
	}

	// accept_local reset under it (an interface made again) is set again.
	if err := ns.Sysctl("net/ipv4/conf/eth0/accept_local", "0"); err != nil {
		t.Fatal(err)
	}
	if err := apply(s1, remote); err != nil {
		t.Fatal(err)
	}
	if v := sysctl(t, ns, "accept_local"); v != "1" {
		t.Errorf("accept_local reset to 0 and applied again = %s, want 1", v)
	}
	// A route flushed (as by a link going down) comes back.
	ip("route", "del", "10.77.0.100", "table", "1145634817")
	if err := apply(s1, remote); err != nil {
		t.Fatal(err)
	}
	if r := ip("route", "show", "table", "1145634817"); !strings.HasPrefix(r, "10.77.0.100 via 10.77.0.11") {
		t.Errorf("the flushed route was not put back: %q", r)
	}
	// A real whose next hop cannot be found keeps its route, with an
	// error; the host's own address is refused.
	ip("route", "del", "203.0.113.0/24")
	own := Steer{Mark: 0x44490003, Real: netip.MustParseAddr("10.77.0.1"), VIPs: []netip.Addr{vip}}
	err := apply(s1, remote, own)
	if err == nil || !strings.Contains(err.Error(), "203.0.113.5") || !strings.Contains(err.Error(), "address of this host") {
		t.Errorf("Apply with an unreachable real and the host's own address: %v", err)
	}
	if r := ip("route", "show", "table", "1145634818"); !strings.Contains(r, "via 10.77.0.254") {
		t.Errorf("the unreachable real lost its route: %q", r)
	}
	if strings.Contains(ip("rule"), "0x44490003") {
		t.Error("a rule was made for the host's own address")
	}

	if derr := ns.Do(func() error { err = m.Close(); return nil }); derr != nil || err != nil {
		t.Fatalf("Close: %v %v", derr, err)
	}
	rules = ip("rule")
	for _, ours := range []string{"0x44490001", "0x44490002", "0x44490005"} {
		if strings.Contains(rules, ours) {
			t.Errorf("after Close, a rule for %s is left:\n%s", ours, rules)
		}
	}
	if got := len(foreignRules()); got != 3 {
		t.Errorf("Close removed foreign rules:\n%s", rules)
	}
	if v := sysctl(t, ns, "accept_local"); v != "0" {
		t.Errorf("accept_local after Close = %s, want 0 as it was", v)
	}
}

func sysctl(t *testing.T, ns *labnet.NS, name string) string {
	t.Helper()
	out, err := ns.Run("sysctl", "-n", "net.ipv4.conf.eth0."+name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
