package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../examples/*/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d example configs: %v", len(files), files)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				var de *DiagnosticsError
				if errors.As(err, &de) {
					var b bytes.Buffer
					_ = de.Write(&b, false)
					t.Fatalf("invalid:\n%s", b.String())
				}
				t.Fatal(err)
			}
			// A program the example names may be missing here (the
			// operator installs it, and Load warns), but then the
			// example ships it next to the file. Nothing else may warn.
			for _, prog := range examplePrograms(cfg) {
				if _, err := os.Stat(prog); err == nil {
					continue
				}
				shipped := filepath.Join(filepath.Dir(f), filepath.Base(prog))
				fi, err := os.Stat(shipped)
				if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
					t.Errorf("the example runs %s, which is neither on this host nor shipped as an executable %s", prog, shipped)
				}
			}
			for _, w := range cfg.Warnings {
				if !strings.Contains(w.Summary, "does not exist on this host") {
					t.Errorf("example has a warning: %s", w.Summary)
				}
			}
			// A director is elected by VRRP or announces over BGP.
			if (len(cfg.Instances) == 0 && cfg.BGP == nil) || len(cfg.VirtualServers) == 0 {
				t.Errorf("an example should declare virtual servers, and VRRP or BGP")
			}
		})
	}
}

// examplePrograms lists every program a configuration runs: exec checks,
// track scripts and notify hooks.
func examplePrograms(cfg *Config) []string {
	var argvs [][]string
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.RealServers {
			for _, hc := range rs.HealthChecks {
				argvs = append(argvs, hc.Command)
			}
		}
	}
	for _, in := range cfg.Instances {
		for _, ts := range in.TrackScripts {
			argvs = append(argvs, ts.Command)
		}
		argvs = append(argvs, in.Notify.Master, in.Notify.Backup, in.Notify.Fault, in.Notify.Stop)
	}
	var out []string
	for _, a := range argvs {
		if len(a) > 0 && !slices.Contains(out, a[0]) {
			out = append(out, a[0])
		}
	}
	return out
}

// The seed's DR example must be what the how-to describes.
func TestSeedDRExample(t *testing.T) {
	for file, prio := range map[string]uint8{"lb1.hcl": 150, "lb2.hcl": 100} {
		cfg, err := Load(filepath.Join("../examples/seed-dr", file))
		if err != nil {
			t.Fatal(err)
		}
		in := cfg.Instances[0]
		if in.Priority != prio || in.VirtualIPs[0].Prefix.Addr() != netip.MustParseAddr("192.168.11.100") {
			t.Errorf("%s: instance %+v", file, in)
		}
		vs := cfg.VirtualServers[0]
		if vs.Scheduler != "wrr" || vs.Forwarding != ForwardDR || vs.Port != 80 || vs.Address != netip.MustParseAddr("192.168.11.100") {
			t.Errorf("%s: service %+v", file, vs)
		}
		want := map[string]int{"192.168.11.12": 2, "192.168.11.13": 4}
		if len(vs.RealServers) != 2 {
			t.Fatalf("%s: reals %+v", file, vs.RealServers)
		}
		for _, rs := range vs.RealServers {
			if want[rs.Address.String()] != rs.Weight || rs.HealthCheck == nil || rs.HealthCheck.Type != CheckHTTP {
				t.Errorf("%s: real %+v", file, rs)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	src := `
vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1"]
}
virtual_server "s" {
  address = "10.0.0.1"
  port = 80
  health_check "http" {}
  real_server "10.0.0.2" {}
}
virtual_server "f" {
  fwmark = 3
  real_server "10.0.0.3" {}
}
`
	cfg, err := Parse("d.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Instances[0]
	if in.Priority != 100 || in.Version != 3 || in.AdvertInterval.D() != time.Second || !in.Preempt || in.PreemptDelay != 0 {
		t.Errorf("vrrp defaults: %+v", in)
	}
	if in.VirtualIPs[0].Prefix != netip.MustParsePrefix("10.0.0.1/32") {
		t.Errorf("bare VIP should be a /32: %v", in.VirtualIPs[0])
	}
	if g := in.GARP; g.Delay.D() != 5*time.Second || g.Repeat != 5 || g.Interval != 0 || g.Refresh != 0 || g.RefreshRepeat != 1 {
		t.Errorf("garp defaults: %+v", g)
	}
	if in.Notify.Timeout.D() != 5*time.Second {
		t.Errorf("notify timeout: %v", in.Notify.Timeout)
	}
	vs := cfg.VirtualServers[0]
	if vs.Protocol != "tcp" || vs.Scheduler != "wlc" || vs.Forwarding != "dr" || vs.OnFailure != "weight_zero" || vs.Quorum != 1 || vs.Family != "inet" {
		t.Errorf("service defaults: %+v", vs)
	}
	rs := vs.RealServers[0]
	if rs.Port != 80 || rs.Weight != 1 || rs.Forwarding != "dr" {
		t.Errorf("real defaults: %+v", rs)
	}
	hc := rs.HealthCheck
	if hc == nil || hc.Interval.D() != 2*time.Second || hc.Timeout.D() != time.Second || hc.Rise != 2 || hc.Fall != 3 ||
		hc.RetryDelay != hc.Interval || !hc.InitialUp || hc.Path != "/" || hc.Method != "GET" ||
		len(hc.Status) != 1 || hc.Status[0] != (StatusRange{200, 299}) {
		t.Errorf("check defaults: %+v", hc)
	}
	fw := cfg.VirtualServers[1]
	if fw.Family != "inet" || fw.RealServers[0].Port != 0 || fw.Key() != "fwm:3/inet" {
		t.Errorf("fwmark defaults: %+v", fw)
	}
	if cfg.Director.StatusSocket != DefaultStatusSocket || cfg.Director.LogFormat != "text" || cfg.Director.LogLevel != "info" || cfg.Director.RouterID == "" {
		t.Errorf("director defaults: %+v", cfg.Director)
	}
	if cfg.IPVS.DriftCheck.D() != time.Minute || cfg.IPVS.ClearOnStop {
		t.Errorf("ipvs defaults: %+v", cfg.IPVS)
	}
}

// dynamic_weight is off unless asked for, and then carried to the check.
func TestExecDynamicWeight(t *testing.T) {
	cfg, err := Parse("d.hcl", []byte(`virtual_server "dns" {
  address = "10.0.0.1"
  port = 53
  protocol = "udp"
  health_check "exec" {
    command = ["/bin/true"]
    dynamic_weight = true
  }
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {
    health_check "exec" { command = ["/bin/true"] }
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	rs := cfg.VirtualServers[0].RealServers
	if !rs[0].HealthCheck.DynamicWeight || rs[1].HealthCheck.DynamicWeight {
		t.Errorf("dynamic_weight: %v and %v, want true and the default false", rs[0].HealthCheck.DynamicWeight, rs[1].HealthCheck.DynamicWeight)
	}
}

// Several health_check blocks: the service's are the default of each
// real, all of them; a real's own replace them all.
func TestSeveralChecks(t *testing.T) {
	cfg, err := Parse("m.hcl", []byte(`virtual_server "web" {
  address = "10.0.0.1"
  port = 80
  health_check "http" {}
  health_check "exec" { command = ["/bin/true"] }
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {
    health_check "tcp" {}
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	types := func(hcs []*HealthCheck) (out []string) {
		for _, hc := range hcs {
			out = append(out, hc.Type)
		}
		return out
	}
	vs := cfg.VirtualServers[0]
	if got := types(vs.RealServers[0].HealthChecks); !slices.Equal(got, []string{"http", "exec"}) {
		t.Errorf("real with the service's checks: %v, want [http exec]", got)
	}
	if got := types(vs.RealServers[1].HealthChecks); !slices.Equal(got, []string{"tcp"}) {
		t.Errorf("real with its own check: %v, want [tcp]", got)
	}
	if vs.RealServers[0].HealthCheck != vs.RealServers[0].HealthChecks[0] || vs.HealthCheck.Type != "http" {
		t.Errorf("HealthCheck is not the first of HealthChecks")
	}
}

// A udp check: payload and reply_hex as lower-case hex; a reply match
// implies require_reply.
func TestUDPCheck(t *testing.T) {
	cfg, err := Parse("u.hcl", []byte(`virtual_server "ntp" {
  address = "10.0.0.1"
  port = 123
  protocol = "udp"
  health_check "udp" {
    payload = "1B00"
    reply_hex = "1C"
  }
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {
    health_check "udp" {}
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.VirtualServers[0].RealServers[0].HealthCheck
	if a.Payload != "1b00" || a.ReplyHex != "1c" || !a.RequireReply {
		t.Errorf("udp check %+v, want payload 1b00, reply_hex 1c, a reply required", a)
	}
	b := cfg.VirtualServers[0].RealServers[1].HealthCheck
	if b.Payload != "" || b.RequireReply || b.ReplyRegex != "" {
		t.Errorf("bare udp check %+v, want an empty datagram and no reply required", b)
	}
}

// A dns check: keepalived's defaults (". SOA"), names and codes in
// upper case.
func TestDNSCheck(t *testing.T) {
	cfg, err := Parse("d.hcl", []byte(`virtual_server "dns" {
  address = "10.0.0.1"
  port = 53
  protocol = "udp"
  health_check "dns" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {
    health_check "dns" {
      query_name = "www.example.com"
      query_type = "aaaa"
      answer = "2001:db8::10"
    }
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.VirtualServers[0].RealServers[0].HealthCheck
	if a.QueryName != "." || a.QueryType != "SOA" || a.Rcode != "NOERROR" || a.Answer != "" {
		t.Errorf("default dns check %+v, want . SOA NOERROR", a)
	}
	b := cfg.VirtualServers[0].RealServers[1].HealthCheck
	if b.QueryName != "www.example.com" || b.QueryType != "AAAA" || b.Answer != "2001:db8::10" {
		t.Errorf("dns check %+v", b)
	}
}

// An icmp check: one echo by default (keepalived's PING_CHECK), and no
// connect_port needed for a fwmark real.
func TestICMPCheck(t *testing.T) {
	cfg, err := Parse("i.hcl", []byte(`virtual_server "f" {
  fwmark = 5
  health_check "icmp" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {
    health_check "icmp" { count = 3 }
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	rs := cfg.VirtualServers[0].RealServers
	if rs[0].HealthCheck.Count != 1 || rs[1].HealthCheck.Count != 3 {
		t.Errorf("counts %d and %d, want 1 and 3", rs[0].HealthCheck.Count, rs[1].HealthCheck.Count)
	}
}

func TestVIPForms(t *testing.T) {
	src := `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1/24", "10.0.0.2 dev eth1 label eth1:vip", "10.0.0.3/32 label eth0:1"]
}`
	cfg, err := Parse("v.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(cfg.Instances[0].VirtualIPs)
	want := "[10.0.0.1/24 10.0.0.2/32 dev eth1 label eth1:vip 10.0.0.3/32 label eth0:1]"
	if got != want {
		t.Errorf("VIPs = %s, want %s", got, want)
	}
}

// diagAt is an expected diagnostic: its position and part of its summary.
type diagAt struct {
	pos  string // "line:col"
	text string
}

// manyVIPs is an instance with n VIPs, one per line from line 5.
func manyVIPs(n int) string {
	var b strings.Builder
	b.WriteString("vrrp_instance \"v\" {\n  interface = \"eth0\"\n  virtual_router_id = 7\n  virtual_ips = [\n")
	for i := range n {
		fmt.Fprintf(&b, "    \"10.0.%d.%d\",\n", i/250, i%250+1)
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

func TestInvalidConfigs(t *testing.T) {
	const inst = `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1"]
`
	tests := []struct {
		name string
		src  string
		want []diagAt
	}{
		{"unknown attribute", `director {
  colour = "blue"
}`, []diagAt{{"2:3", "Unsupported argument"}}},
		{"relative maintenance_dir", `director {
  maintenance_dir = "maint"
}`, []diagAt{{"2:21", "maintenance_dir must be an absolute path"}}},
		{"unknown block", `frobnicate {}`, []diagAt{{"1:1", "Unsupported block type"}}},
		{"IPv6 global unicast peer without unicast_src", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["fe80::7/64"]
  unicast_peers = ["fe80::2", "2001:db8::2"]
}`, []diagAt{{"5:31", "unicast peer 2001:db8::2 is not link-local: set unicast_src"}}},
		{"empty notify_down", `virtual_server "web" {
  address = "10.0.0.1"
  port = 80
  real_server "10.0.0.2" {
    notify_down = []
  }
}`, []diagAt{{"5:19", "notify_down must be a non-empty list"}}},
		{"empty quorum_up", `virtual_server "web" {
  address = "10.0.0.1"
  port = 80
  quorum_up = [""]
}`, []diagAt{{"4:15", "quorum_up must be a non-empty list"}}},
		{"VRID 0", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 0
  virtual_ips = ["10.0.0.1"]
}`, []diagAt{{"3:23", "virtual_router_id must be between 1 and 255, not 0"}}},
		{"priority 300", inst + "  priority = 300\n}", []diagAt{{"5:14", "priority must be between 1 and 255, not 300"}}},
		{"bad CIDR", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1", "10.0.0.300/24"]
}`, []diagAt{{"4:30", `"10.0.0.300/24" is not an address or CIDR prefix`}}},
		{"hook timeout over the maximum", inst + "  notify {\n    master = [\"/bin/true\"]\n    timeout = \"10m\"\n  }\n}", []diagAt{{"7:15", "at most 5m0s"}}},
		{"track script timeout over the maximum", inst + "  track_script \"slow\" {\n    command = [\"/bin/true\"]\n    interval = \"1h\"\n    timeout = \"10m\"\n  }\n}", []diagAt{{"8:15", "at most 5m0s"}}},
		{"256 VIPs", manyVIPs(256), []diagAt{{"260:5", "virtual_ips lists 256 addresses; an advert carries at most 255"}}},
		{"IPv4 and IPv6 VIPs in one instance", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["fe80::1", "192.0.2.1", "2001:db8::1"]
}`, []diagAt{{"4:29", "vrrp_sync_group"}}},
		{"IPv6 over VRRPv2", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  version = 2
  virtual_ips = ["fe80::1"]
}`, []diagAt{{"4:13", "IPv4 only"}}},
		{"IPv6 VIP with a label", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["fe80::1 label eth0:1"]
}`, []diagAt{{"4:18", "IPv4's"}}},
		{"IPv4 peer of an IPv6 instance", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["fe80::1"]
  unicast_peers = ["192.0.2.2"]
}`, []diagAt{{"5:20", "family"}}},
		{"bad label", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1 label eth1:0"]
}`, []diagAt{{"4:18", "must start with the device name"}}},
		{"v2 auth on v3", inst + `  authentication {
    type = "pass"
    password = "secret"
  }
}`, []diagAt{{"5:3", "authentication exists only in VRRPv2"}}},
		{"long password", inst + `  version = 2
  authentication {
    type = "pass"
    password = "123456789"
  }
}`, []diagAt{{"8:16", "password must be 1 to 8 bytes"}}},
		{"v3 advert not 10ms steps", inst + "  advert_interval = \"15ms\"\n}", []diagAt{{"5:21", "steps of 10ms"}}},
		{"v3 advert too long", inst + "  advert_interval = \"41s\"\n}", []diagAt{{"5:21", "10ms to 40.95s"}}},
		{"v2 advert fraction", inst + "  version = 2\n  advert_interval = \"1500ms\"\n}", []diagAt{{"6:21", "whole seconds"}}},
		{"bad duration", inst + "  advert_interval = \"fast\"\n}", []diagAt{{"5:21", "is not a duration"}}},
		{"wrong type", inst + "  priority = \"high\"\n}", []diagAt{{"5:15", "Unsuitable value type"}}},
		{"unicast peer is self", inst + `  unicast_src = "192.0.2.1"
  unicast_peers = ["192.0.2.2", "192.0.2.1"]
}`, []diagAt{{"6:33", "is our own unicast_src"}}},
		{"duplicate VRID on interface", inst + "}\n" + `vrrp_instance "w" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.2"]
}`, []diagAt{{"8:23", `virtual_router_id 7 is already used on eth0 by vrrp_instance "v"`}}},
		{"same VRID other interface is fine, same VIP is not", inst + "}\n" + `vrrp_instance "w" {
  interface = "eth1"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1"]
}`, []diagAt{{"9:18", `virtual IP 10.0.0.1 is already held by vrrp_instance "v"`}}},
		{"sync group unknown instance", inst + "}\n" + `vrrp_sync_group "g" {
  instances = ["v", "nope"]
}`, []diagAt{{"7:21", `names vrrp_instance "nope", which is not declared`}}},
		{"missing required field", `vrrp_instance "v" {
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1"]
}`, []diagAt{{"1:1", `missing required attribute "interface"`}}},
		{"track script timeout", inst + `  track_script "chk" {
    command = ["/bin/true"]
    interval = "1s"
    timeout = "2s"
  }
}`, []diagAt{{"8:15", "at most the interval"}}},
		{"empty argv", inst + `  notify {
    master = []
  }
}`, []diagAt{{"6:14", "non-empty list"}}},
		{"duplicate real", `virtual_server "s" {
  address = "10.0.0.1"
  port = 80
  real_server "10.0.0.2" {}
  real_server "10.0.0.2" { weight = 3 }
}`, []diagAt{{"5:15", "real server 10.0.0.2:80 is declared twice"}}},
		{"same real address, other port is fine with nat", `virtual_server "s" {
  address = "10.0.0.1"
  port = 80
  forwarding = "nat"
  real_server "10.0.0.2" {}
  real_server "10.0.0.2" { port = 8080 }
  real_server "10.0.0.2" { port = 8080 }
}`, []diagAt{{"7:15", "real server 10.0.0.2:8080 is declared twice"}}},
		{"dr port rewrite", `virtual_server "s" {
  address = "10.0.0.1"
  port = 80
  real_server "10.0.0.2" { port = 8080 }
}`, []diagAt{{"4:35", "with dr forwarding a real server's port must be the service's (80)"}}},
		{"timeout > interval", `virtual_server "s" {
  address = "10.0.0.1"
  port = 80
  health_check "tcp" {
    interval = "1s"
    timeout = "1100ms"
  }
}`, []diagAt{{"6:15", "timeout (1.1s) must be positive and at most interval (1s)"}}},
		{"duplicate virtual server", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
}
virtual_server "b" {
  address = "10.0.0.1"
  port = 80
}`, []diagAt{{"5:1", `is the same service (tcp:10.0.0.1:80) as virtual_server "a"`}}},
		{"fwmark and address", `virtual_server "a" {
  fwmark = 1
  address = "10.0.0.1"
}`, []diagAt{{"2:12", "either address + port + protocol or fwmark"}}},
		{"family mismatch", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  real_server "2001:db8::2" {}
}`, []diagAt{{"4:15", "not in the service's address family"}}},
		{"unknown scheduler", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  scheduler = "fastest"
}`, []diagAt{{"4:15", "scheduler must be one of"}}},
		{"scheduler flag for other scheduler", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  scheduler = "wrr"
  scheduler_flags = ["sh-port"]
}`, []diagAt{{"5:22", `needs scheduler = "sh"`}}},
		{"http field on tcp check", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "tcp" {
    path = "/"
  }
}`, []diagAt{{"5:12", `path does not apply to a "tcp" check`}}},
		{"unknown check type", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "ping" {}
}`, []diagAt{{"4:16", `unknown health_check type "ping"`}}},
		{"icmp: count and a port", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "icmp" {
    count = 0
    connect_port = 80
  }
}`, []diagAt{{"5:13", "count must be between 1 and 100, not 0"}, {"6:20", "an icmp check has no port"}}},
		{"bad status and regex", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "http" {
    status = [200, "700"]
    body_regex = "("
  }
}`, []diagAt{{"5:20", `status "700" is not an HTTP status code`}, {"6:18", "body_regex does not compile"}}},
		{"dynamic_weight on a tcp check", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "tcp" {
    dynamic_weight = true
  }
}`, []diagAt{{"5:22", `dynamic_weight does not apply to a "tcp" check`}}},
		{"dynamic_weight not a bool", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "exec" {
    command = ["/bin/true"]
    dynamic_weight = "yes"
  }
}`, []diagAt{{"6:23", "Unsuitable value type"}}},
		{"too many checks", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
` + strings.Repeat("  health_check \"tcp\" {}\n", 17) + `}`, []diagAt{{"20:3", "at most 16 health_check blocks"}}},
		{"second check of a fwmark real needs connect_port", `virtual_server "a" {
  fwmark = 1
  real_server "10.0.0.2" {
    health_check "tcp" { connect_port = 80 }
    health_check "exec" { command = ["/bin/true"] }
    health_check "http" {}
  }
}`, []diagAt{{"6:5", "its http check needs connect_port"}}},
		{"one bad check of several", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "tcp" {}
  health_check "http" { status = ["9"] }
}`, []diagAt{{"5:35", `status "9" is not an HTTP status code`}}},
		{"udp: bad payload, regex and a contradiction", `virtual_server "a" {
  address = "10.0.0.1"
  port = 53
  protocol = "udp"
  health_check "udp" {
    payload = "0g"
    reply_regex = "("
    require_reply = false
  }
}`, []diagAt{{"6:15", "payload must be hex bytes"}, {"7:19", "reply_regex does not compile"}, {"8:21", "require_reply = false contradicts"}}},
		{"udp: reply_hex empty", `virtual_server "a" {
  address = "10.0.0.1"
  port = 53
  health_check "udp" {
    reply_hex = ""
  }
}`, []diagAt{{"5:17", "reply_hex must be hex bytes"}}},
		{"udp field on an http check", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "http" {
    payload = "00"
  }
}`, []diagAt{{"5:15", `payload does not apply to a "http" check`}}},
		{"smtp: helo_name with a line break", `virtual_server "a" {
  address = "10.0.0.1"
  port = 25
  health_check "smtp" {
    helo_name = "lb1\r\nRSET"
  }
}`, []diagAt{{"5:17", "is not a host name or [address]"}}},
		{"dns: bad name, type and rcode", `virtual_server "a" {
  address = "10.0.0.1"
  port = 53
  protocol = "udp"
  health_check "dns" {
    query_name = "a..example"
    query_type = "AXFR"
    rcode = "MAYBE"
  }
}`, []diagAt{{"6:18", "query_name \"a..example\" is not a domain name"}, {"7:18", "query_type must be one of"}, {"8:13", "rcode must be one of"}}},
		{"dns: an answer with NXDOMAIN", `virtual_server "a" {
  address = "10.0.0.1"
  port = 53
  health_check "dns" {
    query_name = "gone.example.com"
    rcode = "NXDOMAIN"
    answer = "192.0.2.1"
  }
}`, []diagAt{{"7:14", "an answer comes only with rcode NOERROR"}}},
		{"HEAD with a body check", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  health_check "http" {
    method = "HEAD"
    body_regex = "ok"
  }
}`, []diagAt{{"5:14", "a HEAD response has no body"}}},
		{"fwmark real without port needs connect_port", `virtual_server "a" {
  fwmark = 1
  health_check "tcp" {}
  real_server "10.0.0.2" {}
}`, []diagAt{{"4:3", "needs connect_port"}}},
		{"persistence netmask alone", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  persistence_netmask = "255.255.0.255"
}`, []diagAt{{"4:25", "needs persistence_timeout"}, {"4:25", "not a contiguous netmask"}}},
		{"sorry server is a real", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  sorry_server = "10.0.0.2:80"
  real_server "10.0.0.2" {}
}`, []diagAt{{"4:18", "is also a real server"}}},
		{"sorry server option without sorry_server", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  sorry_server_inhibit = true
  sorry_server_keep_reals = false
  sorry_server_forwarding = "nat"
}`, []diagAt{
			{"4:26", "sorry_server_inhibit applies only with sorry_server"},
			{"5:29", "sorry_server_keep_reals applies only with sorry_server"},
			{"6:29", "sorry_server_forwarding applies only with sorry_server"},
		}},
		{"unknown sorry server forwarding", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  sorry_server = "10.0.0.9"
  sorry_server_forwarding = "masq"
}`, []diagAt{{"5:29", `sorry_server_forwarding must be one of "dr", "nat", "tun", not "masq"`}}},
		{"sorry server DR to another port", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  forwarding = "nat"
  sorry_server = "10.0.0.9:8080"
  sorry_server_forwarding = "dr"
}`, []diagAt{{"6:29", "with dr forwarding the sorry server's port must be the service's (80), not 8080"}}},
		{"sorry server TUN by the service's default", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  forwarding = "tun"
  sorry_server = "10.0.0.9:8080"
}`, []diagAt{{"5:18", "with tun forwarding the sorry server's port must be the service's (80), not 8080"}}},
		{"sorry server inhibit not a bool", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  sorry_server = "10.0.0.9"
  sorry_server_inhibit = "sometimes"
}`, []diagAt{{"5:27", "Unsuitable value type"}}},
		{"sorry server in the wrong family", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  sorry_server = "[2001:db8::9]:80"
}`, []diagAt{{"4:18", "not in the service's address family"}}},
		{"quorum hysteresis", `virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  quorum = 2
  hysteresis = 2
}`, []diagAt{{"5:16", "hysteresis (2) must be less than quorum (2)"}}},
		{"several errors in one file", `director {
  log_level = "loud"
}
vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 256
  virtual_ips = ["10.0.0.1/40"]
}
virtual_server "s" {
  address = "10.0.0.1"
  port = 0
  real_server "10.0.0.2" {}
  real_server "10.0.0.2" {}
}`, []diagAt{
			{"2:15", "log_level must be one of"},
			{"6:23", "virtual_router_id must be between 1 and 255"},
			{"7:18", "is not an address or CIDR prefix"},
			{"11:10", "port must be between 1 and 65535"},
			{"13:15", "declared twice"},
		}},
		{"HCL syntax error", `vrrp_instance "v" {
  interface = 
}`, []diagAt{{"2:15", "Invalid expression"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantDiags(t, tt.src, tt.want) })
	}
}

// wantDiags parses src and wants exactly the errors in want, in order.
func wantDiags(t *testing.T, src string, want []diagAt) {
	t.Helper()
	_, err := Parse("bad.hcl", []byte(src))
	var de *DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("Parse = %v, want a *DiagnosticsError", err)
	}
	var got []string
	for _, d := range de.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		pos := "?"
		if d.Subject != nil {
			pos = fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		got = append(got, pos+" "+d.Summary)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w.pos+" ") || !strings.Contains(got[i], w.text) {
			t.Errorf("error %d = %q, want %s %q", i, got[i], w.pos, w.text)
		}
	}
}

// sorry_server alone keeps its meaning (address, the service's port and
// forwarding) and now means keepalived's semantics: no inhibit, no
// keep_reals. The options resolve as written.
func TestSorryServerForms(t *testing.T) {
	cfg, err := Parse("s.hcl", []byte(`virtual_server "plain" {
  address = "10.0.0.1"
  port = 80
  forwarding = "tun"
  sorry_server = "10.0.0.9"
}
virtual_server "full" {
  address = "10.0.0.1"
  port = 443
  sorry_server = "10.0.0.9:8443"
  sorry_server_inhibit = true
  sorry_server_keep_reals = true
  sorry_server_forwarding = "nat"
}
virtual_server "none" {
  address = "10.0.0.1"
  port = 8080
}`))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		addr          netip.AddrPort
		fwd           string
		inhibit, keep bool
	}
	want := []got{
		{netip.MustParseAddrPort("10.0.0.9:80"), ForwardTUN, false, false},
		{netip.MustParseAddrPort("10.0.0.9:8443"), ForwardNAT, true, true},
		{netip.AddrPort{}, "", false, false},
	}
	for i, vs := range cfg.VirtualServers {
		g := got{vs.SorryServer, vs.SorryForwarding, vs.SorryInhibit, vs.SorryKeepReals}
		if g != want[i] {
			t.Errorf("%s: %+v, want %+v", vs.Name, g, want[i])
		}
	}
}

func TestDiagnosticsRendering(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.hcl")
	src := "vrrp_instance \"v\" {\n  interface = \"eth0\"\n  virtual_router_id = 0\n  virtual_ips = [\"10.0.0.1\"]\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var de *DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("Load = %v", err)
	}
	var b bytes.Buffer
	if err := de.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{path + ":3:23: virtual_router_id must be between 1 and 255", "   3:   virtual_router_id = 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(err.Error(), path+":3:23") {
		t.Errorf("Error() = %q, want the position", err.Error())
	}
}

func TestUnreadableFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.hcl"))
	var de *DiagnosticsError
	if err == nil || errors.As(err, &de) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load = %v, want a wrapped os.ErrNotExist", err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../examples/*/*.hcl")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`virtual_server "a" { fwmark = 1 real_server "::1" {} }`))
	f.Add([]byte(`vrrp_instance "" { virtual_ips = ["1.2.3.4 dev"] }`))
	// Over 4 KB, Parse streams the file (streamFile) until it must not.
	f.Add([]byte(scaleConfig(20, 4)))
	f.Add([]byte(scaleConfig(1, 60)))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse("fuzz.hcl", src)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v", cfg != nil, err)
		}
		if err != nil {
			_ = err.Error()
		}
	})
}

// Load checks the file against the host: a program another user can
// change is refused where the file names it, a missing one is a warning,
// and script_user must exist.
func TestLoadChecksScripts(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "check.sh")
	if err := os.WriteFile(open, []byte("#!/bin/sh\nexit 0\n"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	src := `director {
  script_user = "no-such-user-here"
}
vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.1"]
  notify {
    master = ["` + open + `"]
    backup = ["/nonexistent/hook"]
  }
}
`
	path := filepath.Join(dir, "d.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var de *DiagnosticsError
	if !errors.As(err, &de) {
		t.Fatalf("Load = %v, want diagnostics", err)
	}
	var got []string
	for _, d := range de.Diags {
		got = append(got, fmt.Sprintf("%d:%d %s %s", d.Subject.Start.Line, d.Subject.Start.Column, map[hcl.DiagnosticSeverity]string{hcl.DiagError: "error", hcl.DiagWarning: "warning"}[d.Severity], d.Summary))
	}
	want := []string{
		`2:17 error script_user "no-such-user-here"`,
		"9:14 error master: insecure path: " + open + " is writable by everyone",
		"10:14 warning backup: /nonexistent/hook does not exist on this host",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("diagnostic %d = %q, want %q…", i, got[i], want[i])
		}
	}
	// Parse reads nothing from the host: the same file is valid.
	if _, err := Parse(path, []byte(src)); err != nil {
		t.Errorf("Parse checked the host: %v", err)
	}
}

// An IPv6 instance is valid; a first address that is not link-local is a
// warning at that address (RFC 9568 §5.2.9 asks for one; keepalived
// warns too), not an error.
func TestIPv6Instance(t *testing.T) {
	cfg, err := Parse("v6.hcl", []byte(`vrrp_instance "v6" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["2001:db8::100/64", "fe80::100"]
  unicast_peers = ["fe80::2"]
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Instances) != 1 || cfg.Instances[0].VirtualIPs[0].Prefix.String() != "2001:db8::100/64" {
		t.Fatalf("instances %+v", cfg.Instances)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Summary, "not link-local") || cfg.Warnings[0].Subject.Start.Line != 4 {
		t.Fatalf("warnings %+v, want one at line 4 about link-local", cfg.Warnings)
	}
	cfg, err = Parse("v6.hcl", []byte(`vrrp_instance "v6" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["fe80::100", "2001:db8::100"]
}
`))
	if err != nil || len(cfg.Warnings) != 0 {
		t.Fatalf("link-local first: %v %+v", err, cfg.Warnings)
	}
}

// maintenance_dir is kept clean; Load refuses one that another user can
// write to at its position, and warns about a missing one (nothing is
// drained until it exists); Parse reads nothing from the host.
func TestMaintenanceDir(t *testing.T) {
	cfg, err := Parse("m.hcl", []byte("director {\n  maintenance_dir = \"/var/lib/directord/maint/\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Director.MaintenanceDir != "/var/lib/directord/maint" {
		t.Errorf("maintenance_dir = %q", cfg.Director.MaintenanceDir)
	}
	if cfg, err := Parse("m.hcl", nil); err != nil || cfg.Director.MaintenanceDir != "" {
		t.Errorf("default maintenance_dir = %q, %v; want unset", cfg.Director.MaintenanceDir, err)
	}
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	load := func(maint string) []string {
		t.Helper()
		path := filepath.Join(dir, "d.hcl")
		if err := os.WriteFile(path, []byte("director {\n  maintenance_dir = \""+maint+"\"\n}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		var diags hcl.Diagnostics
		var de *DiagnosticsError
		switch {
		case errors.As(err, &de):
			diags = de.Diags
		case err != nil:
			t.Fatal(err)
		default:
			diags = cfg.Warnings
		}
		var got []string
		for _, d := range diags {
			got = append(got, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
		}
		return got
	}
	if got := load(open); len(got) != 1 || !strings.HasPrefix(got[0], "2:21 maintenance_dir: insecure path: "+open+" is writable by everyone") {
		t.Errorf("world-writable maintenance_dir: %q", got)
	}
	if got := load("/nonexistent/maint"); len(got) != 1 || got[0] != "2:21 maintenance_dir: /nonexistent/maint does not exist on this host" {
		t.Errorf("missing maintenance_dir: %q", got)
	}
}

// keepalived's connect_timeout may equal its delay_loop, and its
// delay_before_retry be shorter than connect_timeout (its defaults: 1s
// and 5s); so may a check's timeout and retry_delay.
func TestKeepalivedLeniency(t *testing.T) {
	cfg, err := Parse("t.hcl", []byte(`virtual_server "s" {
  address = "10.0.0.1"
  port = 80
  health_check "tcp" {
    interval = "5s"
    timeout = "5s"
    retry_delay = "1s"
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if hc := cfg.VirtualServers[0].HealthCheck; hc.Timeout != hc.Interval || hc.RetryDelay.D() != time.Second {
		t.Errorf("timeout %s, interval %s, retry_delay %s", hc.Timeout, hc.Interval, hc.RetryDelay)
	}
	wantDiags(t, `virtual_server "s" {
  address = "10.0.0.1"
  port = 80
  health_check "tcp" {
    retry_delay = "0s"
  }
}`, []diagAt{{"5:19", "retry_delay must be positive"}})
}
