package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"directord/bgp/bgptest"
	"directord/config"
	"directord/internal/daemon"
	"directord/internal/harness"
	"directord/internal/testenv"
	"directord/internal/vmtest"
)

// vrrpMaster: the VRRP VIPs 10.2.0.100 (instance v's, announced through
// a virtual server) and 10.2.0.101 (instance w's own announce) are
// announced while directord's instances are MASTER, withdrawn when
// keepalived (priority 200, in the router's namespace) takes over, and
// announced again when keepalived stops (priority 0). VRRP, not
// vip_interface, holds them.
func vrrpMaster(t *testing.T, bird func(...string) string) {
	t.Helper()
	// 10.2.0.100 through its virtual server, 10.2.0.101 through the
	// instance's own announce.
	announced := func(want bool) func() (bool, string) {
		return func() (bool, string) {
			out := bird("show", "route")
			return strings.Contains(out, "10.2.0.100/32") == want && strings.Contains(out, "10.2.0.101/32") == want, out
		}
	}
	waitFor(t, "the VRRP VIP announced by the master", 10*time.Second, announced(true))
	for _, vip := range []string{"10.2.0.100", "10.2.0.101"} {
		if out, _ := exec.Command("ip", "-4", "addr", "show", "dev", "lo").CombinedOutput(); strings.Contains(string(out), vip) {
			t.Errorf("the VRRP VIP %s is on lo:\n%s", vip, out)
		}
		if out, _ := exec.Command("ip", "-4", "addr", "show", "dev", "vb0").CombinedOutput(); !strings.Contains(string(out), vip+"/24") {
			t.Errorf("the master does not hold the VRRP VIP %s on vb0:\n%s", vip, out)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(`global_defs { router_id ka }
vrrp_instance v {
  state BACKUP
  interface vb1
  virtual_router_id 42
  priority 200
  advert_int 0.1
  version 3
  virtual_ipaddress { 10.2.0.100/24 }
}
vrrp_instance w {
  state BACKUP
  interface vb1
  virtual_router_id 43
  priority 200
  advert_int 0.1
  version 3
  virtual_ipaddress { 10.2.0.101/24 }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ka := exec.Command("ip", "netns", "exec", "router", "keepalived", "--vrrp", "--dont-fork", "--log-console", "--use-file", conf,
		"--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"))
	var log strings.Builder
	ka.Stdout, ka.Stderr = &log, &log
	if err := ka.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			ka.Process.Kill()
			ka.Wait()
		}
		if t.Failed() {
			t.Logf("keepalived:\n%s", log.String())
		}
	}()
	took := waitFor(t, "withdrawn when keepalived takes over", 10*time.Second, announced(false))
	t.Logf("keepalived started → the VRRP VIP withdrawn at BIRD: %s", took)
	start := time.Now()
	ka.Process.Signal(syscall.SIGTERM)
	ka.Wait()
	stopped = true
	waitFor(t, "announced again when keepalived resigns", 10*time.Second, announced(true))
	t.Logf("keepalived resigned → the VRRP VIP announced at BIRD: %s", time.Since(start))
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		ok, s := cond()
		if ok {
			return time.Since(start)
		}
		last = s
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last seen:\n%s", what, timeout, last)
	return 0
}

// bgpModeConfig is TestBGPMode's director (status socket %q, web's
// community %q, slow's gate file %q): two announced services on lo, and
// a VRRP VIP announced by the master only.
const bgpModeConfig = `director {
  router_id = "10.2.0.1"
  status_socket = %q
  metrics_listen = "127.0.0.1:9112"
}
bgp {
  asn = 65001
  hold_time = "3s"
  drain_time = "1s"
  peer "10.2.0.2" { asn = 65000 }
}
virtual_server "web" {
  address = "10.0.0.100"
  port = 8080
  scheduler = "mh"
  announce = "bgp"
  communities = [%q]
  health_check "tcp" {
    interval = "200ms"
    timeout = "150ms"
    rise = 1
    fall = 2
  }
  real_server "127.0.0.2" {}
}
# Its only check waits for the gate file the test creates: the address
# is not announced before its first result (fall 1: a run that times out
# before the gate is there is a result, down, not announced either).
virtual_server "slow" {
  address = "10.0.0.101"
  port = 8080
  announce = "bgp"
  health_check "exec" {
    command = ["/bin/sh", "-c", "while [ ! -e \"$0\" ]; do sleep 0.1; done", %q]
    interval = "5s"
    timeout = "4s"
    rise = 1
    fall = 1
  }
  real_server "127.0.0.2" {}
}
# A VRRP VIP: announced by the instance's master only.
vrrp_instance "v" {
  interface = "vb0"
  virtual_router_id = 42
  priority = 100
  advert_interval = "100ms"
  virtual_ips = ["10.2.0.100/24"]
}
# Its VIP announced while MASTER, whatever the services (none uses it).
vrrp_instance "w" {
  interface = "vb0"
  virtual_router_id = 43
  priority = 100
  advert_interval = "100ms"
  virtual_ips = ["10.2.0.101/24"]
  announce = "bgp"
}
virtual_server "vrrp" {
  address = "10.2.0.100"
  port = 8080
  announce = "bgp"
  health_check "tcp" {
    interval = "200ms"
    timeout = "150ms"
  }
  real_server "127.0.0.2" {}
}
`

// In the guest kernel, against BIRD in a namespace: a director in BGP
// mode holds the VIP on lo, announces it with its community once the
// service has quorum, withdraws it when quorum is lost and again when it
// is regained, changes its community in place on a reload (the session
// stays up), and at stop withdraws first and stops after drain_time. A
// VRRP VIP is announced while its instance is MASTER only (vrrpMaster).
func TestBGPMode(t *testing.T) {
	// The speaker runs as a process of its own: built here, run there.
	bin, err := harness.BuildDirectord()
	if err != nil {
		t.Fatal(err)
	}
	if vmtest.RunInGuest(t, vmtest.WithEnv(map[string]string{harness.EnvBinary: bin})) {
		return
	}
	for _, c := range []string{
		"ip netns add router",
		"ip link add vb0 type veth peer name vb1",
		"ip link set vb1 netns router",
		"ip addr add 10.2.0.1/24 dev vb0", "ip link set vb0 up",
		"ip netns exec router ip addr add 10.2.0.2/24 dev vb1", "ip netns exec router ip link set vb1 up",
		"ip netns exec router ip link set lo up",
	} {
		if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", c, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", "router").Run() })
	testenv.RequireCommand(t, "bird")
	router := bgptest.StartBIRD(t, func(name string, args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", "router", name}, args...)...)
	}, "10.2.0.2", "10.2.0.1")
	bird := router.CLI
	real := serve(t, "127.0.0.2:8080")

	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	gate := filepath.Join(dir, "gate")
	write := func(community string) string {
		path := filepath.Join(dir, "directord.hcl")
		src := fmt.Sprintf(bgpModeConfig, sock, community, gate)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg, err := config.Load(write("65000:7"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	d := daemon.New(cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), BGPSpeaker: bin + harness.SpeakerSuffix})
	go func() { done <- d.Run(ctx) }()

	routeHas := func(want string) func() (bool, string) {
		return func() (bool, string) {
			out := bird("show", "route", "all")
			return strings.Contains(out, "10.0.0.100/32") && strings.Contains(out, want), out
		}
	}
	noRoute := func() (bool, string) {
		out := bird("show", "route")
		return !strings.Contains(out, "10.0.0.100/32"), out
	}
	waitFor(t, "the VIP announced with its community", 15*time.Second, routeHas("BGP.community: (65000,7)"))
	if out := bird("show", "route"); strings.Contains(out, "10.0.0.101/32") {
		t.Errorf("10.0.0.101 was announced before its check passed:\n%s", out)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The running probe passes at once; or the next one, an interval on.
	waitFor(t, "10.0.0.101 announced once its check passes", 10*time.Second, func() (bool, string) {
		out := bird("show", "route")
		return strings.Contains(out, "10.0.0.101/32"), out
	})
	if out, _ := exec.Command("ip", "-4", "addr", "show", "dev", "lo").CombinedOutput(); !strings.Contains(string(out), "10.0.0.100/32") {
		t.Errorf("the VIP is not on lo:\n%s", out)
	}
	vrrpMaster(t, bird)
	st := getStatus(t, sock)
	if st.BGP == nil || len(st.BGP.Peers) != 1 || st.BGP.Peers[0].State != "established" ||
		strings.Join(st.BGP.Announced, ",") != "10.0.0.100/32 community 65000:7,10.0.0.101/32,10.2.0.100/32,10.2.0.101/32" {
		t.Errorf("status BGP: %+v", st.BGP)
	}
	metrics := scrape(t, "127.0.0.1:9112")
	for _, want := range []string{`directord_bgp_session_established{peer="10.2.0.2"} 1`, `directord_bgp_announced{prefix="10.0.0.100/32"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	real.Close()
	took := waitFor(t, "withdrawn when quorum is lost", 5*time.Second, noRoute)
	waitFor(t, "the VRRP VIP of the service withdrawn with its quorum", 5*time.Second, func() (bool, string) {
		out := bird("show", "route")
		return !strings.Contains(out, "10.2.0.100/32"), out
	})
	if out := bird("show", "route"); !strings.Contains(out, "10.0.0.101/32") || !strings.Contains(out, "10.2.0.101/32") {
		t.Errorf("10.0.0.101, whose check is up, or 10.2.0.101, which no service uses, went too:\n%s", out)
	}
	t.Logf("real stopped → route gone at BIRD: %s (fall 2 × 200 ms + 150 ms timeout)", took)
	serve(t, "127.0.0.2:8080")
	waitFor(t, "announced again with quorum", 5*time.Second, routeHas("BGP.community: (65000,7)"))

	reloaded := time.Now()
	write("65000:8")
	if res := d.Reload(ctx); !res.OK {
		t.Fatalf("reload: %+v", res)
	}
	waitFor(t, "the new community after the reload", 5*time.Second, routeHas("BGP.community: (65000,8)"))
	if now := bird("show", "protocols", "directors"); !bgptest.KeptSince(now, reloaded) {
		t.Errorf("the reload reset the session (reload at %s):\n%s", reloaded.Format("15:04:05.000"), now)
	}

	stopped := time.Now()
	cancel()
	took = waitFor(t, "withdrawn at stop", 5*time.Second, noRoute)
	select {
	case <-done:
		t.Errorf("Run returned before drain_time (1s) had passed since the stop")
	default:
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("stop → route gone at BIRD: %s; stop → Run returned: %s", took, time.Since(stopped))
	if time.Since(stopped) < time.Second {
		t.Errorf("Run returned %s after the stop, before drain_time", time.Since(stopped))
	}
	if out, _ := exec.Command("ip", "-4", "addr", "show", "dev", "lo").CombinedOutput(); strings.Contains(string(out), "10.0.0.10") {
		t.Errorf("a VIP is still on lo after the stop:\n%s", out)
	}
}
