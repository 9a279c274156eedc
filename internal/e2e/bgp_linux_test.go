package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"directord/bgp/bgptest"
	"directord/internal/harness"
	"directord/internal/labnet"
	"directord/internal/netnstest"
	"directord/internal/testenv"
)

// ecmp is three directors in BGP mode behind a BIRD router that installs
// the VIP's route with one next hop per director (merge paths, L4
// multipath hashing), and three DR real servers.
type ecmp struct {
	router    *labnet.NS
	bird      *bgptest.BIRD
	directors []*harness.Director
	links     []*labnet.Port // each director's link to the reals
}

const ecmpVIP = "10.0.0.100"

func newECMP(t *testing.T, bin string) *ecmp {
	testenv.RequireCommand(t, "bird")
	n := netnstest.NewT(t)
	core, err := n.AddBridge("core")
	if err != nil {
		t.Fatal(err)
	}
	reals, err := n.AddBridge("reals")
	if err != nil {
		t.Fatal(err)
	}
	must := func(p *labnet.Port, err error) *labnet.Port {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	e := &ecmp{}
	if e.router, err = n.AddNS("router"); err != nil {
		t.Fatal(err)
	}
	must(n.Connect(e.router, core, "eth0", netip.MustParsePrefix("10.9.2.1/24")))
	must(n.Connect(e.router, reals, "eth1", netip.MustParsePrefix("192.168.30.1/24")))
	for _, kv := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/fib_multipath_hash_policy", "1"},
		{"net/ipv4/conf/all/rp_filter", "0"}, {"net/ipv4/conf/default/rp_filter", "0"}} {
		if err := e.router.Sysctl(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	conf := `router id 10.9.2.1;
protocol device {}
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
template bgp dir {
  local 10.9.2.1 as 65000; passive on; hold time 3;
  # BIRD waits 60 s after a session error by default before it takes
  # the director back.
  error wait time 1, 5;
  ipv4 { import all; export none; };
}
`
	for i := 1; i <= 3; i++ {
		conf += fmt.Sprintf("protocol bgp d%d from dir { neighbor 10.9.2.1%d as 65001; }\n", i, i)
	}
	e.bird = bgptest.StartBIRDConf(t, func(name string, args ...string) *exec.Cmd {
		return e.router.Command(context.Background(), name, args...)
	}, conf)

	for i := 1; i <= 3; i++ {
		ns, err := n.AddNS(fmt.Sprintf("r%d", i))
		if err != nil {
			t.Fatal(err)
		}
		must(n.Connect(ns, reals, "eth0", netip.MustParsePrefix(fmt.Sprintf("192.168.30.2%d/24", i))))
		if out, err := ns.Run(bin, "realserver", "up", "--vip", ecmpVIP); err != nil {
			t.Fatalf("r%d realserver up: %v %s", i, err, out)
		}
		if out, err := ns.Run("ip", "route", "add", "default", "via", "192.168.30.1"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		serveIn(t, ns, fmt.Sprintf("r%d", i))
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("d%d", i)
		ns, err := n.AddNS(name)
		if err != nil {
			t.Fatal(err)
		}
		port := must(n.Connect(ns, core, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.9.2.1%d/24", i))))
		e.links = append(e.links, must(n.Connect(ns, reals, "eth1", netip.MustParsePrefix(fmt.Sprintf("192.168.30.1%d/24", i)))))
		d := harness.NewDirector(t, bin, name, port)
		d.WriteConfig(t, fmt.Sprintf(`bgp {
  asn = 65001
  router_id = "10.9.2.1%d"
  hold_time = "3s"
  drain_time = "1s"
  peer "10.9.2.1" { asn = 65000 }
}
ipvs {
  sysctl { sloppy_tcp = true }
}
virtual_server "web" {
  address = %q
  port = 80
  scheduler = "mh"
  scheduler_flags = ["mh-port"]
  forwarding = "dr"
  announce = "bgp"
  health_check "http" {
    interval = "300ms"
    timeout = "200ms"
    fall = 2
    rise = 1
  }
  real_server "192.168.30.21" {}
  real_server "192.168.30.22" {}
  real_server "192.168.30.23" {}
}
`, i, ecmpVIP))
		d.Start(t)
		e.directors = append(e.directors, d)
	}
	return e
}

// serveIn answers HTTP on port 80 of ns with name.
func serveIn(t *testing.T, ns *labnet.NS, name string) {
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp4", ":80"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, name) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// nextHops is the router's next hops for the VIP.
func (e *ecmp) nextHops() ([]string, string) {
	out, _ := e.router.Run("ip", "-4", "route", "show", ecmpVIP+"/32")
	var hops []string
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			hops = append(hops, f[i+1])
		}
	}
	return hops, out
}

// waitHops waits until the router has n next hops and says how long it
// took.
func (e *ecmp) waitHops(t *testing.T, n int, what string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		hops, out := e.nextHops()
		if len(hops) == n {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			for _, d := range e.directors {
				if st, err := d.TryStatus(); err == nil && st.BGP != nil {
					t.Logf("%s: BGP %+v", d.Name, *st.BGP)
				}
			}
			t.Fatalf("%s: the router has %d next hops for %s, want %d after %s:\n%s\n%s", what, len(hops), ecmpVIP, n, timeout, out,
				e.bird.CLI("show", "protocols"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Three directors announce the VIP and the router's kernel route has
// three next hops. A director that loses its reals withdraws (two next
// hops) and comes back; one whose router link is cut (a machine lost) is
// dropped at the hold time; SIGTERM withdraws at once and the daemon
// stops after drain_time; after kill -9 the kernel closes the session and
// the router drops it at once.
func TestBGPECMPRouting(t *testing.T) {
	bin, done := guestBinary(t)
	if done {
		return
	}
	e := newECMP(t, bin)
	took := e.waitHops(t, 3, "all three announce", 20*time.Second)
	t.Logf("three next hops %s after the last director started", took)

	// d3 loses its link to the reals: its checks fail, quorum is lost.
	if err := e.links[2].SetLink(false); err != nil {
		t.Fatal(err)
	}
	checkFail := e.waitHops(t, 2, "d3 without its reals", 5*time.Second)
	if hops, _ := e.nextHops(); strings.Contains(strings.Join(hops, " "), "10.9.2.13") {
		t.Errorf("d3 is still a next hop: %v", hops)
	}
	if err := e.links[2].SetLink(true); err != nil {
		t.Fatal(err)
	}
	e.waitHops(t, 3, "d3's reals back", 5*time.Second)

	// d3's link to the router is cut: nothing tells the router but the
	// hold time.
	if err := e.directors[2].Port.SetLink(false); err != nil {
		t.Fatal(err)
	}
	lost := e.waitHops(t, 2, "d3's router link cut", 6*time.Second)
	// The hold timer runs from the last keepalive (every second), so
	// 2 to 3 s.
	if lost < 1500*time.Millisecond {
		t.Errorf("d3's route went %s after its link was cut: only the hold time (3 s) can tell", lost)
	}
	if err := e.directors[2].Port.SetLink(true); err != nil {
		t.Fatal(err)
	}
	e.waitHops(t, 3, "d3's router link back", 20*time.Second)

	stopped := make(chan time.Duration, 1)
	go func() { stopped <- e.directors[1].Stop(t, 10*time.Second) }()
	sigterm := e.waitHops(t, 2, "d2 SIGTERM", 3*time.Second)
	if d := <-stopped; d < time.Second {
		t.Errorf("d2 exited %s after SIGTERM, before its 1 s drain_time", d)
	}

	e.directors[0].Kill()
	killed := e.waitHops(t, 1, "d1 kill -9", 6*time.Second)
	t.Logf("to the router's route: check failure (fall 2 × 300 ms + 200 ms) %s; router link cut (hold time 3 s) %s; SIGTERM %s; kill -9 %s",
		checkFail, lost, sigterm, killed)
}
