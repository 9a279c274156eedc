package realserver_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"directord/internal/harness"
	"directord/internal/labnet"
	"directord/internal/netnstest"
)

func sysctl(t *testing.T, ns *labnet.NS, iface, key string) string {
	t.Helper()
	var v string
	err := ns.Do(func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + iface + "/" + key)
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// `directord realserver up` and `down` in a namespace: the VIP on lo and
// the ARP sysctls after up, everything back as it was after down, and
// both idempotent.
func TestUpDown(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"rs": "192.168.11.12/24"})
	bin, err := harness.BuildDirectord()
	if err != nil {
		t.Fatal(err)
	}
	ns := lan.Hosts["rs"].NS
	// A non-default starting value, to prove down restores it exactly.
	if err := ns.Sysctl("net/ipv4/conf/eth0/arp_announce", "1"); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		out, err := ns.Command(t.Context(), bin, args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	vipOnLo := func() bool {
		out, err := ns.Run("ip", "-o", "addr", "show", "dev", "lo")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(out, "192.168.11.100/32")
	}
	if out, code := run("realserver", "status", "--vip", "192.168.11.100"); code != 3 || !strings.Contains(out, "NOT READY") {
		t.Fatalf("status before up: exit %d\n%s", code, out)
	}
	for i := range 2 { // twice: idempotent
		if out, code := run("realserver", "up", "--vip", "192.168.11.100"); code != 0 {
			t.Fatalf("up #%d: exit %d\n%s", i+1, code, out)
		}
		if !vipOnLo() {
			t.Fatal("VIP not on lo after up")
		}
		for _, iface := range []string{"all", "lo", "eth0"} {
			if a, b := sysctl(t, ns, iface, "arp_ignore"), sysctl(t, ns, iface, "arp_announce"); a != "1" || b != "2" {
				t.Errorf("after up #%d, %s: arp_ignore=%s arp_announce=%s", i+1, iface, a, b)
			}
		}
	}
	if out, code := run("realserver", "status", "--vip", "192.168.11.100"); code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("status after up: exit %d\n%s", code, out)
	}
	for i := range 2 {
		if out, code := run("realserver", "down"); code != 0 {
			t.Fatalf("down #%d: exit %d\n%s", i+1, code, out)
		}
	}
	if vipOnLo() {
		t.Error("VIP still on lo after down")
	}
	for iface, want := range map[string][2]string{"all": {"0", "0"}, "lo": {"0", "0"}, "eth0": {"0", "1"}} {
		if a, b := sysctl(t, ns, iface, "arp_ignore"), sysctl(t, ns, iface, "arp_announce"); a != want[0] || b != want[1] {
			t.Errorf("after down, %s: arp_ignore=%s arp_announce=%s, want %s %s", iface, a, b, want[0], want[1])
		}
	}
}
