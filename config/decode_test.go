package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// gohclServices is how the virtual_server blocks were decoded before
// decodeFile: by gohcl, from the raw types' tags.
type gohclServices struct {
	VirtualServers []*rawVirtualServer `hcl:"virtual_server,block"`
	Locals         []*rawLocals        `hcl:"locals,block"`
}

// decodeBothWays decodes src with gohcl and with decodeFile, in the
// context Parse gives it, and fails the test where they differ: in the
// raw values or in any diagnostic (position, summary or detail).
func decodeBothWays(t *testing.T, src string) hcl.Diagnostics {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "d.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	ctx, _ := evalContext(f.Body)
	var old gohclServices
	oldDiags := gohcl.DecodeBody(dynblock.Expand(f.Body, ctx), ctx, &old)
	var raw rawFile
	newDiags := decodeFile(dynblock.Expand(f.Body, ctx), ctx, &raw)
	sortDiags(oldDiags)
	sortDiags(newDiags)
	if got, want := diagStrings(newDiags), diagStrings(oldDiags); !reflect.DeepEqual(got, want) {
		t.Errorf("diagnostics differ:\n got %q\nwant %q", got, want)
	}
	if len(old.VirtualServers) != len(raw.VirtualServers) {
		t.Fatalf("%d virtual servers, gohcl %d", len(raw.VirtualServers), len(old.VirtualServers))
	}
	for i := range old.VirtualServers {
		// The bodies are wrappers made afresh by each decode: compare
		// what they wrap through the ranges, and the values.
		clearAttrs(raw.VirtualServers[i]) // gohcl has no such field to fill
		a, b := *old.VirtualServers[i], *raw.VirtualServers[i]
		if a.Body.MissingItemRange() != b.Body.MissingItemRange() {
			t.Errorf("virtual_server %d: bodies differ", i)
		}
		stripBodies(reflect.ValueOf(&a).Elem())
		stripBodies(reflect.ValueOf(&b).Elem())
		if !reflect.DeepEqual(a, b) {
			t.Errorf("virtual_server %d:\n got %s\nwant %s", i, dump(b), dump(a))
		}
	}
	return newDiags
}

func clearAttrs(rv *rawVirtualServer) {
	rv.attrs = nil
	for _, hc := range rv.HealthChecks {
		hc.attrs = nil
	}
	for _, rr := range rv.RealServers {
		for _, hc := range rr.HealthChecks {
			hc.attrs = nil
		}
	}
}

func diagStrings(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		out = append(out, fmt.Sprintf("%s %d %s: %s", d.Subject, d.Severity, d.Summary, d.Detail))
	}
	return out
}

// stripBodies clears every hcl.Body field reachable from v.
func stripBodies(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			stripBodies(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			stripBodies(v.Index(i))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).Type == reflect.TypeOf((*hcl.Body)(nil)).Elem() {
				v.Field(i).Set(reflect.Zero(v.Field(i).Type()))
				continue
			}
			stripBodies(v.Field(i))
		}
	}
}

func dump(v any) string {
	var b strings.Builder
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				b.WriteString("nil")
				return
			}
			b.WriteString("&")
			walk(v.Elem())
		case reflect.Slice:
			b.WriteString("[")
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
				b.WriteString(" ")
			}
			b.WriteString("]")
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(hcl.Range{}) {
				fmt.Fprintf(&b, "%v", v.Interface())
				return
			}
			b.WriteString("{")
			for i := 0; i < v.NumField(); i++ {
				fmt.Fprintf(&b, "%s:", v.Type().Field(i).Name)
				walk(v.Field(i))
				b.WriteString(" ")
			}
			b.WriteString("}")
		default:
			if v.CanInterface() {
				fmt.Fprintf(&b, "%v", v.Interface())
			}
		}
	}
	walk(reflect.ValueOf(v))
	return b.String()
}

// attrsOf writes every optional attribute of the raw type t, each set to
// a value of its type (good) or of another (bad), one per line.
func attrsOf(t reflect.Type, indent string, good bool) string {
	var b strings.Builder
	for i := 0; i < t.NumField(); i++ {
		name, kind, _ := strings.Cut(t.Field(i).Tag.Get("hcl"), ",")
		if kind != "optional" {
			continue
		}
		val := map[bool]map[string]string{
			true:  {"*string": `"s-` + name + `"`, "*int": fmt.Sprint(i + 1), "*bool": "true", "*[]string": `["a", "b"]`, "*[]int": "[1, 2]"},
			false: {"*string": `{}`, "*int": `"x"`, "*bool": `"maybe"`, "*[]string": `5`, "*[]int": `["x"]`},
		}[good][t.Field(i).Type.String()]
		if val == "" {
			panic("no value for " + t.Field(i).Type.String())
		}
		fmt.Fprintf(&b, "%s%s = %s\n", indent, name, val)
	}
	return b.String()
}

// Every attribute of the three hand-decoded blocks decodes as gohcl
// decoded it, and so does every wrong type, with gohcl's diagnostics.
func TestDecoderEveryAttribute(t *testing.T) {
	for _, good := range []bool{true, false} {
		src := "virtual_server \"a\" {\n" + attrsOf(reflect.TypeOf(rawVirtualServer{}), "  ", good) +
			"  health_check \"http\" {\n" + attrsOf(reflect.TypeOf(rawHealthCheck{}), "    ", good) + "  }\n" +
			"  real_server \"10.0.0.2\" {\n" + attrsOf(reflect.TypeOf(rawRealServer{}), "    ", good) +
			"    health_check \"tcp\" {\n" + attrsOf(reflect.TypeOf(rawHealthCheck{}), "      ", good) + "    }\n" +
			"  }\n}\n"
		diags := decodeBothWays(t, src)
		if good && len(diags) > 0 {
			t.Errorf("good values: %v", diags)
		}
		if !good && len(diags) < 60 {
			t.Errorf("bad values: only %d diagnostics", len(diags))
		}
	}
}

// The hand decoder treats values that are not plain literals (locals,
// functions, nulls, numbers for strings, fractions, huge numbers, dynamic
// blocks) and structural mistakes as gohcl did.
func TestDecoderMatchesGohcl(t *testing.T) {
	for name, src := range map[string]string{
		"locals and functions": `locals {
  port = 80
  net  = "10.0.0.0/24"
}
virtual_server "a" {
  address = cidrhost(local.net, 1)
  port    = local.port
  scheduler = upper("wrr")
  real_server "10.0.0.2" { weight = 1 + 2 }
}`,
		"nulls and conversions": `virtual_server "a" {
  address = null
  port    = "80"
  protocol = 6
  sorry_server_inhibit = "true"
  real_server "10.0.0.2" {
    weight = 1.5
    port = 99999999999999999999999
    upper_threshold = -3
  }
}`,
		"unknown attribute and block, missing and extra labels": `virtual_server "a" {
  adress = "10.0.0.1"
  real_servers "10.0.0.2" {}
  real_server {}
  real_server "10.0.0.3" "x" {}
  health_check {}
  real_server "10.0.0.4" {
    wieght = 1
    health_check "tcp" { intervall = "1s" }
  }
}
virtual_server {}
virtual_server "b" "c" {}`,
		"errors in expressions": `virtual_server "a" {
  address = local.nope
  port = 1 + "x"
  real_server "10.0.0.2" { weight = nosuchfunc(1) }
}`,
		"dynamic blocks": `locals { reals = ["10.0.0.2", "10.0.0.3"] }
virtual_server "a" {
  address = "10.0.0.1"
  port = 80
  dynamic "real_server" {
    for_each = local.reals
    labels = [real_server.value]
    content {
      weight = real_server.key + 1
      dynamic "health_check" {
        for_each = ["tcp"]
        labels = [health_check.value]
        content { interval = "${real_server.key + 1}s" }
      }
    }
  }
}
dynamic "virtual_server" {
  for_each = { b = 81 }
  labels = [virtual_server.key]
  content {
    address = "10.0.0.1"
    port = virtual_server.value
    wieght = 1
  }
}`,
	} {
		t.Run(name, func(t *testing.T) { decodeBothWays(t, src) })
	}
}
