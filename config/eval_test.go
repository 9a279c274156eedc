package config

import (
	"fmt"
	"os"
	"testing"
)

// The generated example: 3 VIPs × 20 real servers from locals, range,
// cidrhost, format and dynamic blocks.
func TestGeneratedExample(t *testing.T) {
	src, err := os.ReadFile("../examples/generated/directord.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("directord.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.VirtualServers) != 3 || len(cfg.Instances[0].VirtualIPs) != 3 {
		t.Fatalf("%d virtual servers, %d VIPs", len(cfg.VirtualServers), len(cfg.Instances[0].VirtualIPs))
	}
	for i, vs := range cfg.VirtualServers {
		if vs.Name != fmt.Sprintf("web-%d", i+1) || vs.Address.String() != fmt.Sprintf("192.168.20.%d", 10+i) || len(vs.RealServers) != 20 {
			t.Errorf("%s %s with %d reals", vs.Name, vs.Address, len(vs.RealServers))
		}
		for j, rs := range vs.RealServers {
			if rs.Address.String() != fmt.Sprintf("10.20.0.%d", 11+j) || rs.Weight != 1+j%3 || rs.HealthCheck == nil || rs.HealthCheck.Path != "/health" {
				t.Errorf("%s real %d: %s weight %d", vs.Name, j, rs.Address, rs.Weight)
			}
		}
	}
}

// Functions the issue names, and locals that use each other in any order.
func TestLocalsAndFunctions(t *testing.T) {
	cfg, err := Parse("f.hcl", []byte(`locals {
  port  = lookup(local.ports, "web", 8080)
  ports = { web = 80 }
  reals = concat([cidrhost("10.0.0.0/24", 2)], [for i in range(2) : cidrhost("10.0.1.0/24", i + 2)])
  name  = try(local.missing_on_purpose, format("svc-%03d", local.port))
}
virtual_server "x" {
  address = "10.0.0.1"
  port    = local.port
  dynamic "real_server" {
    for_each = local.reals
    labels   = [real_server.value]
    content {}
  }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	vs := cfg.VirtualServers[0]
	if vs.Port != 80 || len(vs.RealServers) != 3 || vs.RealServers[2].Address.String() != "10.0.1.3" {
		t.Errorf("port %d, reals %+v", vs.Port, vs.RealServers)
	}
}

// Errors keep their place through expressions and dynamic blocks.
func TestExpressionErrorsAreLocated(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []diagAt
	}{
		{"a value made in a dynamic block", `virtual_server "x" {
  address = "10.0.0.1"
  port    = 80
  dynamic "real_server" {
    for_each = ["10.0.0.2"]
    labels   = [real_server.value]
    content {
      weight = 70000 + real_server.key
    }
  }
}
`, []diagAt{{"8:16", "weight must be"}}},
		{"locals in a circle", `locals {
  a = local.b
  b = local.a
}
`, []diagAt{{"2:7", "local.a depends on itself"}, {"3:7", "local.b depends on itself"}}},
		{"a local twice", "locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n", []diagAt{{"5:3", "local.a is defined twice"}}},
		{"an unknown function", "locals {\n  a = nosuch(1)\n}\n", []diagAt{{"2:7", "Call to unknown function"}}},
		{"a bad prefix", "locals {\n  a = cidrhost(\"10.0.0.0/33\", 1)\n}\n", []diagAt{{"2:7", "Error in function call"}}},
		{"an undefined local", `virtual_server "x" {
  address = "10.0.0.1"
  port    = local.nope
}
`, []diagAt{{"3:18", "Unsupported attribute"}}},
	} {
		t.Run(c.name, func(t *testing.T) { wantDiags(t, c.src, c.want) })
	}
}
