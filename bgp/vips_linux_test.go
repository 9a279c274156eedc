package bgp_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"directord/bgp"
	"directord/internal/netnstest"
)

type memRecord struct{ ps []netip.Prefix }

func (m *memRecord) Load() ([]netip.Prefix, error) { return slices.Clone(m.ps), nil }
func (m *memRecord) Save(ps []netip.Prefix) error  { m.ps = slices.Clone(ps); return nil }

// The VIPs on lo in a fresh namespace: an address the record lists (left
// by a killed run) is adopted and removed when no longer wanted, an
// operator's is used and never removed, and Release takes only ours.
func TestVIPsOwnership(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"d": "10.81.0.1/24"})
	ns := lan.Hosts["d"].NS
	for _, a := range []string{"10.0.0.5/32", "10.0.0.6/32"} {
		if out, err := ns.Run("ip", "addr", "add", a, "dev", "lo"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	lo := func() string { out, _ := ns.Run("ip", "-4", "-o", "addr", "show", "dev", "lo"); return out }
	has := func(a string) bool { return strings.Contains(lo(), " "+a+" ") }
	rec := &memRecord{ps: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}
	p := netip.MustParsePrefix
	var v *bgp.VIPs
	if err := ns.Do(func() (err error) {
		v, err = bgp.HoldVIPs("lo", []netip.Prefix{p("10.0.0.7/32")}, rec)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if has("10.0.0.5/32") || !has("10.0.0.6/32") || !has("10.0.0.7/32") {
		t.Errorf("after HoldVIPs(10.0.0.7) with 10.0.0.5 recorded:\n%s", lo())
	}
	if !slices.Equal(rec.ps, []netip.Prefix{p("10.0.0.7/32")}) {
		t.Errorf("record %v", rec.ps)
	}
	if err := ns.Do(func() error { return v.Set([]netip.Prefix{p("10.0.0.6/32"), p("2001:db8::6/128")}) }); err != nil {
		t.Fatal(err)
	}
	if has("10.0.0.7/32") || !has("10.0.0.6/32") {
		t.Errorf("after Set(10.0.0.6, 2001:db8::6):\n%s", lo())
	}
	if out, _ := ns.Run("ip", "-6", "-o", "addr", "show", "dev", "lo"); !strings.Contains(out, "2001:db8::6/128") {
		t.Errorf("no IPv6 VIP:\n%s", out)
	}
	if err := ns.Do(v.Release); err != nil {
		t.Fatal(err)
	}
	if !has("10.0.0.6/32") || len(rec.ps) != 0 {
		t.Errorf("after Release, the operator's 10.0.0.6 must stay and the record be empty (%v):\n%s", rec.ps, lo())
	}
	if out, _ := ns.Run("ip", "-6", "-o", "addr", "show", "dev", "lo"); strings.Contains(out, "2001:db8::6") {
		t.Errorf("our IPv6 VIP stayed:\n%s", out)
	}
}
