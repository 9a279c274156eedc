package doctor

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"directord/internal/labnet"
	"directord/internal/netnstest"
	"directord/vrrp"
)

// advertise sends VRRPv3 adverts from ns every 100 ms until the test
// ends, as a peer or a foreign cluster would.
func advertise(t *testing.T, ns *labnet.NS, src netip.Addr, vrid uint8, vips ...netip.Addr) {
	t.Helper()
	var c vrrp.PacketConn
	if err := ns.Do(func() error {
		var err error
		c, err = vrrp.NewLinuxSystem(slog.New(slog.DiscardHandler)).Listen("eth0", vrrp.IPv4)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("224.0.0.18")
	msg, err := (&vrrp.Packet{Version: 3, Type: vrrp.TypeAdvertisement, VRID: vrid, Priority: 100, Interval: 100 * time.Millisecond, Addrs: vips}).Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = c.Send(msg, src, dst)
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// On a real link: our peer (same VRID, same VIPs) is fine; a speaker on
// our VRID with other VIPs, or one that is not a unicast peer, fails;
// with no master heard, a VIP another host holds answers ARP and fails,
// and one nobody holds is fine.
func TestSpeakersOnTheKernel(t *testing.T) {
	vip := netip.MustParseAddr("10.77.0.100")
	inst := Instance{Name: "web", Interface: "eth0", VRID: 51, VIPs: []netip.Addr{vip}, Listen: time.Second}
	run := func(t *testing.T, ns *labnet.NS, in Instance) []Finding {
		t.Helper()
		var fs []Finding
		if err := ns.Do(func() error { fs = speakers(Network{}, []Instance{in}); return nil }); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	t.Run("peer", func(t *testing.T) {
		lan := netnstest.NewLAN(t, map[string]string{"d": "10.77.0.1/24", "peer": "10.77.0.2/24"})
		advertise(t, lan.Hosts["peer"].NS, netip.MustParseAddr("10.77.0.2"), 51, vip)
		fs := run(t, lan.Hosts["d"].NS, inst)
		if len(fs) != 1 || fs[0].Status != OK || !strings.Contains(fs[0].Detail, "our peer: 10.77.0.2 (priority 100") {
			t.Errorf("%+v", fs)
		}
		unicast := inst
		unicast.Peers = []netip.Addr{netip.MustParseAddr("10.77.0.3")}
		if fs := run(t, lan.Hosts["d"].NS, unicast); fs[0].Status != Fail || !strings.Contains(fs[0].Detail, "not a unicast peer") {
			t.Errorf("a speaker that is not a unicast peer: %+v", fs)
		}
	})
	t.Run("foreign cluster", func(t *testing.T) {
		lan := netnstest.NewLAN(t, map[string]string{"d": "10.77.0.1/24", "other": "10.77.0.9/24"})
		advertise(t, lan.Hosts["other"].NS, netip.MustParseAddr("10.77.0.9"), 51, netip.MustParseAddr("10.77.0.200"))
		advertise(t, lan.Hosts["other"].NS, netip.MustParseAddr("10.77.0.9"), 52, vip) // another VRID: not ours
		fs := run(t, lan.Hosts["d"].NS, inst)
		if len(fs) != 1 || fs[0].Status != Fail || !strings.Contains(fs[0].Detail, "10.77.0.9 (priority 100, VIPs 10.77.0.200), other VIPs than ours") || fs[0].Fix == "" {
			t.Errorf("%+v", fs)
		}
	})
	t.Run("vip held outside vrrp", func(t *testing.T) {
		lan := netnstest.NewLAN(t, map[string]string{"d": "10.77.0.1/24", "squatter": "10.77.0.5/24"})
		fs := run(t, lan.Hosts["d"].NS, inst)
		if len(fs) != 2 || fs[0].Status != OK || fs[1].Status != OK {
			t.Fatalf("nobody holds the VIP: %+v", fs)
		}
		sq := lan.Hosts["squatter"]
		if out, err := sq.NS.Run("ip", "addr", "add", "10.77.0.100/24", "dev", "eth0"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		fs = run(t, lan.Hosts["d"].NS, inst)
		mac, err := sq.NS.Run("cat", "/sys/class/net/eth0/address")
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 2 || fs[1].Status != Fail || !strings.Contains(fs[1].Detail, "answered by "+strings.TrimSpace(mac)) {
			t.Errorf("the squatter's MAC %s: %+v", strings.TrimSpace(mac), fs)
		}
	})
}
