package daemon

import (
	"maps"
	"net/netip"
	"testing"

	"directord/config"
	"directord/lvs"
)

// The one translation from the ipvs block to the lvs package's sync spec:
// the daemon settings as given, follow mode from vrrp_instance, and the
// sysctls as /proc/sys/net/ipv4/vs takes them.
func TestSyncSpec(t *testing.T) {
	cfg, err := config.Parse("s.hcl", []byte(`
vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  virtual_ips = ["10.0.0.1"]
}
ipvs {
  sync_daemon {
    interface = "eth1"
    vrrp_instance = "web"
    max_len = 1400
    group = "239.0.0.9"
  }
  sysctl {
    sloppy_tcp = false
    expire_quiescent_template = true
    conntrack = true
    sync_threshold = [3, 0]
    sync_refresh_period = "10s"
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	spec := syncSpec(cfg)
	want := lvs.SyncDaemon{Interface: "eth1", SyncID: 51, MaxLen: 1400, Group: netip.MustParseAddr("239.0.0.9"), Port: 8848, TTL: 1}
	if spec.Daemon == nil || *spec.Daemon != want || !spec.Follow {
		t.Errorf("daemon %+v follow %v, want %+v following", spec.Daemon, spec.Follow, want)
	}
	wantSys := map[string]string{"sloppy_tcp": "0", "expire_quiescent_template": "1", "conntrack": "1",
		"sync_threshold": "3 0", "sync_refresh_period": "10"}
	if !maps.Equal(spec.Sysctls, wantSys) {
		t.Errorf("sysctls %v, want %v", spec.Sysctls, wantSys)
	}

	plain, err := config.Parse("p.hcl", []byte(`vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  virtual_ips = ["10.0.0.1"]
}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := syncSpec(plain); s.Daemon != nil || len(s.Sysctls) != 0 || s.Recheck != config.DefaultDriftCheck {
		t.Errorf("no ipvs block: spec %+v", s)
	}
}
