package vrrp

import (
	"net/netip"
	"testing"

	"directord/internal/netnstest"
)

// An interface deleted and made again: the announcer's packet socket was
// bound to the old one, so the first announcement of the next takeover
// failed ("no such device or address") and only a later one of its burst
// went out. It now reopens and sends at once.
func TestAnnounceAfterInterfaceRecreated(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"a": "10.77.0.1/24"})
	ns := lan.Hosts["a"].NS
	an := newARPAnnouncer()
	defer an.Close()
	vip := []netip.Addr{netip.MustParseAddr("10.77.0.1")}
	if err := ns.Do(func() error { return an.Announce("eth0", vip) }); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Run("ip", "link", "del", "eth0"); err != nil {
		t.Fatal(err)
	}
	if _, err := lan.Net.Connect(ns, lan.Bridge, "eth0", netip.MustParsePrefix("10.77.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := ns.Do(func() error { return an.Announce("eth0", vip) }); err != nil {
		t.Errorf("first announcement on the new interface: %v", err)
	}
}
