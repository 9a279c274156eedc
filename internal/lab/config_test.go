package lab

import (
	"strings"
	"testing"

	"directord/config"
)

// The lab's configs are what its directors run: each layout's renders
// must be valid, warning-free directord configs, and the dual-stack one
// must carry both services over the same real servers, in two instances
// one sync group moves together.
func TestDirectordConfigsValidate(t *testing.T) {
	dirs, reals, _ := Seed()
	_, reals6 := DualStack(dirs, reals)
	for _, tc := range []struct {
		name  string
		reals []RealSpec
		want  int // virtual servers
	}{{"ipv4", reals, 1}, {"dual-stack", reals6, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			src := DirectordConfig("lb1", 150, "/run/directord/lb1.sock", DefaultSettings, tc.reals)
			cfg, err := config.Parse("lb1.hcl", []byte(src))
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("warnings: %v", cfg.Warnings)
			}
			if len(cfg.VirtualServers) != tc.want {
				t.Fatalf("%d virtual servers, want %d", len(cfg.VirtualServers), tc.want)
			}
			for _, vs := range cfg.VirtualServers {
				if len(vs.RealServers) != len(reals) {
					t.Errorf("%s: %d real servers, want %d", vs.Name, len(vs.RealServers), len(reals))
				}
			}
			if tc.want == 2 {
				v6 := cfg.VirtualServers[1]
				if v6.Address != VIP6 || v6.RealServers[0].Address != Addr6Of(reals[0].Addr) {
					t.Errorf("IPv6 service %s with real %s", v6.Address, v6.RealServers[0].Address)
				}
				if len(cfg.SyncGroups) != 1 || len(cfg.SyncGroups[0].Instances) != 2 {
					t.Errorf("sync groups %+v, want one of both instances", cfg.SyncGroups)
				}
			}
		})
	}
}

// keepalived's render of the dual-stack layout has both services, the
// IPv6 one at the IPv6 addresses.
func TestKeepalivedConfigDualStack(t *testing.T) {
	dirs, reals, _ := Seed()
	_, reals6 := DualStack(dirs, reals)
	ka := KeepalivedConfig("lb1", 150, DefaultSettings, reals6)
	for _, want := range []string{"virtual_server 192.168.11.100 80", "virtual_server 2001:db8:11::100 80",
		"real_server 2001:db8:11::12 80", "real_server 192.168.11.12 80", "fe80::52/64", "vrrp_sync_group site"} {
		if !strings.Contains(ka, want) {
			t.Errorf("keepalived.conf lacks %q:\n%s", want, ka)
		}
	}
	if strings.Contains(KeepalivedConfig("lb1", 150, DefaultSettings, reals), "2001:db8") {
		t.Error("the IPv4 layout's keepalived.conf has IPv6 in it")
	}
}
