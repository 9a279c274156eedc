package healthcheck

import (
	"net/netip"
	"testing"
	"time"

	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// An icmp check from a raw socket against a host in another network
// namespace, over IPv4 and IPv6: answered is up at the first reply, a
// host that ignores echoes is a timeout after count requests, a network
// without a route is unreachable.
func TestICMPInNamespaces(t *testing.T) {
	testenv.RequireRoot(t)
	lan := netnstest.NewLAN(t, map[string]string{"cli": "10.77.0.1/24", "srv": "10.77.0.2/24", "mute": "10.77.0.3/24"})
	for name, a := range map[string]string{"cli": "fd77::1/64", "srv": "fd77::2/64", "mute": "fd77::3/64"} {
		if _, err := lan.Hosts[name].NS.Run("ip", "addr", "add", a, "dev", "eth0", "nodad"); err != nil {
			t.Fatal(err)
		}
	}
	mute := lan.Hosts["mute"].NS
	if err := mute.Sysctl("net/ipv4/icmp_echo_ignore_all", "1"); err != nil {
		t.Fatal(err)
	}
	if err := mute.Sysctl("net/ipv6/icmp/echo_ignore_all", "1"); err != nil {
		t.Fatal(err)
	}
	s := func(target string, count int) Spec {
		timeout := 2 * time.Second // a loaded machine, and the first echo waits for ARP or ND
		if count > 1 {
			timeout = 600 * time.Millisecond
		}
		return Spec{Type: TypeICMP, Target: netip.AddrPortFrom(netip.MustParseAddr(target), 0), Timeout: timeout, Params: &Params{Count: count}}
	}
	got := map[string]Result{}
	err := lan.Hosts["cli"].NS.Do(func() error {
		for _, sp := range []Spec{s("10.77.0.2", 1), s("fd77::2", 1), s("10.77.0.3", 3), s("fd77::3", 2), s("10.200.0.1", 1)} {
			got[sp.Target.Addr().String()] = check(t, sp)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, got["10.77.0.2"], true, "echo reply (1 sent)")
	expect(t, got["fd77::2"], true, "echo reply (1 sent)")
	expect(t, got["10.77.0.3"], false, "timeout: no echo reply (3 sent)")
	expect(t, got["fd77::3"], false, "timeout: no echo reply (2 sent)")
	if l := got["10.77.0.3"].Latency; l < 500*time.Millisecond || l > 1500*time.Millisecond {
		t.Errorf("timeout after %s, want about 600ms", l)
	}
	expect(t, got["10.200.0.1"], false, "unreachable")
}
