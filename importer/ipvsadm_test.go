package importer

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"directord/config"
)

// A table with every option ipvsadm saves: the output is what
// directord validate accepts, and each service and real comes out as
// it went in.
func TestImportIPVSAdm(t *testing.T) {
	const saved = `-A -t 192.168.11.100:80 -s wrr
-a -t 192.168.11.100:80 -r 192.168.11.12:80 -g -w 2
-a -t 192.168.11.100:80 -r 192.168.11.13:80 -g -w 4
-A -u 10.0.0.1:53 -s sh -b sh-port,sh-fallback -o
-a -u 10.0.0.1:53 -r 10.1.0.2:5353 -m -w 1 -x 100 -y 10
-a -u 10.0.0.1:53 -r 10.1.0.3:5353 -m -w 3
-a -u 10.0.0.1:53 -r 10.9.0.4:53 -i -w 1
-A -f 7 -s rr -p 600 -M 255.255.255.0
-a -f 7 -r 10.0.0.5:0 -g -w 1
-A -f 8 -6 -s wlc --pe sip
-A -t [2001:db8::100]:443 -s mh -b mh-port -p 300 -M 128
-a -t [2001:db8::100]:443 -r [2001:db8::12]:443 -g -w 5 --tun-type gue
`
	svcs, notes, err := ParseIPVSAdm(strings.NewReader(saved))
	if err != nil {
		t.Fatal(err)
	}
	out, sum := RenderIPVSAdm(svcs, notes)
	t.Logf("%s", out)
	if sum != (Summary{Services: 5, Reals: 7, Dropped: 2}) {
		t.Errorf("summary %+v", sum)
	}
	for _, want := range []string{"# line 10: --pe sip dropped", "# line 12: --tun-type dropped"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	cfg, err := config.Parse("imported.hcl", out)
	if err != nil {
		t.Fatalf("directord does not accept the import: %v\n%s", err, out)
	}
	byName := map[string]*config.VirtualServer{}
	for i := range cfg.VirtualServers {
		byName[cfg.VirtualServers[i].Name] = &cfg.VirtualServers[i]
	}
	web := byName["tcp_192_168_11_100_80"]
	if web == nil || web.Scheduler != "wrr" || web.Forwarding != "dr" || len(web.RealServers) != 2 ||
		web.RealServers[0].Weight != 2 || web.RealServers[1].Weight != 4 || web.RealServers[1].Port != 80 {
		t.Errorf("web: %+v", web)
	}
	dns := byName["udp_10_0_0_1_53"]
	if dns == nil || dns.Forwarding != "nat" || strings.Join(dns.SchedulerFlags, ",") != "sh-port,sh-fallback,one-packet" ||
		dns.RealServers[0].Port != 5353 || dns.RealServers[0].UpperThreshold != 100 || dns.RealServers[0].LowerThreshold != 10 ||
		dns.RealServers[2].Forwarding != "tun" || dns.RealServers[1].Weight != 3 {
		t.Errorf("dns: %+v", dns)
	}
	fw := byName["fwmark_7"]
	if fw == nil || fw.FWMark != 7 || fw.PersistenceTimeout.D().Seconds() != 600 || fw.PersistenceNetmask != 24 || fw.RealServers[0].Port != 0 {
		t.Errorf("fwmark 7: %+v", fw)
	}
	if v6 := byName["fwmark_8_inet6"]; v6 == nil || !v6.IsIPv6() {
		t.Errorf("fwmark 8 -6: %+v", v6)
	}
	if tls := byName["tcp_2001_db8__100_443"]; tls == nil || tls.PersistenceNetmask != 0 || tls.RealServers[0].Weight != 5 {
		t.Errorf("IPv6 service: %+v", tls)
	}
}

func TestImportIPVSAdmErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"IP Virtual Server version 1.2.1 (size=4096)\n", "line 1: this is `ipvsadm -Ln`"},
		{"-A -s wrr\n", "line 1: -A without a service"},
		{"-a -t 10.0.0.1:80 -r 10.0.0.2\n", "line 1: real server for -t 10.0.0.1:80, which no earlier -A line adds"},
		{"-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -w 2\n", "line 2: -a without -r"},
		{"-A -t 10.0.0.1\n", "line 1: service address \"10.0.0.1\" is not address:port"},
		{"-A -f 0\n", "fwmark \"0\" is not a number"},
		{"-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -w x\n", "line 2: weight \"x\" is not a number"},
		{"-C\n", "line 1: \"-C\" is neither -A"},
	} {
		if _, _, err := ParseIPVSAdm(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

// Whatever the input, the parser returns an error or services whose
// rendering is well-formed HCL (it may still fail validation: a
// scheduler ipvsadm knows and directord does not, say).
func FuzzParseIPVSAdm(f *testing.F) {
	f.Add("-A -t 192.168.11.100:80 -s wrr\n-a -t 192.168.11.100:80 -r 192.168.11.12:80 -g -w 2\n")
	f.Add("-A -f 7 -6 -s rr -p -M 64\n-a -f 7 -r [2001:db8::1]:0 -i -x 1 -y 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		svcs, notes, err := ParseIPVSAdm(strings.NewReader(in))
		if err != nil {
			return
		}
		out, _ := RenderIPVSAdm(svcs, notes)
		if _, diags := hclsyntax.ParseConfig(out, "f.hcl", hcl.InitialPos); diags.HasErrors() {
			t.Fatalf("the rendering is not HCL: %v\n%s", diags, out)
		}
	})
}
