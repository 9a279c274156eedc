//go:build linux

package doctor

import (
	"os"
	"testing"

	"directord/internal/netnstest"
)

// On the real kernel, in a namespace: each problem made for real and
// seen, then fixed and seen fixed. The ip_vs module is judged against
// /proc/net/ip_vs, an independent sign of IPVS (this host has none; the
// UML guest has it).
func TestOnTheKernel(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"d": "10.77.0.1/24"})
	ns := lan.Hosts["d"].NS
	in := Input{NAT: true, Interfaces: []Named{{"eth0", "vrrp_instance web"}, {"eth7", "track_interface of web"}}, VIPInterfaces: []string{"eth0"}}
	run := func() []Finding {
		t.Helper()
		var fs []Finding
		if err := ns.Do(func() error { fs = Run(System{}, nil, in); return nil }); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	for k, v := range map[string]string{"net/ipv4/ip_forward": "0", "net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/eth0/rp_filter": "1"} {
		if err := ns.Sysctl(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fs := run()
	for check, want := range map[string]Status{"ip_forward": Fail, "rp_filter eth0": Warn, "interface eth0": OK, "interface eth7": Fail} {
		if f := find(t, fs, check); f.Status != want {
			t.Errorf("%s: %s (%s), want %s", check, f.Status, f.Detail, want)
		}
	}
	_, err := os.Stat("/proc/net/ip_vs")
	if f := find(t, fs, "module ip_vs"); (err == nil) != (f.Status == OK) {
		t.Errorf("module ip_vs: %s, while /proc/net/ip_vs exists: %v", f.Status, err == nil)
	}

	for k, v := range map[string]string{"net/ipv4/ip_forward": "1", "net/ipv4/conf/eth0/rp_filter": "2"} {
		if err := ns.Sysctl(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ns.Run("ip", "link", "add", "eth7", "type", "veth", "peer", "name", "eth7p"); err != nil {
		t.Fatal(err)
	}
	fs = run()
	for _, check := range []string{"ip_forward", "rp_filter eth0", "interface eth7"} {
		if f := find(t, fs, check); f.Status != OK {
			t.Errorf("fixed %s: %s (%s)", check, f.Status, f.Detail)
		}
	}
}
