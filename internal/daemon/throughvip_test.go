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
// start and at every reload, and removed at stop. A configuration
// without such checks never asks; a reload that moves the mark range is
// refused and changes nothing.
func TestThroughVIPWiring(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.hcl")
	write := func(src string) {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(throughVIPConfig(false, ""))
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	d := daemontest.StartFile(t, path, daemontest.Setup{}, host)
	if got := d.Steering.Applied(); len(got) != 0 {
		t.Fatalf("no through_vip check, yet routes were asked for: %v", got)
	}

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
	if len(applied) != 1 || len(applied[0]) != 1 || applied[0][0].Mark != mark ||
		applied[0][0].Real != netip.MustParseAddr("10.0.0.11") || !slices.Equal(applied[0][0].VIPs, []netip.Addr{netip.MustParseAddr("10.0.0.100")}) {
		t.Fatalf("steers asked for: %+v, want mark %#x for 10.0.0.11 through 10.0.0.100", applied, mark)
	}
	probe := lvs.ServiceKey{Family: ipvs.INET, FWMark: mark}
	waitTable(t, d, func(tb lvs.Table) bool {
		e := tb[probe]
		if e == nil || e.Service.Scheduler != "rr" || len(e.Dests) != 1 {
			return false
		}
		dst := e.Dests[lvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11")}]
		return dst.Weight == 1 && dst.Forward == ipvs.DirectRoute
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
	if n := len(d.Steering.Applied()); n != 1 {
		t.Errorf("the refused reload asked for routes (%d calls)", n)
	}

	write(throughVIPConfig(false, ""))
	if res := d.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %s", res.Error)
	}
	if applied := d.Steering.Applied(); len(applied) != 2 || len(applied[1]) != 0 {
		t.Errorf("after removing through_vip: %+v, want a second, empty Apply", applied)
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
