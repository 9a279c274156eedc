package daemon_test

// What the status API and the metrics say about an IPv6 director, from
// its configuration through the running daemon (on fakes of VRRP and
// IPVS, with real health checks to [::1]): endpoints bracketed, VIPs
// plain, never "2001:db8::10:80".

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
)

// unbracketed finds an IPv6 address run into its port: "2001:db8::10:80"
// (ambiguous: it is also an address), where "[2001:db8::10]:80" is meant.
var unbracketed = regexp.MustCompile(`(^|[^\[0-9a-f:])2001:db8::[0-9a-f]+:[0-9]+`)

func TestStatusJSONIPv6(t *testing.T) {
	d := daemontest.StartIPv6(t, "")
	raw, err := d.StatusJSON(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m := unbracketed.FindAllString(string(raw), -1); m != nil {
		t.Errorf("the status document runs addresses into ports: %q", m)
	}
	var doc daemon.StatusDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var reals []string
	for _, rs := range doc.RealServers {
		reason := ""
		if rs.Last != nil {
			reason = rs.Last.Reason
		}
		reals = append(reals, fmt.Sprintf("%s %s up=%v %s", rs.VirtualServer, rs.RealServer, rs.Up, reason))
	}
	want := []string{"web6 [2001:db8::10]:80 up=true status 200", "web6 [2001:db8::11]:80 up=false refused"}
	if !slices.Equal(reals, want) {
		t.Errorf("real servers:\n%q\nwant\n%q", reals, want)
	}
	in := doc.VRRP.Instances[0]
	if !slices.Equal(in.VIPs, []string{"2001:db8::100/128"}) || in.Source != "fe80::1" {
		t.Errorf("instance VIPs %q source %q, want [2001:db8::100/128] from fe80::1", in.VIPs, in.Source)
	}
	if _, err := netip.ParseAddr(in.Master); in.Master != "" && err != nil {
		t.Errorf("master %q is not an address", in.Master)
	}
	if got := tableRows(doc); !slices.Equal(got, []string{
		"tcp [2001:db8::100]:80",
		"  -> [2001:db8::10]:80 weight 1",
		"  -> [2001:db8::11]:80 weight 0",
	}) {
		t.Errorf("IPVS table:\n%s", strings.Join(got, "\n"))
	}
	if s := doc.IPVS.Services; len(s) != 1 || s[0].Name != "web6" {
		t.Errorf("IPVS services %+v, want one named web6", s)
	}
}

// tableRows flattens the IPVS table, destinations sorted.
func tableRows(doc daemon.StatusDoc) []string {
	var out []string
	for _, s := range doc.IPVS.Table {
		out = append(out, s.Name)
		var dests []string
		for _, d := range s.Dests {
			dests = append(dests, fmt.Sprintf("  -> %s weight %d", d.Name, d.Weight))
		}
		slices.Sort(dests)
		out = append(out, dests...)
	}
	return out
}

// Prometheus labels of an IPVS director, scraped from metrics_listen on
// [::1] (an IPv6 listen address too).
func TestMetricsIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	daemontest.StartIPv6(t, fmt.Sprintf("metrics_listen = %q", addr))
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{
		`directord_real_server_up{real_server="[2001:db8::10]:80",virtual_server="web6"} 1`,
		`directord_real_server_up{real_server="[2001:db8::11]:80",virtual_server="web6"} 0`,
		`directord_ipvs_destination_weight{destination="[2001:db8::10]:80",service="tcp [2001:db8::100]:80"} 1`,
		`directord_ipvs_destination_weight{destination="[2001:db8::11]:80",service="tcp [2001:db8::100]:80"} 0`,
		`directord_ipvs_service_connections_total{service="tcp [2001:db8::100]:80"} 0`,
		`directord_ipvs_quorum_lost{virtual_server="web6"} 0`,
		`directord_vrrp_state{instance="web6",state="MASTER"} 1`,
		`directord_vrrp_instance_info{family="ipv6",instance="web6",interface="eth0",version="3",vrid="61"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if m := unbracketed.FindAllString(out, -1); m != nil {
		t.Errorf("metric labels run addresses into ports: %q", m)
	}
}
