package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

const syncInstance = `vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  virtual_ips = ["10.0.0.1"]
}
`

func TestSyncDaemonDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, block string
		want        SyncDaemon
	}{
		{"both daemons: sync id 0", `sync_daemon { interface = "eth1" }`,
			SyncDaemon{Interface: "eth1", SyncID: 0, Port: 8848, TTL: 1, Group: defaultSyncGroup()}},
		// keepalived: the sync id defaults to the followed instance's VRID.
		{"following an instance: its VRID", `sync_daemon {
  interface = "eth1"
  vrrp_instance = "web"
}`, SyncDaemon{Interface: "eth1", VRRPInstance: "web", SyncID: 51, Port: 8848, TTL: 1, Group: defaultSyncGroup()}},
		{"every setting", `sync_daemon {
  interface = "eth1"
  vrrp_instance = "web"
  sync_id = 9
  max_len = 1400
  port = 9000
  ttl = 2
  group = "239.1.1.1"
}`, SyncDaemon{Interface: "eth1", VRRPInstance: "web", SyncID: 9, MaxLen: 1400, Port: 9000, TTL: 2, Group: netip.MustParseAddr("239.1.1.1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("s.hcl", []byte(syncInstance+"ipvs {\n"+tc.block+"\n}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.IPVS.SyncDaemon == nil || *cfg.IPVS.SyncDaemon != tc.want {
				t.Errorf("sync daemon %+v, want %+v", cfg.IPVS.SyncDaemon, tc.want)
			}
		})
	}
	cfg, err := Parse("s.hcl", []byte(syncInstance))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IPVS.SyncDaemon != nil || cfg.IPVS.Sysctl.SloppyTCP != nil || cfg.IPVS.Sysctl.SyncThreshold != nil {
		t.Errorf("no ipvs block: sync %+v, sysctls %+v; want both unset", cfg.IPVS.SyncDaemon, cfg.IPVS.Sysctl)
	}
}

func TestIPVSSysctls(t *testing.T) {
	cfg, err := Parse("s.hcl", []byte(`ipvs {
  sysctl {
    sloppy_tcp = true
    expire_nodest_conn = false
    expire_quiescent_template = true
    sync_threshold = [3, 10]
    sync_refresh_period = "10s"
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.IPVS.Sysctl
	got := fmt.Sprintf("%v %v %v %v %v %v %v", *s.SloppyTCP, s.SloppySCTP, *s.ExpireNodestConn, *s.ExpireQuiescentTemplate,
		s.Conntrack, s.SyncThreshold, s.SyncRefreshPeriod.D())
	if want := "true <nil> false true <nil> [3 10] 10s"; got != want {
		t.Errorf("sysctls %s, want %s", got, want)
	}
}

func TestIPVSSyncErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []diagAt
	}{
		{"interface missing", `ipvs {
  sync_daemon {}
}`, []diagAt{{"2:3", `missing required attribute "interface"`}}},
		{"unknown instance", syncInstance + `ipvs {
  sync_daemon {
    interface = "eth1"
    vrrp_instance = "db"
  }
}`, []diagAt{{"9:21", `vrrp_instance "db" is not declared`}}},
		{"unicast group, bad ttl, short max_len, sync id", `ipvs {
  sync_daemon {
    interface = "eth1"
    group = "10.0.0.1"
    ttl = 0
    max_len = 512
    sync_id = 256
  }
}`, []diagAt{
			{"7:15", "sync_id must be between 0 and 255"},
			{"6:15", "max_len must be between 1024 and 65487"},
			{"5:11", "ttl must be between 1 and 255"},
			{"4:13", "group must be a multicast address"},
		}},
		{"bad interface name", `ipvs {
  sync_daemon { interface = "eth 1" }
}`, []diagAt{{"2:29", `"eth 1" is not a valid interface name`}}},
		{"sync_threshold", `ipvs {
  sysctl {
    sync_threshold = [50, 3]
  }
}`, []diagAt{{"3:22", "the threshold less than the period"}}},
		{"sync_threshold length", `ipvs {
  sysctl {
    sync_threshold = [3]
  }
}`, []diagAt{{"3:22", "[threshold, period]"}}},
		{"sync_refresh_period fraction", `ipvs {
  sysctl {
    sync_refresh_period = "1.5s"
  }
}`, []diagAt{{"3:27", "whole number of seconds"}}},
		{"sysctl type", `ipvs {
  sysctl {
    sloppy_tcp = "yes please"
  }
}`, []diagAt{{"3:19", "Unsuitable value type"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.hcl", []byte(tc.src))
			var de *DiagnosticsError
			if !errors.As(err, &de) {
				t.Fatalf("Parse = %v, want a *DiagnosticsError", err)
			}
			var got []string
			for _, d := range de.Diags {
				if d.Severity == hcl.DiagError && d.Subject != nil {
					got = append(got, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || (strings.HasPrefix(g, w.pos+" ") && strings.Contains(g, w.text))
				}
				if !found {
					t.Errorf("no error %s %q in:\n%s", w.pos, w.text, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestSyncRefreshPeriodIsSeconds(t *testing.T) {
	cfg, err := Parse("s.hcl", []byte("ipvs {\n  sysctl {\n    sync_refresh_period = \"0s\"\n  }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.IPVS.Sysctl.SyncRefreshPeriod; p == nil || p.D() != 0*time.Second {
		t.Errorf("an explicit 0 must be kept (it turns refresh off), got %v", p)
	}
}
