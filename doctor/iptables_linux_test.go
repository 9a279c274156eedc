package doctor

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// Legacy iptables rules made for real in a namespace with
// iptables-legacy-restore, read back by doctor through
// iptables-legacy-save: each rule that drops VRRP or a service fails its
// probe, one behind a match not checked here warns, and what the rules
// let in passes.
func TestLegacyIPTablesOnTheKernel(t *testing.T) {
	testenv.RequireCommand(t, "iptables-legacy-restore")
	lan := netnstest.NewLAN(t, map[string]string{"d": "10.78.0.1/24"})
	ns := lan.Hosts["d"].NS
	probes := kernelProbes()

	// A namespace whose tables were never used: doctor must not make them.
	if err := ns.Do(func() error {
		for _, tool := range legacyTools {
			if save, err := (System{}).IPTables(tool); save != "" || err != nil {
				t.Errorf("%s on unused tables: %q, %v", tool.Name, save, err)
			}
		}
		b, _ := os.ReadFile("/proc/thread-self/net/ip_tables_names")
		if slices.Contains(strings.Fields(string(b)), "filter") {
			t.Error("reading the rules loaded the legacy filter table")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	const accept = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	const drop = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	for _, c := range []struct {
		name, v4, v6 string
		want         map[string]Status // by What; the others OK
	}{
		{"vrrp dropped", accept + "-A INPUT -p vrrp -j DROP\n", "", map[string]Status{"vrrp4": Fail}},
		{"policy drop, web let in", drop +
			"-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n", "",
			map[string]Status{"vrrp4": Fail, "tls": Fail, "dns": Fail}},
		{"a user chain", accept + ":SERVICES - [0:0]\n-A INPUT -d 10.0.0.100/32 -j SERVICES\n" +
			"-A SERVICES -p tcp -m multiport --dports 443,8443 -j REJECT --reject-with tcp-reset\n-A SERVICES -j RETURN\n-A INPUT -p udp -j ACCEPT\n", "",
			map[string]Status{"tls": Fail}},
		{"negated", accept + "-A INPUT ! -p tcp -j DROP\n", "", map[string]Status{"vrrp4": Fail, "dns": Fail}},
		{"a comment with spaces", accept + "-A INPUT -p udp -m comment --comment \"no dns for you\" -m udp --dport 53 -j DROP\n", "",
			map[string]Status{"dns": Fail}},
		{"a drop by interface", accept + "-A INPUT -i eth1 -p vrrp -j DROP\n", "", map[string]Status{"vrrp4": Warn}},
		{"ip6 group dropped", accept, accept + "-A INPUT -d ff02::12/128 -j DROP\n", map[string]Status{"vrrp6": Fail}},
		{"everything let in", drop + "-A INPUT -p vrrp -j ACCEPT\n-A INPUT -d 10.0.0.0/24 -p tcp -m multiport --dports 80,443 -j ACCEPT\n" +
			"-A INPUT -d 10.0.0.0/24 -p udp -m udp --dport 53 -j ACCEPT\n", drop + "-A INPUT -p vrrp -j ACCEPT\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			restore := func(tool, rules string) {
				if rules == "" {
					rules = accept
				}
				cmd := ns.Command(context.Background(), tool)
				cmd.Stdin = strings.NewReader(rules + "COMMIT\n")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v %s", tool, err, out)
				}
			}
			restore("iptables-legacy-restore", c.v4)
			restore("ip6tables-legacy-restore", c.v6)
			var fs []Finding
			if err := ns.Do(func() error {
				fs = firewalls(System{}, probes)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(fs) != len(probes) {
				t.Fatalf("findings: %+v", fs)
			}
			for i, p := range probes {
				t.Logf("%s: %s %s | %s", p.What, fs[i].Status, fs[i].Detail, fs[i].Fix)
				want := c.want[p.What]
				if fs[i].Status != want {
					t.Errorf("%s: %s (%s), want %s", p.What, fs[i].Status, fs[i].Detail, want)
				}
				if want != OK && !strings.Contains(fs[i].Fix, "tables-legacy -I INPUT") {
					t.Errorf("%s: fix %q", p.What, fs[i].Fix)
				}
			}
		})
	}
}
