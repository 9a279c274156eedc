package config

import (
	"fmt"
	"strings"
	"testing"
)

// through_vip resolves per check, and each real with one gets a mark from
// through_vip_marks: one per address and forwarding method, the same mark
// wherever the real appears, stable when other reals come and go.
func TestThroughVIPMarks(t *testing.T) {
	const src = `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  health_check "http" {
    through_vip = true
  }
  real_server "10.0.0.11" {}
  real_server "10.0.0.12" {}
  real_server "10.0.0.13" {
    health_check "tcp" {}
  }
}
virtual_server "tls" {
  address = "10.0.0.100"
  port = 443
  real_server "10.0.0.11" {
    health_check "tcp" {
      through_vip = true
      connect_port = 8443
    }
  }
  real_server "10.0.0.12" {
    forwarding = "tun"
    health_check "tcp" { through_vip = true }
  }
}
`
	cfg, err := Parse("t.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Director.ThroughVIPMarks.String(); got != DefaultThroughVIPMarks {
		t.Errorf("default marks %s, want %s", got, DefaultThroughVIPMarks)
	}
	web, tls := cfg.VirtualServers[0].RealServers, cfg.VirtualServers[1].RealServers
	if web[2].ThroughVIPMark != 0 {
		t.Errorf("a real without a through_vip check has mark %#x", web[2].ThroughVIPMark)
	}
	seen := map[uint32]string{}
	for _, rs := range []*RealServer{&web[0], &web[1], &tls[1]} {
		m := rs.ThroughVIPMark
		if !cfg.Director.ThroughVIPMarks.Contains(m) || m == cfg.Director.ThroughVIPMarks.Value {
			t.Errorf("%s: mark %#x not in %s", rs.Address, m, cfg.Director.ThroughVIPMarks)
		}
		if other, dup := seen[m]; dup {
			t.Errorf("%s and %s share mark %#x", rs.Address, other, m)
		}
		seen[m] = rs.Address.String() + " " + rs.Forwarding
	}
	if web[0].ThroughVIPMark != tls[0].ThroughVIPMark {
		t.Errorf("10.0.0.11 (dr) has marks %#x and %#x in two services", web[0].ThroughVIPMark, tls[0].ThroughVIPMark)
	}
	if !cfg.VirtualServers[1].RealServers[0].HealthChecks[0].ThroughVIP {
		t.Error("through_vip not resolved")
	}
	// Another real added: the others keep their marks.
	more, err := Parse("t.hcl", []byte(strings.Replace(src, `real_server "10.0.0.13"`, `real_server "10.0.0.14" {}
  real_server "10.0.0.13"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := more.VirtualServers[0].RealServers[0].ThroughVIPMark, web[0].ThroughVIPMark; a != b {
		t.Errorf("adding a real moved 10.0.0.11's mark from %#x to %#x", b, a)
	}
	// A range written by the operator.
	custom, err := Parse("t.hcl", []byte("director {\n  through_vip_marks = \"0x100/0xffffff00\"\n}\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range custom.VirtualServers[0].RealServers[:2] {
		if m := rs.ThroughVIPMark; m <= 0x100 || m > 0x1ff {
			t.Errorf("%s: mark %#x outside 0x100/0xffffff00", rs.Address, m)
		}
	}
}

func TestThroughVIPErrors(t *testing.T) {
	vs := func(body string) string {
		return fmt.Sprintf("virtual_server \"web\" {\n  address = \"10.0.0.100\"\n  port = 80\n%s}\n", body)
	}
	tests := []struct {
		name string
		src  string
		want []diagAt
	}{
		{"exec check", vs(`  real_server "10.0.0.11" {
    health_check "exec" {
      command = ["/bin/true"]
      through_vip = true
    }
  }
`), []diagAt{{"7:21", "an exec check cannot go through the VIP"}}},
		{"icmp check", vs(`  health_check "icmp" { through_vip = true }
  real_server "10.0.0.11" {}
`), []diagAt{{"4:39", "an icmp check cannot go through the VIP"}}},
		{"connect_address", vs(`  real_server "10.0.0.11" {
    health_check "tcp" {
      through_vip = true
      connect_address = "10.0.0.50"
    }
  }
`), []diagAt{{"7:25", "connect_address contradicts through_vip"}}},
		{"nat real, service check", vs(`  forwarding = "nat"
  health_check "tcp" { through_vip = true }
  real_server "10.0.0.11" {}
`), []diagAt{{"6:3", "through_vip is for dr and tun real servers"}}},
		{"nat real, own check", vs(`  real_server "10.0.0.11" {
    forwarding = "nat"
    health_check "tcp" { through_vip = true }
  }
`), []diagAt{{"6:40", "through_vip is for dr and tun real servers"}}},
		{"link-local real", `virtual_server "web6" {
  address = "2001:db8::100"
  port = 80
  real_server "fe80::11" {
    health_check "tcp" { through_vip = true }
  }
}
`, []diagAt{{"5:40", "fe80::11 is link-local"}}},
		{"fwmark service", `virtual_server "fw" {
  fwmark = 7
  real_server "10.0.0.11" {
    health_check "tcp" {
      connect_port = 80
      through_vip = true
    }
  }
}
`, []diagAt{{"6:21", "a fwmark service has no single VIP"}}},
		{"fwmark in the range", `virtual_server "fw" {
  fwmark = 1145634823
}
` + vs(`  health_check "tcp" { through_vip = true }
  real_server "10.0.0.11" {}
`), []diagAt{{"2:12", "fwmark 0x44490007 is in through_vip_marks"}}},
		// The range is kept even with no check through the VIP: the
		// reconciler owns the probe services in it.
		{"fwmark in the range, no through_vip", `virtual_server "fw" {
  fwmark = 1145634823
}
`, []diagAt{{"2:12", "fwmark 0x44490007 is in through_vip_marks"}}},
		{"bad marks allocate nothing", "director {\n  through_vip_marks = \"1/2/3\"\n}\n" + `virtual_server "fw" {
  fwmark = 7
}
` + vs(`  health_check "tcp" { through_vip = true }
  real_server "10.0.0.11" {}
`), []diagAt{{"2:23", "is not value/mask with 32-bit numbers"}}},
		{"range too small", "director {\n  through_vip_marks = \"0x10/0xfffffffe\"\n}\n" + vs(`  health_check "tcp" { through_vip = true }
  real_server "10.0.0.11" {}
  real_server "10.0.0.12" {}
`), []diagAt{{"2:23", "2 real servers have through_vip checks; through_vip_marks 0x10/0xfffffffe gives 1 marks"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantDiags(t, tt.src, tt.want) })
	}
	for _, bad := range []struct{ value, want string }{
		{"0x44490000", "is not value/mask"},
		{"0x4449/0xffff0000", "has bits outside mask"},
		{"0/0xffff0000", "must not be 0"},
		{"0x1/0xffffffff", "leaves no marks"},
		{"0x1000000/0xff00ff00", "must be ones then zeros"},
		{"x/y", "32-bit numbers"},
	} {
		t.Run("through_vip_marks "+bad.value, func(t *testing.T) {
			wantDiags(t, fmt.Sprintf("director {\n  through_vip_marks = %q\n}\n", bad.value), []diagAt{{"2:23", bad.want}})
		})
	}
}
