package bgp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"directord/bgp"
	"directord/bgp/bgptest"
)

func route(addr string, comms ...uint32) bgp.Route {
	return bgp.Route{Prefix: bgp.HostRoute(netip.MustParseAddr(addr)), Communities: comms}
}

// stepper returns a step that syncs a and checks the writes sp saw.
func stepper(t *testing.T, sp *bgptest.Speaker, a *bgp.Announcer) func(want string) {
	return func(want string) {
		t.Helper()
		sp.Log = nil
		if _, _, err := a.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(sp.Log, "; "); got != want {
			t.Errorf("writes %q, want %q", got, want)
		}
	}
}

// A service is announced once it has quorum, withdrawn when it loses it,
// and a shared address stays while any of its services has quorum; only
// the difference is written.
func TestAnnouncerFollowsQuorum(t *testing.T) {
	ctx := context.Background()
	sp := bgptest.New()
	a := bgp.NewAnnouncer(sp, []bgp.Service{
		{Name: "web", Route: route("10.0.0.100", 65000<<16|100)},
		{Name: "tls", Route: route("10.0.0.100", 65000<<16|100)},
		{Name: "dns", Route: route("2001:db8::53")},
	})
	step := stepper(t, sp, a)
	step("") // no quorum known yet: nothing
	a.SetQuorum("web", true)
	a.SetQuorum("dns", true)
	step("announce 10.0.0.100/32 community 65000:100; announce 2001:db8::53/128")
	step("") // nothing changed, nothing written
	a.SetQuorum("tls", true)
	a.SetQuorum("web", false)
	step("") // tls still holds the shared address
	a.SetQuorum("tls", false)
	step("withdraw 10.0.0.100/32")

	// A reload that changes a service's communities re-announces it; one
	// that drops a service withdraws its address.
	a.SetServices([]bgp.Service{{Name: "dns", Route: route("2001:db8::53", 1)}})
	step("announce 2001:db8::53/128 community 0:1")
	a.SetServices(nil)
	step("withdraw 2001:db8::53/128")

	a.SetServices([]bgp.Service{{Name: "web", Route: route("10.0.0.100")}})
	a.SetQuorum("web", true)
	step("announce 10.0.0.100/32")
	withdrawn, err := a.Stop(ctx)
	if err != nil || len(withdrawn) != 1 || len(sp.Routes()) != 0 {
		t.Errorf("stop withdrew %v (%v), peers still hold %v", withdrawn, err, sp.Routes())
	}
	a.SetQuorum("web", true)
	step("") // stopped: nothing is announced again
}

// An address a VRRP instance holds is announced while the instance is
// MASTER here and the service has quorum, and withdrawn when either
// goes; an address of no instance does not care.
func TestAnnouncerFollowsMastership(t *testing.T) {
	sp := bgptest.New()
	a := bgp.NewAnnouncer(sp, []bgp.Service{
		{Name: "vrrp", Route: route("192.0.2.100"), Instance: "v"},
		{Name: "lo", Route: route("10.0.0.100")},
	})
	step := stepper(t, sp, a)
	a.SetQuorum("vrrp", true)
	a.SetQuorum("lo", true)
	step("announce 10.0.0.100/32") // v is not MASTER (yet)
	a.SetMaster("v", true)
	step("announce 192.0.2.100/32")
	a.SetMaster("other", false)
	step("")
	a.SetQuorum("vrrp", false)
	step("withdraw 192.0.2.100/32") // MASTER without quorum
	a.SetQuorum("vrrp", true)
	step("announce 192.0.2.100/32")
	a.SetMaster("v", false)
	step("withdraw 192.0.2.100/32") // BACKUP: the new master announces it
	// A reload keeps what VRRP said.
	a.SetMaster("v", true)
	a.SetServices([]bgp.Service{{Name: "vrrp", Route: route("192.0.2.100", 1), Instance: "v"}})
	step("withdraw 10.0.0.100/32; announce 192.0.2.100/32 community 0:1")

	// An instance's own VIP has no quorum: it follows mastership alone.
	a.SetServices([]bgp.Service{{Name: "vrrp_instance v 192.0.2.101", Route: route("192.0.2.101"), Instance: "v", Always: true}})
	step("withdraw 192.0.2.100/32; announce 192.0.2.101/32")
	a.SetMaster("v", false)
	step("withdraw 192.0.2.101/32")
}

// Whatever the quorum and mastership flips and the speaker's failures
// (before or after a write took effect), once a Sync goes through
// without a failure the peers hold exactly what Want says, Announced
// agrees with them, and every prefix held has a service with quorum,
// whose VRRP instance, if it has one, is MASTER.
func TestAnnouncerConverges(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 1))
		sp := bgptest.New()
		sp.FailAfter = seed%2 == 1 // half the schedules: writes that fail after taking effect
		var svcs []bgp.Service
		for i := range 6 {
			addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(4))})
			svcs = append(svcs, bgp.Service{Name: string(rune('a' + i)), Route: route(addr.String(), uint32(rng.IntN(2)))})
		}
		// Services sharing an address share its attributes (config
		// refuses otherwise), and its VRRP instance: addresses 10.0.0.0
		// and .1 are held by instances "v0" and "v1".
		first := map[netip.Prefix]bgp.Route{}
		for i := range svcs {
			if r, ok := first[svcs[i].Route.Prefix]; ok {
				svcs[i].Route = r
			} else {
				first[svcs[i].Route.Prefix] = svcs[i].Route
			}
			if last := svcs[i].Route.Prefix.Addr().As4()[3]; last < 2 {
				svcs[i].Instance = fmt.Sprintf("v%d", last)
				svcs[i].Always = i%3 == 0 // some are the instance's own VIP
			}
		}
		a := bgp.NewAnnouncer(sp, svcs)
		up, master := map[string]bool{}, map[string]bool{}
		for range 40 {
			name := svcs[rng.IntN(len(svcs))].Name
			up[name] = rng.IntN(2) == 0
			a.SetQuorum(name, up[name])
			if rng.IntN(3) == 0 {
				in := fmt.Sprintf("v%d", rng.IntN(2))
				master[in] = rng.IntN(2) == 0
				a.SetMaster(in, master[in])
			}
			if rng.IntN(4) == 0 {
				sp.Fail(rng.IntN(3))
			}
			a.Sync(ctx)
		}
		sp.Fail(0)
		if _, _, err := a.Sync(ctx); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		want, got := a.Want(), sp.Routes()
		if len(want) != len(got) || len(a.Announced()) != len(got) {
			t.Fatalf("seed %d: want %v, peers hold %v, announced %v", seed, want, got, a.Announced())
		}
		for p, r := range want {
			if !got[p].Equal(r) {
				t.Fatalf("seed %d: %s: peers hold %v, want %v", seed, p, got[p], r)
			}
		}
		// Want itself, from the flips as the schedule made them: a
		// prefix with a service that has quorum and a MASTER instance
		// (or none), and no other.
		expect := map[netip.Prefix]bool{}
		for _, s := range svcs {
			if (s.Always || up[s.Name]) && (s.Instance == "" || master[s.Instance]) {
				expect[s.Route.Prefix] = true
			}
		}
		if len(expect) != len(want) {
			t.Fatalf("seed %d: want %v, but the flips give %v", seed, want, expect)
		}
		for p := range expect {
			if _, ok := want[p]; !ok {
				t.Fatalf("seed %d: %s should be announced, Want has %v", seed, p, want)
			}
		}
	}
}
