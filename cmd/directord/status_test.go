package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"

	"directord/bgp"
	"directord/healthcheck"
	"directord/internal/daemon"
	"directord/lvs"
	"directord/vrrp"
)

// The status tables: VRRP, real servers, a failed reload, and the IPVS
// table in ipvsadm's shape.
func TestRenderStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	five := 5
	doc := &daemon.StatusDoc{
		RouterID: "lb1", PID: 42, Version: "directord test", Started: now.Add(-90 * time.Second),
		Config:     daemon.ConfigInfo{Path: "/etc/directord/directord.hcl", SHA256: "0123456789abcdef0123"},
		LastReload: &daemon.ReloadResult{At: now.Add(-10 * time.Second), Error: "invalid configuration: x.hcl:3:4: bad", Diagnostics: "Error: x.hcl:3:4: bad\n"},
		Reloads:    daemon.ReloadCounts{Succeeded: 2, Failed: 1},
		VRRP: vrrp.Status{Instances: []vrrp.InstanceStatus{{
			Name: "web", Interface: "eth0", VRID: 51, State: "MASTER", Priority: 150, EffectivePriority: 140,
			Master: "192.168.11.11", MasterAdvert: "1s", AdvertsSent: 12, Drops: map[vrrp.Drop]uint64{vrrp.DropTTL: 2},
			Transitions: []vrrp.TransitionRecord{{At: now.Add(-80 * time.Second), From: "BACKUP", To: "MASTER", Reason: "master_down"}},
		}}},
		RealServers: []daemon.RealServerStatus{
			{VirtualServer: "web", RealServer: "192.168.11.12:80", Check: "http", Up: true, Weight: 2,
				Drained: true, RuntimeWeight: &five, InTable: &daemon.DestInTable{ActiveConns: 7},
				Last: &healthcheck.Result{Up: true, Reason: "status 200", Latency: 1500 * time.Microsecond}, Since: now.Add(-60 * time.Second)},
			{VirtualServer: "web", RealServer: "192.168.11.13:80", Check: "http", Up: false, Weight: 4,
				Last: &healthcheck.Result{Reason: "refused"}, Since: now.Add(-5 * time.Second)},
		},
		IPVS: &daemon.IPVSStatus{
			Reconciler: lvs.Stats{Writes: 3},
			Table: []lvs.ServiceStats{{Name: "tcp 192.168.11.100:80", Scheduler: "wrr", Owned: true,
				Stats: ipvs.Stats{Connections: 30, IncomingPackets: 300, IncomingBytes: 20000},
				Dests: []lvs.DestStats{{Name: "192.168.11.12:80", Forward: "Route", Weight: 2, ActiveConns: 1, Stats: ipvs.Stats{Connections: 10}}}}},
			Sync: &lvs.SyncStatus{Mode: "follow", Role: "master",
				Running: []lvs.SyncDaemon{{State: lvs.SyncMaster, Interface: "eth1", SyncID: 51, MaxLen: 1472, Group: lvs.DefaultSyncGroup(), Port: 8848, TTL: 1}},
				Sysctls: map[string]string{"sloppy_tcp": "0", "expire_nodest_conn": "1"}},
		},
	}
	var b bytes.Buffer
	renderStatus(&b, doc, now)
	out := b.String()
	for _, want := range []string{
		"directord lb1 (pid 42, directord test), up 1m30s",
		"config /etc/directord/directord.hcl (sha256 0123456789ab)",
		"last reload 2026-01-02 03:03:55 FAILED, still running the previous configuration: invalid configuration: x.hcl:3:4: bad (reloads: 2 succeeded, 1 failed)",
		"    Error: x.hcl:3:4: bad",
		"web            eth0       51    MASTER  140/150   192.168.11.11  1s      12    0         2        1m20s ago (master_down)",
		"VIRTUAL SERVER  REAL SERVER       CHECK  HEALTH  WEIGHT  RUNTIME           EFFECTIVE  ACTIVE  LATENCY  LAST RESULT  SINCE",
		"web             192.168.11.12:80  http   up      2       drained,weight 5  0          7       1.5ms    status 200   1m0s",
		"web             192.168.11.13:80  http   DOWN    4       -                 0          -       0.0ms    refused      5s",
		"IPVS: 3 writes, 0 errors, 0 drift repairs",
		"connection sync: following VRRP, master daemon wanted",
		"  running: master on eth1, syncid 51, group 224.0.0.81 port 8848 ttl 1, maxlen 1472",
		"  net.ipv4.vs: expire_nodest_conn=1 sloppy_tcp=0",
		"Prot LocalAddress:Port",
		"TCP  192.168.11.100:80",
		"-> 192.168.11.12:80",
		"19K",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// BGP mode's part of the status: each session and what is announced.
func TestRenderStatusBGP(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	doc := &daemon.StatusDoc{RouterID: "lb1", Started: now, BGP: &daemon.BGPStatus{
		Peers: []bgp.PeerStatus{
			{Address: netip.MustParseAddr("192.0.2.1"), ASN: 65000, State: "established"},
			{Address: netip.MustParseAddr("2001:db8::1"), ASN: 65000, State: "idle", LastError: "hold-timer-expired"},
		},
		Announced: []string{"10.0.0.100/32 community 65000:100"},
	}}
	var b bytes.Buffer
	renderStatus(&b, doc, now)
	out := b.String()
	for _, want := range []string{
		"BGP PEER     ASN    STATE        LAST ERROR",
		"192.0.2.1    65000  established  -",
		"2001:db8::1  65000  idle         hold-timer-expired",
		"announced: 10.0.0.100/32 community 65000:100",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	doc.BGP.Announced = nil
	b.Reset()
	renderStatus(&b, doc, now)
	if !strings.Contains(b.String(), "announced: nothing") {
		t.Errorf("nothing announced, yet:\n%s", b.String())
	}
}
