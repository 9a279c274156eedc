package daemon_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/lvs"
	"directord/lvs/lvstest"
	"directord/vrrp/vrrptest"
)

func throughVIPConfig(through bool, marks string) string {
	s := `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  real_server "10.0.0.11" {
    health_check "tcp" {
      interval = "10s"
      through_vip = ` + map[bool]string{true: "true", false: "false"}[through] + `
    }
  }
  real_server "10.0.0.12" {}
}
`
	if marks != "" {
		s = "director {\n  through_vip_marks = \"" + marks + "\"\n}\n" + s
	}
	return s
}

// A real with a check through the VIP: its check connects to the VIP with
// the real's mark, the table gains a one-real fwmark service for it
// (there whatever the real's health), the policy routes are asked for at
// every reload, and removed at stop. A start asks for none, which
// removes what a killed daemon left, as the reconciler removes a leftover
// probe service (and nothing outside the mark range); a reload that
// moves the mark range is refused and changes nothing.
func TestThroughVIPWiring(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.hcl")
	write := func(src string) {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(throughVIPConfig(false, ""))
	leftover := lvs.ServiceKey{Family: ipvs.INET, FWMark: 0x44490007}
	foreign := lvs.ServiceKey{Family: ipvs.INET, FWMark: 7}
	kernel := lvstest.NewKernel(lvs.Table{
		leftover: {Service: lvs.Service{ServiceKey: leftover, Scheduler: "rr"}},
		foreign:  {Service: lvs.Service{ServiceKey: foreign, Scheduler: "rr"}},
	})
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	d := daemontest.StartFile(t, path, daemontest.Setup{Kernel: kernel}, host)
	if got := d.Steering.Applied(); len(got) != 1 || len(got[0]) != 0 {
		t.Fatalf("at start, with no through_vip check: %v, want one Apply of nothing", got)
	}
	waitTable(t, d, func(tb lvs.Table) bool { return tb[leftover] == nil && tb[foreign] != nil },
		"the leftover probe service %v removed and fwmark 7 kept", leftover)

	write(throughVIPConfig(true, ""))
	if res := d.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %s", res.Error)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mark := cfg.VirtualServers[0].RealServers[0].ThroughVIPMark
	applied := d.Steering.Applied()
	last := applied[len(applied)-1]
	if len(last) != 1 || last[0].Mark != mark ||
		last[0].Real != netip.MustParseAddr("10.0.0.11") || !slices.Equal(last[0].VIPs, []netip.Addr{netip.MustParseAddr("10.0.0.100")}) {
		t.Fatalf("steers asked for: %+v, want mark %#x for 10.0.0.11 through 10.0.0.100", applied, mark)
	}
	calls := len(applied)
	probe := lvs.ServiceKey{Family: ipvs.INET, FWMark: mark}
	waitTable(t, d, func(tb lvs.Table) bool {
		e := tb[probe]
		if e == nil || e.Service.Scheduler != "rr" || len(e.Dests) != 1 {
			return false
		}
		dst, _ := e.Dests.Get(lvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11")})
		return dst.Weight == 1 && dst.Forward == ipvs.DirectRoute && e.Service.Flags&ipvs.ServiceOnePacket != 0
	}, "a fwmark %#x service with 10.0.0.11 alone, direct routing, weight 1", mark)
	watches, err := daemon.HealthWatches(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(watches) != 1 || watches[0].Spec.Target != netip.MustParseAddrPort("10.0.0.100:80") || watches[0].Spec.Mark != mark ||
		watches[0].Spec.Name() != "tcp 10.0.0.100:80 via 10.0.0.11" {
		t.Errorf("watches %+v, want one to 10.0.0.100:80 with mark %#x", watches, mark)
	}

	write(throughVIPConfig(true, "0x100/0xffffff00"))
	if res := d.Reload(context.Background()); res.OK || !strings.Contains(res.Error, "through_vip_marks changed") {
		t.Errorf("a reload moving through_vip_marks: %+v, want it refused", res)
	}
	if n := len(d.Steering.Applied()); n != calls {
		t.Errorf("the refused reload asked for routes (%d calls, %d before)", n, calls)
	}

	write(throughVIPConfig(false, ""))
	if res := d.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %s", res.Error)
	}
	if applied := d.Steering.Applied(); len(applied) != calls+1 || len(applied[calls]) != 0 {
		t.Errorf("after removing through_vip: %+v, want one more, empty Apply", applied)
	}
	waitTable(t, d, func(tb lvs.Table) bool {
		web := tb[lvs.ServiceKey{Family: ipvs.INET, Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}]
		return tb[probe] == nil && web != nil && len(web.Dests) == 2
	}, "the probe service gone, the web service as it was")
	d.Stop(t)
	if !d.Steering.Closed() {
		t.Error("the routes were not removed at stop")
	}
}

func waitTable(t *testing.T, d *daemontest.Daemon, ok func(lvs.Table) bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(d.Kernel.Table()) {
		if time.Now().After(deadline) {
			t.Fatalf("the table never had "+format+": %v", append(args, d.Kernel.Table())...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
