package gobgp_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"directord/bgp"
	"directord/bgp/bgptest"
	"directord/bgp/gobgp"
	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// envInNS marks the test binary re-run inside the director's namespace:
// GoBGP's goroutines dial and listen from whatever thread they run on, so
// the whole process must be in the namespace, not one locked thread.
const envInNS = "DIRECTORD_BGP_TEST_IN_NS"

// GoBGP, as directord runs it, against BIRD: the session comes up, a
// route goes out with its communities and MED, a withdrawal takes it
// back, setting the same peers again leaves the session alone, and stop
// ends it.
func TestGoBGPAgainstBIRD(t *testing.T) {
	if os.Getenv(envInNS) != "" {
		goBGPAgainstBIRD(t, &bgptest.BIRD{Sock: os.Getenv("BIRD_SOCK")})
		return
	}
	testenv.RequireCommand(t, "bird")
	lan := netnstest.NewLAN(t, map[string]string{"router": "10.79.0.1/24", "director": "10.79.0.11/24"})
	router := lan.Hosts["router"].NS
	b := bgptest.StartBIRD(t, func(name string, args ...string) *exec.Cmd {
		return router.Command(context.Background(), name, args...)
	}, "10.79.0.1", "10.79.0.11")
	child := lan.Hosts["director"].NS.Command(context.Background(), os.Args[0], "-test.run=^TestGoBGPAgainstBIRD$", "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), envInNS+"=1", "BIRD_SOCK="+b.Sock)
	out, err := child.CombinedOutput()
	t.Logf("in the director's namespace:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

// goBGPAgainstBIRD runs in the director's namespace.
func goBGPAgainstBIRD(t *testing.T, b *bgptest.BIRD) {
	ctx := context.Background()
	var mu sync.Mutex
	var states []string
	sp, err := gobgp.Start(ctx, bgp.Global{ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.11")}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		func(st bgp.PeerStatus) { mu.Lock(); states = append(states, st.State); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Stop()
	peers := []bgp.Peer{{Address: netip.MustParseAddr("10.79.0.1"), ASN: 65000, Port: 179, HoldTime: 3 * time.Second}}
	if err := sp.SetPeers(ctx, peers); err != nil {
		t.Fatal(err)
	}
	established := func(out string) bool { return strings.Contains(out, "Established") }
	b.Eventually(t, "session established", 10*time.Second, established, "show", "protocols", "directors")

	r := bgp.Route{Prefix: netip.MustParsePrefix("10.0.0.100/32"), Communities: []uint32{65000<<16 | 100}, MED: 10, HasMED: true}
	if err := sp.Announce(ctx, r); err != nil {
		t.Fatal(err)
	}
	out, _ := b.Eventually(t, "route at BIRD", 10*time.Second, func(s string) bool { return strings.Contains(s, "10.0.0.100/32") }, "show", "route", "all")
	for _, want := range []string{"BGP.community: (65000,100)", "BGP.med: 10", "BGP.origin: IGP", "BGP.as_path: 65001"} {
		if !strings.Contains(out, want) {
			t.Errorf("BIRD's route lacks %q:\n%s", want, out)
		}
	}
	again := time.Now()

	// The same peers again (a reload that changed nothing about them).
	if err := sp.SetPeers(ctx, peers); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if now := b.CLI("show", "protocols", "directors"); !bgptest.KeptSince(now, again) {
		t.Errorf("setting the same peers again reset the session (at %s):\n%s", again.Format("15:04:05.000"), now)
	}
	if err := sp.Withdraw(ctx, r.Prefix); err != nil {
		t.Fatal(err)
	}
	b.Eventually(t, "route withdrawn", 10*time.Second, func(s string) bool { return !strings.Contains(s, "10.0.0.100/32") }, "show", "route")
	if ps, err := sp.Peers(ctx); err != nil || len(ps) != 1 || ps[0].State != "established" || ps[0].ASN != 65000 {
		t.Errorf("peers %+v, %v", ps, err)
	}
	sp.Stop()
	b.Eventually(t, "session down after stop", 10*time.Second, func(s string) bool { return !established(s) }, "show", "protocols", "directors")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(states, "established") {
		t.Errorf("the session's establishment was not reported: %v", states)
	}
}

// BFD (RFC 5880) between GoBGP, as directord configures it, and BIRD: the
// BFD session comes up beside the BGP one, and when the director's cable
// is pulled BIRD drops the session, and the route, at BFD's pace (3 ×
// 100 ms), not at the 9 s hold time.
func TestGoBGPBFDAgainstBIRD(t *testing.T) {
	if os.Getenv(envInNS) == "bfd" {
		goBGPWithBFD(t)
		return
	}
	testenv.RequireCommand(t, "bird")
	lan := netnstest.NewLAN(t, map[string]string{"router": "10.79.1.1/24", "director": "10.79.1.11/24"})
	router := lan.Hosts["router"].NS
	b := bgptest.StartBIRDConf(t, func(name string, args ...string) *exec.Cmd {
		return router.Command(context.Background(), name, args...)
	}, `router id 10.79.1.1;
protocol device {}
protocol bfd {
  interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}
protocol bgp directors {
  local 10.79.1.1 as 65000;
  neighbor 10.79.1.11 as 65001;
  passive on;
  hold time 9;
  error wait time 1, 5;
  bfd on;
  ipv4 { import all; export none; };
}
`)
	child := lan.Hosts["director"].NS.Command(context.Background(), os.Args[0], "-test.run=^TestGoBGPBFDAgainstBIRD$", "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), envInNS+"=bfd")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		child.Wait()
		t.Logf("in the director's namespace:\n%s", out.String())
	}()
	b.Eventually(t, "route at BIRD", 15*time.Second, func(s string) bool { return strings.Contains(s, "10.0.0.100/32") }, "show", "route")
	sessions, _ := b.Eventually(t, "BFD session up", 10*time.Second, func(s string) bool { return strings.Contains(s, " Up ") }, "show", "bfd", "sessions")
	t.Logf("BIRD's BFD sessions:\n%s", sessions)

	if err := lan.Hosts["director"].SetLink(false); err != nil {
		t.Fatal(err)
	}
	_, took := b.Eventually(t, "route gone after the cable is pulled", 9*time.Second, func(s string) bool { return !strings.Contains(s, "10.0.0.100/32") }, "show", "route")
	t.Logf("route gone at BIRD %s after the director's cable was pulled (BFD 3 × 100 ms; hold time 9 s)", took)
	if took > 2*time.Second {
		t.Errorf("BIRD dropped the route %s after the cable was pulled: that is the hold time, not BFD", took)
	}
	if p := b.CLI("show", "protocols", "all", "directors"); !strings.Contains(p, "BFD session down") {
		t.Errorf("BIRD does not say BFD took the session down:\n%s", p)
	}

	// The cable back: the sessions come up again, BFD with them, and
	// stay up.
	if err := lan.Hosts["director"].SetLink(true); err != nil {
		t.Fatal(err)
	}
	_, took = b.Eventually(t, "route back after the cable is plugged in", 20*time.Second, func(s string) bool { return strings.Contains(s, "10.0.0.100/32") }, "show", "route")
	b.Eventually(t, "BFD session up again", 10*time.Second, func(s string) bool { return strings.Contains(s, " Up ") }, "show", "bfd", "sessions")
	t.Logf("route back at BIRD %s after the cable was plugged in", took)
	time.Sleep(time.Second) // more than three BFD intervals
	if out := b.CLI("show", "route"); !strings.Contains(out, "10.0.0.100/32") {
		t.Errorf("the route went again after the sessions came back:\n%s\n%s", out, b.CLI("show", "bfd", "sessions"))
	}
}

// goBGPWithBFD runs in the director's namespace: a BFD peer, one route,
// until standard input closes.
func goBGPWithBFD(t *testing.T) {
	ctx := context.Background()
	sp, err := gobgp.Start(ctx, bgp.Global{ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.11")},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), func(bgp.PeerStatus) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Stop()
	peer := bgp.Peer{Address: netip.MustParseAddr("10.79.1.1"), ASN: 65000, Port: 179, HoldTime: 9 * time.Second,
		BFD: bgp.BFD{Interval: 100 * time.Millisecond, Multiplier: 3}}
	if err := sp.SetPeers(ctx, []bgp.Peer{peer}); err != nil {
		t.Fatal(err)
	}
	if err := sp.Announce(ctx, bgp.Route{Prefix: netip.MustParsePrefix("10.0.0.100/32")}); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, os.Stdin)
}
