package bgp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"directord/bgp"
	"directord/internal/labnet"
	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// envInNS marks the test binary re-run inside the director's namespace:
// GoBGP's goroutines dial and listen from whatever thread they run on, so
// the whole process must be in the namespace, not one locked thread.
const envInNS = "DIRECTORD_BGP_TEST_IN_NS"

// bird is a BIRD 2 router in its own namespace that takes routes from one
// directord speaker and exports nothing, anywhere (it has no kernel
// protocol).
type bird struct {
	sock string
}

func startBird(t *testing.T, ns *labnet.NS, local, neighbor string) *bird {
	t.Helper()
	exe := testenv.RequireCommand(t, "bird")
	dir := t.TempDir()
	conf := fmt.Sprintf(`router id %s;
protocol device {}
protocol bgp directors {
  local %s as 65000;
  neighbor %s as 65001;
  passive on;
  hold time 3;
  ipv4 { import all; export none; };
}
`, local, local, neighbor)
	if err := os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &bird{sock: filepath.Join(dir, "bird.ctl")}
	cmd := ns.Command(context.Background(), exe, "-f", "-c", filepath.Join(dir, "bird.conf"), "-s", b.sock, "-P", filepath.Join(dir, "bird.pid"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	b.eventually(t, "BIRD's control socket", func(string) bool { _, err := os.Stat(b.sock); return err == nil }, "show", "status")
	return b
}

func (b *bird) cli(args ...string) string {
	out, _ := exec.Command("birdc", append([]string{"-s", b.sock}, args...)...).CombinedOutput()
	return string(out)
}

// eventually polls a birdc command until ok holds (10 s).
func (b *bird) eventually(t *testing.T, what string, ok func(string) bool, args ...string) string {
	t.Helper()
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out = b.cli(args...); ok(out) {
			return out
		}
	}
	t.Fatalf("%s: not after 10s; birdc %s says:\n%s", what, strings.Join(args, " "), out)
	return ""
}

// GoBGP, as directord runs it, against BIRD: the session comes up, a
// route goes out with its communities and MED, a withdrawal takes it
// back, setting the same peers again leaves the session alone, and stop
// ends it.
func TestGoBGPAgainstBIRD(t *testing.T) {
	if os.Getenv(envInNS) != "" {
		goBGPAgainstBIRD(t, &bird{sock: os.Getenv("BIRD_SOCK")})
		return
	}
	testenv.RequireCommand(t, "bird")
	lan := netnstest.NewLAN(t, map[string]string{"router": "10.79.0.1/24", "director": "10.79.0.11/24"})
	b := startBird(t, lan.Hosts["router"].NS, "10.79.0.1", "10.79.0.11")
	child := lan.Hosts["director"].NS.Command(context.Background(), os.Args[0], "-test.run=^TestGoBGPAgainstBIRD$", "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), envInNS+"=1", "BIRD_SOCK="+b.sock)
	out, err := child.CombinedOutput()
	t.Logf("in the director's namespace:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

// goBGPAgainstBIRD runs in the director's namespace.
func goBGPAgainstBIRD(t *testing.T, b *bird) {
	ctx := context.Background()
	var mu sync.Mutex
	var states []string
	sp, err := bgp.StartGoBGP(ctx, bgp.Global{ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.11")}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		func(st bgp.PeerStatus) { mu.Lock(); states = append(states, st.State); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Stop(ctx)
	peers := []bgp.Peer{{Address: netip.MustParseAddr("10.79.0.1"), ASN: 65000, Port: 179, HoldTime: 3 * time.Second}}
	if err := sp.SetPeers(ctx, peers); err != nil {
		t.Fatal(err)
	}
	established := func(out string) bool { return strings.Contains(out, "Established") }
	b.eventually(t, "session established", established, "show", "protocols", "directors")

	r := bgp.Route{Prefix: netip.MustParsePrefix("10.0.0.100/32"), Communities: []uint32{65000<<16 | 100}, MED: 10, HasMED: true}
	if err := sp.Announce(ctx, r); err != nil {
		t.Fatal(err)
	}
	out := b.eventually(t, "route at BIRD", func(s string) bool { return strings.Contains(s, "10.0.0.100/32") }, "show", "route", "all")
	for _, want := range []string{"BGP.community: (65000,100)", "BGP.med: 10", "BGP.origin: IGP", "BGP.as_path: 65001"} {
		if !strings.Contains(out, want) {
			t.Errorf("BIRD's route lacks %q:\n%s", want, out)
		}
	}
	since := b.cli("show", "protocols", "directors")

	// The same peers again (a reload that changed nothing about them).
	if err := sp.SetPeers(ctx, peers); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if now := b.cli("show", "protocols", "directors"); now != since {
		t.Errorf("setting the same peers again reset the session:\n%s\nthen\n%s", since, now)
	}
	if err := sp.Withdraw(ctx, r.Prefix); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "route withdrawn", func(s string) bool { return !strings.Contains(s, "10.0.0.100/32") }, "show", "route")
	if ps, err := sp.Peers(ctx); err != nil || len(ps) != 1 || ps[0].State != "established" || ps[0].ASN != 65000 {
		t.Errorf("peers %+v, %v", ps, err)
	}
	sp.Stop(ctx)
	b.eventually(t, "session down after stop", func(s string) bool { return !established(s) }, "show", "protocols", "directors")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(states, "established") {
		t.Errorf("the session's establishment was not reported: %v", states)
	}
}
