package vrrp_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"directord/vrrp"
	"directord/vrrp/vrrptest"
)

// startSimGroup is startSim with the instances in one sync group.
func startSimGroup(t *testing.T, h *vrrptest.Host, cfgs ...vrrp.Config) *simRouter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &simRouter{host: h, r: vrrp.NewRouter(h.System(), nil), cancel: cancel, done: make(chan error, 1)}
	var names []string
	for _, c := range cfgs {
		names = append(names, c.Name)
	}
	groups := []vrrp.SyncGroup{{Name: "site", Instances: names}}
	go func() { s.done <- s.r.Run(ctx, cfgs, groups) }()
	select {
	case <-s.r.Ready():
	case err := <-s.done:
		t.Fatalf("%s: %v", h.Name, err)
	}
	t.Cleanup(s.stop)
	return s
}

// A sync group moves together, so one member held (its service has lost
// quorum on this director) holds the preemption of every member: the
// lab's dual-stack pair, restarted with its IPv4 checks not yet up,
// preempted with the IPv6 instance, which dragged the held IPv4 one to
// MASTER, and the IPv4 VIP refused connections for a second.
func TestHeldMemberHoldsItsSyncGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN(1)
		pair := func(prio uint8) []vrrp.Config {
			web, web6 := simInstance("web", 51, prio), simInstance("web6", 52, prio)
			web6.VIPs = []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.0.101/24")}}
			return []vrrp.Config{web, web6}
		}
		lb2 := startSimGroup(t, lan.AddHost("lb2", "eth0", simAddrs[1]), pair(100)...)
		time.Sleep(time.Second)
		lb1 := startSimGroup(t, lan.AddHost("lb1", "eth0", simAddrs[0]), pair(200)...)
		lb1.r.HoldPreemption(map[string]string{"web": "virtual_server web has lost quorum here"})
		time.Sleep(2 * time.Second)
		for _, in := range []string{"web", "web6"} {
			if s1, s2 := lb1.state(t, in), lb2.state(t, in); s1 != "BACKUP" || s2 != "MASTER" {
				t.Errorf("%s held by its group: lb1 %s, lb2 %s; want lb2 to stay master", in, s1, s2)
			}
		}
		if st := lb1.status(t)["web6"]; st.PreemptHeld == "" {
			t.Error("web6's status does not say why its preemption is held")
		}
		lb1.r.HoldPreemption(nil)
		time.Sleep(time.Second)
		for _, in := range []string{"web", "web6"} {
			if s1, s2 := lb1.state(t, in), lb2.state(t, in); s1 != "MASTER" || s2 != "BACKUP" {
				t.Errorf("%s after the release: lb1 %s, lb2 %s; want lb1 to preempt", in, s1, s2)
			}
		}
	})
}
