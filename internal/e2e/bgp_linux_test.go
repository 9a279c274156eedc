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
	"directord/internal/lab"
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
	client    *lab.Host      // behind the router, on a network of its own
	reals     []*lab.Real
}

const ecmpVIP = "10.0.0.100"

// ecmpRouterConfig is BIRD's, before a protocol per director: their
// routes to the VIP merged into one kernel route with a next hop each.
const ecmpRouterConfig = `router id 10.9.2.1;
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

// ecmpDirectorConfig is director N's (%d), for the VIP (%q): two DR
// services announced with mh and mh-port, sloppy_tcp on.
const ecmpDirectorConfig = `bgp {
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
    interval = "500ms"
    timeout = "400ms"
    fall = 2
    rise = 1
  }
  real_server "192.168.30.21" {}
  real_server "192.168.30.22" {}
  real_server "192.168.30.23" {}
}
# Long-lived connections: a line in, the real's name and the line out.
virtual_server "echo" {
  address = %[2]q
  port = 7
  scheduler = "mh"
  scheduler_flags = ["mh-port"]
  forwarding = "dr"
  announce = "bgp"
  health_check "tcp" {
    interval = "500ms"
    timeout = "400ms"
    fall = 2
    rise = 1
  }
  real_server "192.168.30.21" {}
  real_server "192.168.30.22" {}
  real_server "192.168.30.23" {}
}
`

// newECMP builds the topology. There is no BFD: in the loaded one-CPU
// guest its 900 ms detection time saw false alarms, so a cut router link
// is found by the 3 s hold time (TestGoBGPBFDAgainstBIRD tests BFD).
func newECMP(t testing.TB, bin string) *ecmp {
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
	e.client = ecmpClient(t, n, e.router)
	for _, kv := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/fib_multipath_hash_policy", "1"},
		{"net/ipv4/conf/all/rp_filter", "0"}, {"net/ipv4/conf/default/rp_filter", "0"}} {
		if err := e.router.Sysctl(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	conf := ecmpRouterConfig
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
		r := &lab.Real{Host: lab.Host{Name: fmt.Sprintf("r%d", i), NS: ns}}
		if err := r.StartEcho(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.StopEcho)
		e.reals = append(e.reals, r)
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
		d.WriteConfig(t, fmt.Sprintf(ecmpDirectorConfig, i, ecmpVIP))
		e.directors = append(e.directors, d)
	}
	// All three start at once: each takes seconds to page in in the guest.
	for _, d := range e.directors {
		if err := d.Process.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range e.directors {
		if err := lab.WaitReady(d.Process, d.StatusClient, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// ecmpClient is a client namespace on a network of its own behind the
// router: 10.9.1.2, routed through 10.9.1.1.
func ecmpClient(t testing.TB, n *labnet.Net, router *labnet.NS) *lab.Host {
	clients, err := n.AddBridge("clients")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Connect(router, clients, "eth2", netip.MustParsePrefix("10.9.1.1/24")); err != nil {
		t.Fatal(err)
	}
	ns, err := n.AddNS("client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Connect(ns, clients, "eth0", netip.MustParsePrefix("10.9.1.2/24")); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.Run("ip", "route", "add", "default", "via", "10.9.1.1"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	return &lab.Host{Name: "client", NS: ns, Addr: netip.MustParseAddr("10.9.1.2")}
}

// serveIn answers HTTP on port 80 of ns with name.
func serveIn(t testing.TB, ns *labnet.NS, name string) {
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
func (e *ecmp) waitHops(t testing.TB, n int, what string, timeout time.Duration) time.Duration {
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

// routingFaults: three directors announce the VIP and the router's
// kernel route has three next hops. A director that loses its reals
// withdraws (two next hops) and comes back; one whose router link is cut
// (a machine lost, no BFD on its session) is dropped at the hold time and
// is plugged in again. It returns how long the router took for each.
func (e *ecmp) routingFaults(t testing.TB) (checkFail, holdTime time.Duration) {
	took := e.waitHops(t, 3, "all three announce", 20*time.Second)
	t.Logf("three next hops %s after the last director started", took)

	// d3 loses its link to the reals: its checks fail, quorum is lost.
	if err := e.links[2].SetLink(false); err != nil {
		t.Fatal(err)
	}
	checkFail = e.waitHops(t, 2, "d3 without its reals", 5*time.Second)
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
	holdTime = e.waitHops(t, 2, "d3's router link cut", 6*time.Second)
	// The hold timer runs from the last keepalive (every second), so
	// 2 to 3 s.
	if holdTime < 1500*time.Millisecond {
		t.Errorf("d3's route went %s after its link was cut: only the hold time (3 s) can tell", holdTime)
	}
	// Plugged in again: GoBGP reconnects within 5 s. What follows first
	// routes by policy, not by this route, and waits for its three hops.
	if err := e.directors[2].Port.SetLink(true); err != nil {
		t.Fatal(err)
	}
	return checkFail, holdTime
}
