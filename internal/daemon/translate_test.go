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

// script_user reaches every program the daemon runs: notify hooks, track
// scripts, exec checks (and not the other checks, which run no program).
func TestScriptUserTranslation(t *testing.T) {
	cfg, err := config.Parse("u.hcl", []byte(`
director { script_user = "nobody" }
vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  virtual_ips = ["10.0.0.1"]
  notify { master = ["/bin/true"] }
  track_script "chk" { command = ["/bin/true"] }
}
virtual_server "web" {
  address = "10.0.0.1"
  port = 80
  real_server "10.0.0.2" {
    health_check "exec" { command = ["/bin/true"] }
  }
  real_server "10.0.0.3" {
    health_check "tcp" {}
  }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	nobody, err := ScriptUser(cfg)
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	insts, _, err := vrrpConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := insts[0].Notify.User; u == nil || u.UID != nobody.UID {
		t.Errorf("notify hooks run as %+v, want nobody", u)
	}
	if u := insts[0].TrackScripts[0].User; u == nil || u.UID != nobody.UID {
		t.Errorf("track script runs as %+v, want nobody", u)
	}
	watches, err := HealthWatches(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range watches {
		if (w.Spec.User != nil) != (w.Spec.Type == "exec") {
			t.Errorf("%s check runs as %+v", w.Spec.Type, w.Spec.User)
		}
	}
	cfg.Director.ScriptUser = "no-such-user-here"
	if _, _, err := vrrpConfigs(cfg); err == nil {
		t.Error("a script_user that is gone ran the scripts as root")
	}
}
