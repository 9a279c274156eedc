package config

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// scaleConfig is vss services of reals reals each, as an operator would
// write 10,000: a tcp check per service, a weight per real. Service v is
// at line 3 + v*(11 + 3*reals); its first real at line 12 of that.
func scaleConfig(vss, reals int) string {
	var b strings.Builder
	b.WriteString("director {\n  router_id = \"scale\"\n}\n")
	n := 0
	for v := 0; v < vss; v++ {
		fmt.Fprintf(&b, "virtual_server \"web-%d\" {\n  address   = \"10.%d.%d.%d\"\n  port      = 80\n  scheduler = \"wrr\"\n", v, 1+v>>16, v>>8&0xff, v&0xff)
		b.WriteString("  health_check \"tcp\" {\n    interval = \"2s\"\n    timeout  = \"1s\"\n    fall     = 3\n  }\n")
		for i := 0; i < reals; i++ {
			n++
			fmt.Fprintf(&b, "  real_server \"192.%d.%d.%d\" {\n    weight = %d\n  }\n", 168+n>>16, n>>8&0xff, n&0xff, 1+n%5)
		}
		b.WriteString("}\n\n")
	}
	return b.String()
}

// A file of 10,000 reals, as 2,500 services of 4 and as one of 10,000,
// validates in-process, streamed, into the right model.
func TestParseTenThousandReals(t *testing.T) {
	for _, shape := range []struct{ vss, reals int }{{2500, 4}, {1, 10000}} {
		src := scaleConfig(shape.vss, shape.reals)
		start := time.Now()
		// What Parse does first; nil would mean the whole tree at once.
		cfg := streamFile(source{"scale.hcl", []byte(src)}, false, parseChunk)
		if cfg == nil {
			t.Fatalf("%d x %d: not streamed", shape.vss, shape.reals)
		}
		t.Logf("%d x %d: %d bytes in %s", shape.vss, shape.reals, len(src), time.Since(start))
		if len(cfg.VirtualServers) != shape.vss || len(cfg.Warnings) != 0 || cfg.Director.RouterID != "scale" {
			t.Fatalf("%d virtual servers, %d warnings, router_id %q", len(cfg.VirtualServers), len(cfg.Warnings), cfg.Director.RouterID)
		}
		n := 0
		for v, vs := range cfg.VirtualServers {
			if vs.Name != fmt.Sprintf("web-%d", v) || vs.Port != 80 || vs.Scheduler != "wrr" || len(vs.RealServers) != shape.reals {
				t.Fatalf("virtual server %d: %s port %d %s, %d reals", v, vs.Name, vs.Port, vs.Scheduler, len(vs.RealServers))
			}
			hc := vs.HealthCheck
			if hc == nil || hc.Type != CheckTCP || hc.Interval.D() != 2*time.Second || hc.Timeout.D() != time.Second || hc.Rise != DefaultCheckRise || hc.Fall != 3 {
				t.Fatalf("virtual server %d: check %+v", v, hc)
			}
			for _, rs := range vs.RealServers {
				n++
				want := netip.AddrFrom4([4]byte{byte(168 + n>>16), byte(n >> 8), byte(n), 0})
				want = netip.AddrFrom4([4]byte{192, want.As4()[0], want.As4()[1], want.As4()[2]})
				if rs.Address != want || rs.Port != 80 || rs.Weight != 1+n%5 || rs.Forwarding != ForwardDR || rs.HealthCheck != hc {
					t.Fatalf("real %d: %+v, want %s weight %d", n, rs, want, 1+n%5)
				}
			}
		}
	}
}

// Mistakes in a large file are found and located as in a small one
// (streamFile gives up, and the whole file is read the usual way).
func TestLargeFileErrors(t *testing.T) {
	src := scaleConfig(700, 4)
	line := func(v, real, off int) int { return 4 + v*23 + 9 + real*3 + off }
	lines := strings.Split(src, "\n")
	set := func(n int, s string) { lines[n-1] = s }
	set(line(100, 0, 1), "    wieght = 2")                   // unknown attribute
	set(line(200, 1, 1), "    weight = \"heavy\"")           // wrong type
	set(line(300, 2, 0), "  real_server {")                  // missing label
	set(line(400, 3, 0), "  real_server \"192.168.6.67\" {") // the real before, again
	set(line(500, 0, 0), "  real_server \"192.168.7.999\" {")
	set(line(600, 0, 1), "    weight = 70000")
	wantDiags(t, strings.Join(lines, "\n"), []diagAt{
		{fmt.Sprintf("%d:5", line(100, 0, 1)), `Unsupported argument`},
		{fmt.Sprintf("%d:15", line(200, 1, 1)), `Unsuitable value type`},
		{fmt.Sprintf("%d:15", line(300, 2, 0)), `Missing address for real_server`},
		{fmt.Sprintf("%d:15", line(400, 3, 0)), `real server 192.168.6.67:80 is declared twice in virtual_server "web-400"`},
		{fmt.Sprintf("%d:15", line(500, 0, 0)), `real_server "192.168.7.999" is not an IP address`},
		{fmt.Sprintf("%d:14", line(600, 0, 1)), `weight must be between 0 and 65535, not 70000`},
	})
}
