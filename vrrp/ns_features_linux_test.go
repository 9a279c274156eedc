package vrrp_test

// Integration tests of what surrounds the election: tracking, receive
// rules, VIP ownership, hooks, sync groups, several interfaces.

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/labnet"
	"directord/vrrp"
)

// track_interface: with weight 0 a down link is Fault; with a negative
// weight the priority drops and the peer preempts.
func TestTrackInterface(t *testing.T) {
	p := newPair(t)
	addTrackLink(t, p.LB2)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"),
		harness.Instance("web", 51, 200, "100ms", `track_interface "trk0" {}`), p.LB2)
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "down"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "FAULT", time.Second)
	p.LB1.WaitState(t, "web", "MASTER", time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.Fault != "interface trk0" {
		t.Errorf("fault cause %q", in.Fault)
	}
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "up"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
}

func TestTrackInterfaceWeight(t *testing.T) {
	p := newPair(t)
	addTrackLink(t, p.LB2)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"),
		harness.Instance("web", 51, 200, "100ms", `track_interface "trk0" { weight = -150 }`), p.LB2)
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "down"); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "web", "BACKUP", time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.EffectivePriority != 50 || in.Priority != 200 {
		t.Errorf("priority %d effective %d, want 200 and 50", in.Priority, in.EffectivePriority)
	}
}

// Every receive rule of RFC 9568 §7.1: a hand-made bad packet from the
// observer, with a priority that would win if accepted, is dropped,
// counted under its reason, and changes no state. A good one, last, proves
// the path works.
func TestReceiveRules(t *testing.T) {
	p := newPair(t)
	v2 := `vrrp_instance "shop" {
  interface = "eth0"
  virtual_router_id = 52
  priority = 200
  version = 2
  advert_interval = "1s"
  virtual_ips = ["10.9.0.101/24"]
  authentication {
    type = "pass"
    password = "secret"
  }
}
`
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 200, "100ms")+v2)
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB2.WaitState(t, "shop", "MASTER", 5*time.Second)

	v3 := func(vrid uint8) []byte {
		b, err := (&vrrp.Packet{Version: 3, Type: 1, VRID: vrid, Priority: 254, Interval: 100 * time.Millisecond,
			Addrs: []netip.Addr{harness.VIP}}).Marshal(harness.ObsAddr, vrrp.MulticastGroup)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongAuth, _ := (&vrrp.Packet{Version: 2, Type: 1, VRID: 52, Priority: 254, Interval: time.Second,
		AuthType: vrrp.AuthPass, AuthData: vrrp.PassData("guess"), Addrs: []netip.Addr{netip.MustParseAddr("10.9.0.101")}}).
		Marshal(harness.ObsAddr, vrrp.MulticastGroup)
	badSum := v3(51)
	badSum[6] ^= 0x55
	cases := []struct {
		name     string
		ttl      int
		msg      []byte
		instance string
		reason   vrrp.Drop
	}{
		{"TTL 64", 64, v3(51), "web", vrrp.DropTTL},
		{"bad checksum", 255, badSum, "web", vrrp.DropChecksum},
		{"truncated", 255, v3(51)[:10], "web", vrrp.DropLength},
		{"wrong auth", 255, wrongAuth, "shop", vrrp.DropAuth},
		{"wrong VRID", 255, v3(99), "", vrrp.DropVRID},
	}
	before := map[string]int{"web": len(transitions(t, p.LB2, "web")), "shop": len(transitions(t, p.LB2, "shop"))}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			count := func() uint64 {
				doc := p.LB2.Status(t)
				if c.instance == "" {
					return doc.VRRP.UnclaimedDrops["eth0"][c.reason]
				}
				return instanceStatus(t, p.LB2, c.instance).Drops[c.reason]
			}
			n := count()
			if err := harness.SendIPv4(p.Observer, "eth0", vrrp.ProtocolNumber, c.ttl, harness.ObsAddr, vrrp.MulticastGroup, c.msg); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for count() != n+1 {
				if time.Now().After(deadline) {
					t.Fatalf("%s drops: %d, want %d", c.reason, count(), n+1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	for name, n := range before {
		if got := len(transitions(t, p.LB2, name)); got != n || p.LB2.State(name) != "MASTER" {
			t.Errorf("%s changed state on bad packets: %d transitions (was %d), state %s", name, got, n, p.LB2.State(name))
		}
	}
	// The control: the same packet, correct, makes the master step down.
	if err := harness.SendIPv4(p.Observer, "eth0", vrrp.ProtocolNumber, 255, harness.ObsAddr, vrrp.MulticastGroup, v3(51)); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "BACKUP", time.Second)
}

// A VIP removed behind our back while master is put back and announced.
func TestVIPRestored(t *testing.T) {
	p := newPair(t)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), harness.Instance("web", 51, 200, "100ms"), p.LB2)
	removed := time.Now()
	if _, err := p.LB2.NS().Run("ip", "addr", "del", harness.VIP.String()+"/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !p.LB2.HasAddr(t, harness.VIP.String()) {
		if time.Now().After(deadline) {
			t.Fatal("the VIP was not restored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := p.Wire.WaitFor(removed, time.Second, func(f harness.Frame) bool {
		return f.Gratuitous(harness.VIP) && f.SrcMAC == macOf(p, p.LB2)
	}); !ok {
		t.Error("no gratuitous ARP after restoring the VIP")
	}
	if in := instanceStatus(t, p.LB2, "web"); in.VIPsRestored != 1 {
		t.Errorf("vips_restored = %d, want 1", in.VIPsRestored)
	}
}

// Notify hooks run without a shell, in order, with keepalived's arguments
// and our environment; a failing one is logged and changes nothing.
func TestNotifyHooks(t *testing.T) {
	p := newPair(t)
	out := p.LB2.Dir + "/hooks.log"
	hook := func(tag, exit string) string {
		return `["/bin/sh", "-c", "echo ` + tag + ` \"$@\" $DIRECTORD_STATE $DIRECTORD_PRIORITY >> ` + out + `; exit ` + exit + `", "hook"]`
	}
	body := harness.Instance("web", 51, 200, "100ms",
		"notify {", "  master = "+hook("m", "0"), "  backup = "+hook("b", "3"), "  stop = "+hook("s", "0"), "}")
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), body, p.LB2)
	p.LB2.Stop(t, 2*time.Second)
	got := readFile(t, out)
	want := "b INSTANCE web BACKUP 200 BACKUP 200\nm INSTANCE web MASTER 200 MASTER 200\ns INSTANCE web STOP 200 STOP 200\n"
	if got != want {
		t.Errorf("hooks ran:\n%s\nwant:\n%s", got, want)
	}
	failed := p.LB2.LogLines("notify hook failed")
	if len(failed) != 1 || failed[0]["state"] != "BACKUP" || failed[0]["exit"] != float64(3) {
		t.Errorf("the failing backup hook was not logged as such: %v", failed)
	}
}

func TestSyncGroupMovesTogether(t *testing.T) {
	p := newPair(t)
	second := `vrrp_instance "db" {
  interface = "eth0"
  virtual_router_id = 52
  priority = %d
  advert_interval = "100ms"
  virtual_ips = ["10.9.0.101/24"]
}
vrrp_sync_group "g" {
  instances = ["web", "db"]
}
`
	addTrackLink(t, p.LB2)
	cfg1 := harness.Instance("web", 51, 100, "100ms") + strings.Replace(second, "%d", "100", 1)
	cfg2 := harness.Instance("web", 51, 200, "100ms") + strings.Replace(second, "%d", "200", 1)
	cfg2 = strings.Replace(cfg2, `virtual_ips = ["10.9.0.101/24"]`, `virtual_ips = ["10.9.0.101/24"]
  track_interface "trk0" {}`, 1)
	startPair(t, p, cfg1, cfg2, p.LB2)
	p.LB2.WaitState(t, "db", "MASTER", time.Second)
	// Only "db" tracks trk0, but the whole group goes.
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "down"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "FAULT", time.Second)
	p.LB2.WaitState(t, "db", "FAULT", time.Second)
	p.LB1.WaitState(t, "web", "MASTER", time.Second)
	p.LB1.WaitState(t, "db", "MASTER", time.Second)
	if _, err := p.LB2.NS().Run("ip", "link", "set", "trk0", "up"); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "db", "MASTER", 2*time.Second)
}

// track_script with rise/fall and a negative weight, and track_file with
// weight 0 (a non-zero value is a fault).
func TestTrackScriptAndFile(t *testing.T) {
	p := newPair(t)
	flag := p.LB2.Dir + "/healthy"
	level := p.LB2.Dir + "/level"
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	body := harness.Instance("web", 51, 200, "100ms",
		`track_script "chk" {`,
		`  command = ["/bin/sh", "-c", "test -e `+flag+`"]`,
		`  interval = "100ms"`,
		`  rise = 2`,
		`  fall = 2`,
		`  weight = -150`,
		`}`,
		`track_file "`+level+`" { weight = 0 }`)
	startPair(t, p, harness.Instance("web", 51, 100, "100ms"), body, p.LB2)
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "web", "MASTER", 3*time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.EffectivePriority != 50 || in.State != "BACKUP" {
		t.Errorf("failing script: priority %d, state %s; want 50, BACKUP", in.EffectivePriority, in.State)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	if err := os.WriteFile(level, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "FAULT", 2*time.Second)
	p.LB1.WaitState(t, "web", "MASTER", time.Second)
	if in := instanceStatus(t, p.LB2, "web"); in.Fault != "file "+level {
		t.Errorf("fault cause %q", in.Fault)
	}
	if err := os.WriteFile(level, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
}

// Instances on two interfaces are independent: cutting one link moves
// only the instance on it. The VIP there carries a label.
func TestTwoInterfaces(t *testing.T) {
	p := newPair(t)
	br1, err := p.LAN.Net.AddBridge("br1")
	if err != nil {
		t.Fatal(err)
	}
	var lb2eth1 *labnet.Port
	for _, h := range []struct {
		d    *harness.Director
		addr string
	}{{p.LB1, "10.9.1.1/24"}, {p.LB2, "10.9.1.2/24"}} {
		port, err := p.LAN.Net.Connect(h.d.NS(), br1, "eth1", netip.MustParsePrefix(h.addr))
		if err != nil {
			t.Fatal(err)
		}
		if h.d == p.LB2 {
			lb2eth1 = port
		}
	}
	inside := func(prio int) string {
		return `vrrp_instance "inside" {
  interface = "eth1"
  virtual_router_id = 51
  priority = ` + strconv.Itoa(prio) + `
  advert_interval = "100ms"
  virtual_ips = ["10.9.1.100/24 label eth1:gw"]
}
`
	}
	startPair(t, p, harness.Instance("web", 51, 100, "100ms")+inside(100), harness.Instance("web", 51, 200, "100ms")+inside(200), p.LB2)
	p.LB2.WaitState(t, "inside", "MASTER", 2*time.Second)
	out, err := p.LB2.NS().Run("ip", "-o", "addr", "show", "dev", "eth1")
	if err != nil || !strings.Contains(out, "10.9.1.100/24") || !strings.Contains(out, "eth1:gw") {
		t.Errorf("VIP with label not on eth1: %v\n%s", err, out)
	}
	if err := lb2eth1.SetLink(false); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "inside", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "inside", "FAULT", time.Second)
	time.Sleep(500 * time.Millisecond)
	if p.LB2.State("web") != "MASTER" || p.LB1.State("web") != "BACKUP" {
		t.Errorf("eth0's instance moved too: lb1 %s, lb2 %s", p.LB1.State("web"), p.LB2.State("web"))
	}
}
