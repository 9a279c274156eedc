package main

import (
	"strings"
	"testing"

	"directord/internal/netnstest"
)

// doctor --realserver in a namespace: a host without the VIP on lo and
// with the default ARP settings fails on each, with `realserver up` as
// the fix; with them made by hand it passes.
func TestDoctorRealServer(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"rs": "192.168.11.12/24"})
	ns := lan.Hosts["rs"].NS
	doctor := func() (int, string) {
		t.Helper()
		var code int
		var out, errOut string
		if err := ns.Do(func() error {
			code, out, errOut = runCLI(t, "doctor", "--realserver", "--vip", "192.168.11.100")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return code, out + errOut
	}
	code, out := doctor()
	if code != 2 {
		t.Errorf("a bare host: exit %d, want 2\n%s", code, out)
	}
	for _, want := range []string{"fail    VIP 192.168.11.100 on lo", "fail    arp_ignore on eth0", "fail    arp_announce on eth0", "directord realserver up --dev lo --vip 192.168.11.100"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if out, err := ns.Run("ip", "addr", "add", "192.168.11.100/32", "dev", "lo"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for k, v := range map[string]string{"net/ipv4/conf/all/arp_ignore": "1", "net/ipv4/conf/all/arp_announce": "2"} {
		if err := ns.Sysctl(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := doctor(); code != 0 {
		t.Errorf("a prepared host: exit %d, want 0\n%s", code, out)
	}
}
