package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const bgpWeb = `virtual_server "web" {
  address   = "10.0.0.100"
  port      = 80
  scheduler = "mh"
  announce  = "bgp"
  communities = ["65000:100", "no-export"]
  med       = 10
  real_server "192.168.11.12" {}
}
`

func TestBGPConfig(t *testing.T) {
	cfg, err := Parse("bgp.hcl", []byte(`director { router_id = "192.0.2.11" }
bgp {
  asn       = 65001
  hold_time = "3s"
  peer "192.0.2.1" {
    asn = 65000
    bfd      = true
    bfd_interval = "100ms"
  }
  peer "2001:db8::1" {
    asn      = 65000
    port     = 1179
    multihop = 2
    password = "s3cret"
  }
}
`+bgpWeb+`virtual_server "tls" {
  address  = "10.0.0.100"
  port     = 443
  announce = "bgp"
  communities = ["65000:100", "no-export"]
  med      = 10
  real_server "192.168.11.12" {}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.BGP
	if g == nil || g.ASN != 65001 || g.RouterID.String() != "192.0.2.11" || g.HoldTime.D() != 3*time.Second ||
		g.ListenPort != 0 || g.VIPInterface != "lo" || g.DrainTime.D() != DefaultBGPDrainTime || len(g.Peers) != 2 {
		t.Fatalf("bgp %+v", g)
	}
	if p := g.Peers[0]; !p.BFD || p.BFDInterval.D() != 100*time.Millisecond || p.BFDMultiplier != DefaultBFDMultiplier {
		t.Errorf("peer %+v", p)
	}
	if p := g.Peers[1]; p.Address.String() != "2001:db8::1" || p.Port != 1179 || p.Multihop != 2 || p.BFD || p.Password != "s3cret" || p.ASN != 65000 {
		t.Errorf("peer %+v", p)
	}
	vs := cfg.VirtualServers[0]
	if vs.AnnounceInstance != "" {
		t.Errorf("web's address is no VRRP VIP, yet it is announced by instance %q", vs.AnnounceInstance)
	}
	if vs.Announce != AnnounceBGP || len(vs.Communities) != 2 || vs.Communities[0] != 65000<<16|100 || vs.Communities[1] != 0xFFFFFF01 || vs.MED == nil || *vs.MED != 10 {
		t.Errorf("virtual server %+v", vs)
	}
}

// A VRRP VIP announced is announced by the instance's master.
func TestBGPConfigVRRPVIP(t *testing.T) {
	cfg, err := Parse("bgp.hcl", []byte(bgpHead+`vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.100/24"]
}
`+bgpWeb))
	if err != nil {
		t.Fatal(err)
	}
	if vs := cfg.VirtualServers[0]; vs.AnnounceInstance != "v" {
		t.Errorf("announce_instance %q, want v", vs.AnnounceInstance)
	}
	// Announced by one director at a time: no ECMP warning (bgpWeb has
	// no sloppy_tcp).
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

// bgpHead is a valid director and bgp block, five lines: the errors of
// the cases that follow it are on line 6 and after.
const bgpHead = `director { router_id = "192.0.2.11" }
bgp {
  asn = 65001
  peer "192.0.2.1" { asn = 65000 }
}
`

func TestBGPConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []diagAt
	}{
		{"announce without bgp", bgpWeb, []diagAt{{"5:15", `announce = "bgp" needs a bgp`}}},
		{"missing asn", `director { router_id = "192.0.2.11" }
bgp {
  peer "192.0.2.1" { asn = 65000 }
}`, []diagAt{{"2:1", `missing required attribute "asn"`}}},
		{"peer not an address", `director { router_id = "192.0.2.11" }
bgp {
  asn = 65001
  peer "router1" { asn = 65000 }
}`, []diagAt{{"4:8", `peer "router1" is not an IP address`}}},
		{"router id not IPv4", `director { router_id = "lb1" }
bgp {
  asn = 65001
  peer "192.0.2.1" { asn = 65000 }
}`, []diagAt{{"2:1", `missing router_id: director.router_id ("lb1") is not an IPv4 address`}}},
		{"AS_TRANS and a bad hold time", `director { router_id = "192.0.2.11" }
bgp {
  asn = 23456
  hold_time = "2s"
  peer "192.0.2.1" { asn = 0 }
}`, []diagAt{{"3:9", "asn must be an AS number"}, {"4:15", "hold_time must be whole seconds from 3s"}, {"5:28", "asn must be an AS number"}}},
		{"hold time 0, which GoBGP would make 90s", `director { router_id = "192.0.2.11" }
bgp {
  asn = 65001
  hold_time = "0s"
  peer "192.0.2.1" { asn = 65000 }
}`, []diagAt{{"4:15", "hold_time must be whole seconds from 3s"}}},
		{"BFD timers without BFD, and out of range", `director { router_id = "192.0.2.11" }
bgp {
  asn = 65001
  peer "192.0.2.1" {
    asn = 65000
    bfd_multiplier = 5
  }
  peer "192.0.2.2" {
    asn = 65000
    bfd = true
    bfd_interval = "5ms"
    bfd_multiplier = 0
  }
  peer "192.0.2.3" {
    asn = 65000
    multihop = 2
    bfd = true
  }
}`, []diagAt{{"6:22", "bfd_multiplier needs bfd = true"}, {"11:20", "bfd_interval must be from 10ms to 1m, not 5ms"},
			{"12:22", "bfd_multiplier must be"}, {"17:11", "bfd needs a directly connected peer (multihop = 0)"}}},
		{"router id 0.0.0.0", `bgp {
  asn = 65001
  router_id = "0.0.0.0"
  peer "192.0.2.1" { asn = 65000 }
}`, []diagAt{{"3:15", "router_id must be an IPv4 address"}}},
		{"an IPv6 VIP without an IPv6 peer", bgpHead + `virtual_server "web6" {
  address = "2001:db8::100"
  port = 80
  announce = "bgp"
}`, []diagAt{{"9:14", "no IPv6 peer in the bgp block to announce 2001:db8::100 to"}}},
		{"announce must say bgp", `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  announce = ""
}`, []diagAt{{"4:14", `announce must be "bgp", not ""`}}},
		{"a bad community", bgpHead + `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  announce = "bgp"
  communities = ["65000:100", "65536:1"]
}`, []diagAt{{"10:31", `"65536:1" is not a community`}}},
		{"one address, two attribute sets", bgpHead + `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  announce = "bgp"
}
virtual_server "tls" {
  address = "10.0.0.100"
  port = 443
  announce = "bgp"
  med = 5
}`, []diagAt{{"14:14", `virtual_server "web" announces 10.0.0.100 too, with other communities or med`}}},
		{"communities without announce", `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  communities = ["65000:1"]
}`, []diagAt{{"4:17", "communities and med need announce"}}},
		{"announce a fwmark", bgpHead + `virtual_server "m" {
  fwmark = 7
  announce = "bgp"
}`, []diagAt{{"8:14", "a fwmark virtual server has no address to announce"}}},
	} {
		t.Run(c.name, func(t *testing.T) { wantDiags(t, c.src, c.want) })
	}
}

// An address every director announces warns of what breaks flows that
// move between directors: a scheduler that is not consistent, sloppy_tcp
// off, on_failure = remove with mh, NAT. A VRRP VIP (one director at a
// time) and the shipped example do not warn.
func TestBGPConfigECMPWarnings(t *testing.T) {
	cfg, err := Parse("bgp.hcl", []byte(bgpHead+`virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wlc"
  on_failure = "remove"
  announce = "bgp"
  real_server "192.168.11.12" { forwarding = "nat" }
}
virtual_server "mh" {
  address = "10.0.0.101"
  port = 80
  scheduler = "mh"
  on_failure = "remove"
  persistence_timeout = "5m"
  announce = "bgp"
  real_server "192.168.11.12" {}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, fmt.Sprintf("%d:%d %s", w.Subject.Start.Line, w.Subject.Start.Column, w.Summary))
	}
	for _, want := range []string{`9:15 announced with ECMP, scheduler "wlc"`, "11:14 announced with ECMP, but ipvs { sysctl { sloppy_tcp = true } }",
		"12:46 announced with ECMP, real 192.168.11.12 is behind NAT",
		`18:16 announced with ECMP, on_failure = "remove" puts`, "19:25 announced with ECMP, persistence_timeout keeps"} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("no warning %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// wlc's on_failure = "remove" does not warn: only mh and sh fill a
	// table in list order.
	if len(got) != 5 {
		t.Errorf("%d warnings, want 5 (sloppy_tcp once for both):\n%s", len(got), strings.Join(got, "\n"))
	}
	cfg, err = Load("../examples/bgp/directord.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("the shipped example warns: %v", cfg.Warnings)
	}
}

// A real weighted by its own exec check on each director warns too: the
// directors' mh tables would differ.
func TestBGPConfigECMPDynamicWeight(t *testing.T) {
	cfg, err := Parse("bgp.hcl", []byte(bgpHead+`ipvs {
  sysctl { sloppy_tcp = true }
}
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  scheduler = "mh"
  announce = "bgp"
  real_server "192.168.11.12" {
    health_check "exec" {
      command = ["/bin/true"]
      dynamic_weight = true
    }
  }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Summary, "dynamic_weight set the weights of 192.168.11.12") || cfg.Warnings[0].Subject.Start.Line != 13 {
		t.Errorf("warnings %v, want one about dynamic_weight at line 13 (announce)", cfg.Warnings)
	}
}

// A vrrp_instance announces every VIP of its own (its master will), with
// its communities and med; it needs the bgp block, and an address a
// virtual server announces too must carry the same attributes.
func TestBGPConfigInstanceAnnounce(t *testing.T) {
	cfg, err := Parse("bgp.hcl", []byte(bgpHead+`vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.100/24", "10.0.0.101/24"]
  announce = "bgp"
  communities = ["65000:100", "no-export"]
  med = 10
}
`+bgpWeb))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Instances[0]
	if in.Announce != AnnounceBGP || len(in.Communities) != 2 || in.MED == nil || *in.MED != 10 {
		t.Errorf("instance announcement %+v", in.Announcement)
	}
	// 10.0.0.100 is the virtual server's to announce (with its quorum).
	if fmt.Sprint(in.Announced) != "[10.0.0.101]" {
		t.Errorf("the instance announces %v itself, want [10.0.0.101]", in.Announced)
	}
	// A link-local VIP (the first of an IPv6 instance) is not announced.
	cfg, err = Parse("bgp6.hcl", []byte(`director { router_id = "192.0.2.11" }
bgp {
  asn = 65001
  peer "2001:db8::1" { asn = 65000 }
}
vrrp_instance "v6" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["fe80::100/64", "2001:db8::100/64"]
  announce = "bgp"
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(cfg.Instances[0].Announced); got != "[2001:db8::100]" {
		t.Errorf("the IPv6 instance announces %s, want [2001:db8::100]", got)
	}
	for _, c := range []struct {
		name, src string
		want      []diagAt
	}{
		{"without the bgp block", `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.100/24"]
  announce = "bgp"
}`, []diagAt{{"5:14", `announce = "bgp" needs a bgp`}}},
		{"other attributes than a virtual server's", bgpHead + `vrrp_instance "v" {
  interface = "eth0"
  virtual_router_id = 7
  virtual_ips = ["10.0.0.100/24"]
  announce = "bgp"
}
` + bgpWeb, []diagAt{{"16:15", `vrrp_instance "v" announces 10.0.0.100 too, with other communities or med`}}},
	} {
		t.Run(c.name, func(t *testing.T) { wantDiags(t, c.src, c.want) })
	}
}
