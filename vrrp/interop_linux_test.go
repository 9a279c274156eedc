package vrrp_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/labnet"
	"directord/internal/testenv"
)

// interopWindow is how long a mixed pair must hold its roles.
const interopWindow = 30 * time.Second

type interopMode struct {
	name     string
	version  int
	ddIntv   string // directord's advert_interval
	kaIntv   string // keepalived's advert_int, same value
	password string
	unicast  bool
	ipv6     bool
}

// directord and keepalived in one pair, each as master and as backup, in
// every mode an operator mixes them in: roles right, no flapping over
// 30 s, and failover both ways.
func TestKeepalivedInterop(t *testing.T) {
	testenv.RequireCommand(t, "keepalived")
	bin := directord(t)
	modes := []interopMode{
		{"v3-multicast", 3, "100ms", "0.1", "", false, false},
		{"v3-unicast", 3, "100ms", "0.1", "", true, false},
		{"v2-pass", 2, "1s", "1", "secret", false, false},
		{"v6-multicast", 3, "100ms", "0.1", "", false, true},
		// keepalived's IPv6 unicast adverts leave at hop limit 64.
		{"v6-unicast", 3, "100ms", "0.1", "", true, true},
	}
	for _, m := range modes {
		for _, kaMaster := range []bool{true, false} {
			name := m.name + "/directord-master"
			if kaMaster {
				name = m.name + "/keepalived-master"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				interop(t, bin, m, kaMaster)
			})
		}
	}
}

func interop(t *testing.T, bin string, m interopMode, kaMaster bool) {
	p := harness.NewPair(t, bin)
	// The master is always on lb2 (priority 200), the backup on lb1.
	dd, ddAddr, ddPrio := p.LB1, harness.LB1Addr, 100
	kaNS, kaAddr, kaPrio := p.LB2.NS(), harness.LB2Addr, 200
	if !kaMaster {
		dd, ddAddr, ddPrio = p.LB2, harness.LB2Addr, 200
		kaNS, kaAddr, kaPrio = p.LB1.NS(), harness.LB1Addr, 100
	}
	if m.ipv6 && m.unicast {
		// Unicast over IPv6 between global addresses, as keepalived
		// users write it.
		ddAddr, kaAddr = v6Unicast(t, dd.NS(), kaNS, ddAddr == harness.LB1Addr)
	}
	var extra []string
	if m.version == 2 {
		extra = append(extra, "version = 2", "authentication {", `  type = "pass"`, fmt.Sprintf("  password = %q", m.password), "}")
	}
	if m.unicast {
		extra = append(extra, fmt.Sprintf("unicast_src = %q", ddAddr), fmt.Sprintf("unicast_peers = [%q]", kaAddr))
	}
	vip, cfg := harness.VIP, harness.Instance("web", 51, ddPrio, m.ddIntv, extra...)
	ka := harness.NewKeepalived(t, kaNS, "ka")
	kin := harness.KeepalivedInstance{VRID: 51, Priority: kaPrio, Version: m.version, Interval: m.kaIntv, Password: m.password}
	if m.ipv6 {
		// keepalived runs an instance over IPv6 when its addresses are
		// IPv6, from the interface's link-local address.
		waitLinkLocal(t, p.LB1.NS())
		waitLinkLocal(t, p.LB2.NS())
		vip, cfg = vip6, instance6("web", 51, ddPrio, extra...)
		kin.VIPs = []string{"fe80::100/64", vip6.String() + "/64"}
	}
	dd.WriteConfig(t, cfg)
	if m.unicast {
		kin.Src, kin.Peers = kaAddr, []netip.Addr{ddAddr}
	}
	ka.WriteConfig(t, kin)

	// The master directord follows is keepalived's source: its address,
	// or over IPv6 multicast its interface's own link-local address (read
	// before keepalived adds its link-local VIP, which lists first).
	kaSrc := kaAddr
	if m.ipv6 && !m.unicast {
		kaSrc = linkLocalOf(t, kaNS)
	}
	ka.Start(t)
	dd.Start(t)
	mdi := 5 * time.Second
	if kaMaster {
		ka.WaitState(t, "MASTER", mdi)
		dd.WaitState(t, "web", "BACKUP", mdi)
	} else {
		dd.WaitState(t, "web", "MASTER", mdi)
		ka.WaitState(t, "BACKUP", mdi)
	}
	// Let both settle (keepalived starts in BACKUP and may take a master
	// down interval), then hold the roles for the window.
	time.Sleep(time.Second)
	kaTr, ddTr := ka.Transitions(), len(transitions(t, dd, "web"))
	end := time.Now().Add(interopWindow)
	for time.Now().Before(end) {
		holder := dd.HasAddr(t, vip.String())
		if holder == kaMaster {
			t.Fatalf("directord holds the VIP: %v, keepalived is master: %v", holder, kaMaster)
		}
		time.Sleep(time.Second)
	}
	if n := ka.Transitions(); n != kaTr {
		t.Errorf("keepalived flapped: %d transitions in %s", n-kaTr, interopWindow)
	}
	if n := len(transitions(t, dd, "web")); n != ddTr {
		t.Errorf("directord flapped: %d transitions in %s", n-ddTr, interopWindow)
	}
	st := instanceStatus(t, dd, "web")
	for reason, n := range st.Drops {
		if n != 0 {
			t.Errorf("directord dropped %d of keepalived's adverts for %s", n, reason)
		}
	}
	if st.AddrMismatches != 0 {
		t.Errorf("directord saw %d address-list mismatches", st.AddrMismatches)
	}
	if kaMaster && (st.AdvertsReceived == 0 || st.Master != kaSrc.String()) {
		t.Errorf("directord as backup: received %d adverts, follows %q", st.AdvertsReceived, st.Master)
	}

	// Failover: kill -9 the master.
	if kaMaster {
		ka.Kill()
		dd.WaitState(t, "web", "MASTER", mdi)
		if !dd.HasAddr(t, vip.String()) {
			t.Error("directord took over without the VIP")
		}
	} else {
		dd.Kill()
		ka.WaitState(t, "MASTER", mdi)
	}
}

// v6Unicast gives the directord and keepalived hosts global IPv6
// addresses (lb1 ::1, lb2 ::2 in 2001:db8:9::/64) and returns them.
func v6Unicast(t *testing.T, ddNS, kaNS *labnet.NS, ddIsLB1 bool) (dd, ka netip.Addr) {
	t.Helper()
	lb1, lb2 := netip.MustParseAddr("2001:db8:9::1"), netip.MustParseAddr("2001:db8:9::2")
	dd, ka = lb2, lb1
	if ddIsLB1 {
		dd, ka = lb1, lb2
	}
	for ns, a := range map[*labnet.NS]netip.Addr{ddNS: dd, kaNS: ka} {
		if _, err := ns.Run("ip", "-6", "addr", "add", a.String()+"/64", "dev", "eth0", "nodad"); err != nil {
			t.Fatal(err)
		}
	}
	return dd, ka
}
