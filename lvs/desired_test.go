package lvs_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cloudflare/ipvs"

	"directord/config"
	"directord/internal/daemon"
	"directord/lvs"
)

// parseServices translates src as the daemon does.
func parseServices(t *testing.T, src string) []lvs.VirtualService {
	t.Helper()
	cfg, err := config.Parse("t.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return daemon.IPVSSpec(cfg).Services
}

// down returns a HealthFunc reporting the listed reals down.
func down(addrs ...string) lvs.HealthFunc {
	return func(id string) bool {
		for _, a := range addrs {
			if strings.Contains(id, "/"+a+":") {
				return false
			}
		}
		return true
	}
}

func weights(t lvs.Table, k lvs.ServiceKey) map[string]uint32 {
	out := map[string]uint32{}
	for _, d := range t[k].Dests {
		out[d.DestKey.String()] = d.Weight
	}
	return out
}

const seed = `virtual_server "web" {
  address = "192.168.11.100"
  port = 80
  scheduler = "wrr"
  real_server "192.168.11.12" { weight = 2 }
  real_server "192.168.11.13" { weight = 4 }
  %s
}`

func cfgWith(extra string) string { return strings.Replace(seed, "%s", extra, 1) }

func TestDesiredWeightZeroAndRemove(t *testing.T) {
	vss := parseServices(t, cfgWith(""))
	tbl, _, _ := lvs.Desired(vss, down("192.168.11.12"), nil)
	k := vss[0].Service.ServiceKey
	if w := weights(tbl, k); w["192.168.11.12:80"] != 0 || w["192.168.11.13:80"] != 4 || len(w) != 2 {
		t.Errorf("weight_zero: %v", w)
	}
	vss = parseServices(t, cfgWith(`on_failure = "remove"`))
	tbl, _, _ = lvs.Desired(vss, down("192.168.11.12"), nil)
	if w := weights(tbl, k); len(w) != 1 || w["192.168.11.13:80"] != 4 {
		t.Errorf("remove: %v", w)
	}
}

func TestDesiredSeedService(t *testing.T) {
	vss := parseServices(t, cfgWith(""))
	tbl, _, _ := lvs.Desired(vss, down(), nil)
	e := tbl[vss[0].Service.ServiceKey]
	s := e.Service
	if s.Addr != netip.MustParseAddr("192.168.11.100") || s.Port != 80 || s.Protocol != ipvs.TCP || s.Scheduler != "wrr" ||
		s.Flags != 0 || s.Timeout != 0 || s.Netmask.Bits() != 32 {
		t.Errorf("service %+v", s)
	}
	for _, d := range e.Dests {
		if d.Forward != ipvs.DirectRoute || d.Family != ipvs.INET || d.Port != 80 {
			t.Errorf("dest %+v", d)
		}
	}
}

func TestDesiredServiceAttributes(t *testing.T) {
	vss := parseServices(t, `
virtual_server "fw" {
  fwmark = 7
  scheduler = "sh"
  scheduler_flags = ["sh-port", "sh-fallback"]
  persistence_timeout = "600s"
  persistence_netmask = "255.255.255.0"
  forwarding = "tun"
  real_server "10.0.0.1" {
    upper_threshold = 100
    lower_threshold = 50
  }
}
virtual_server "dns" {
  address = "2001:db8::53"
  port = 53
  protocol = "udp"
  scheduler = "rr"
  scheduler_flags = ["one-packet"]
  forwarding = "nat"
  real_server "2001:db8::1" { port = 5353 }
}`)
	tbl, _, _ := lvs.Desired(vss, down(), nil)
	fw := tbl[vss[0].Service.ServiceKey]
	if s := fw.Service; s.FWMark != 7 || s.Protocol != 0 || s.Addr.IsValid() || s.Timeout != 600 || s.Netmask.Bits() != 24 ||
		s.Flags != ipvs.ServicePersistent|ipvs.ServiceSchedulerOpt1|ipvs.ServiceSchedulerOpt2 {
		t.Errorf("fwmark service %+v", s)
	}
	for _, d := range fw.Dests {
		if d.Port != 0 || d.Forward != ipvs.Tunnel || d.Upper != 100 || d.Lower != 50 {
			t.Errorf("fwmark dest %+v", d)
		}
	}
	dns := tbl[vss[1].Service.ServiceKey]
	if s := dns.Service; s.Family != ipvs.INET6 || s.Protocol != ipvs.UDP || s.Flags != ipvs.ServiceOnePacket || s.Netmask.Bits() != 128 {
		t.Errorf("v6 service %+v", s)
	}
	for _, d := range dns.Dests {
		if d.Port != 5353 || d.Forward != ipvs.Masquerade || d.Family != ipvs.INET6 {
			t.Errorf("v6 dest %+v", d)
		}
	}
}

// Quorum with hysteresis: the sorry server comes in below quorum −
// hysteresis and leaves only at quorum + hysteresis.
func TestDesiredQuorumHysteresis(t *testing.T) {
	vss := parseServices(t, `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  quorum = 3
  hysteresis = 1
  sorry_server = "10.0.0.99"
  real_server "10.0.0.1" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {}
  real_server "10.0.0.4" {}
}`)
	k := vss[0].Service.ServiceKey
	steps := []struct {
		down  []string
		sorry bool
	}{
		{nil, false},                                         // 4 up
		{[]string{"10.0.0.1"}, false},                        // 3 up: not below 3−1
		{[]string{"10.0.0.1", "10.0.0.2"}, false},            // 2 up: not below 2
		{[]string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, true}, // 1 up: lost
		{[]string{"10.0.0.1", "10.0.0.2"}, true},             // 2 up: not yet 3+1
		{[]string{"10.0.0.1"}, true},                         // 3 up: still below 4
		{nil, false},                                         // 4 up: regained
		{[]string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}, true},
	}
	var lost lvs.QuorumLost
	for i, s := range steps {
		var tbl lvs.Table
		var states []lvs.ServiceState
		tbl, lost, states = lvs.Desired(vss, down(s.down...), lost)
		hasSorry := tbl[k].Dests.Has(lvs.DestKey{Addr: netip.MustParseAddr("10.0.0.99"), Port: 80})
		if hasSorry != s.sorry || states[0].QuorumLost != s.sorry {
			t.Fatalf("step %d (%d down): sorry server %v, want %v", i, len(s.down), hasSorry, s.sorry)
		}
		if states[0].AliveWeight != 4-len(s.down) {
			t.Fatalf("step %d: alive weight %d", i, states[0].AliveWeight)
		}
	}
}

// Without quorum settings, the sorry server comes in when no real is up.
func TestDesiredSorryWhenAllDown(t *testing.T) {
	vss := parseServices(t, cfgWith(`sorry_server = "192.168.11.99:80"`))
	k := vss[0].Service.ServiceKey
	tbl, _, _ := lvs.Desired(vss, down("192.168.11.12"), nil)
	if len(tbl[k].Dests) != 2 {
		t.Fatalf("sorry server present with one real up: %v", weights(tbl, k))
	}
	tbl, _, _ = lvs.Desired(vss, down("192.168.11.12", "192.168.11.13"), nil)
	if w := weights(tbl, k); w["192.168.11.99:80"] != 1 || w["192.168.11.12:80"] != 0 {
		t.Fatalf("all down: %v", w)
	}
}
