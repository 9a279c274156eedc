package doctor

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// Firewall rules made for real with nft in a namespace, read back with
// `nft -j list ruleset`: each rule that drops VRRP or a service fails its
// probe, a drop behind a match not checked here warns, and what the
// rules let in passes.
func TestFirewallOnTheKernel(t *testing.T) {
	testenv.RequireCommand(t, "nft")
	lan := netnstest.NewLAN(t, map[string]string{"d": "10.77.0.1/24"})
	ns := lan.Hosts["d"].NS
	probes := kernelProbes()
	const head = "table inet f {\n  chain input {\n    type filter hook input priority 0; policy "
	for _, c := range []struct {
		name, rules string
		want        map[string]Status // by What; the others OK
	}{
		{"no rules", "", nil},
		{"vrrp dropped", head + "accept;\n    ip protocol vrrp drop\n  }\n}\n", map[string]Status{"vrrp4": Fail}},
		{"the group dropped", head + "accept;\n    ip daddr 224.0.0.18 drop\n    ip6 daddr ff02::12 reject\n  }\n}\n",
			map[string]Status{"vrrp4": Fail, "vrrp6": Fail}},
		{"policy drop, web let in", head + "drop;\n    tcp dport 80 accept\n  }\n}\n",
			map[string]Status{"vrrp4": Fail, "vrrp6": Fail, "tls": Fail, "dns": Fail}},
		{"policy drop, vrrp and services let in", head + "drop;\n    meta l4proto vrrp accept\n    ip daddr 10.0.0.0/24 th dport { 53, 80, 443 } accept\n  }\n}\n", nil},
		{"a set of ports dropped", head + "accept;\n    ip daddr 10.0.0.100 tcp dport { 443, 8443 } counter drop\n  }\n}\n",
			map[string]Status{"tls": Fail}},
		{"a drop by interface", head + "accept;\n    iifname \"eth1\" ip protocol 112 drop\n  }\n}\n",
			map[string]Status{"vrrp4": Warn}},
		{"an ip6 table", "table ip6 g {\n  chain input {\n    type filter hook input priority 0; policy drop;\n  }\n}\n",
			map[string]Status{"vrrp6": Fail}},
		{"not the input hook", "table inet f {\n  chain out {\n    type filter hook output priority 0; policy drop;\n  }\n}\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if out, err := ns.Run("nft", "flush", "ruleset"); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if c.rules != "" {
				f := filepath.Join(t.TempDir(), "rules.nft")
				if err := os.WriteFile(f, []byte(c.rules), 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := ns.Run("nft", "-f", f); err != nil {
					t.Fatalf("%v %s", err, out)
				}
			}
			var fs []Finding
			if err := ns.Do(func() error {
				rs, err := System{}.Ruleset()
				fs = firewall(rs, err, probes)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for i, p := range probes {
				want := c.want[p.What]
				if fs[i].Status != want {
					t.Errorf("%s: %s (%s), want %s", p.What, fs[i].Status, fs[i].Detail, want)
				}
				if want != OK && fs[i].Fix == "" {
					t.Errorf("%s: no fix", p.What)
				}
			}
		})
	}
}

// kernelProbes are the packets the firewall tests send through the
// rules: VRRP of both families and three services on one VIP.
func kernelProbes() []Probe {
	return []Probe{
		{What: "vrrp4", Proto: 112, Dst: netip.MustParseAddr("224.0.0.18")},
		{What: "vrrp6", IPv6: true, Proto: 112, Dst: netip.MustParseAddr("ff02::12")},
		{What: "web", Proto: 6, Dst: netip.MustParseAddr("10.0.0.100"), Port: 80},
		{What: "tls", Proto: 6, Dst: netip.MustParseAddr("10.0.0.100"), Port: 443},
		{What: "dns", Proto: 17, Dst: netip.MustParseAddr("10.0.0.100"), Port: 53},
	}
}
