package daemon_test

// The daemon's lifecycle with VRRP, in network namespaces on this kernel:
// reloads that touch only what changed, a broken reload that changes
// nothing, and systemd's notify protocol.

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/testenv"
	"directord/vrrp"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func directord(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "tcpdump")
	buildOnce.Do(func() { binPath, buildErr = harness.BuildDirectord() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func instance(t *testing.T, d *harness.Director, name string) vrrp.InstanceStatus {
	t.Helper()
	for _, in := range d.Status(t).VRRP.Instances {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("%s has no instance %s", d.Name, name)
	return vrrp.InstanceStatus{}
}

func block(name string, vrid, prio int, vip string) string {
	return strings.NewReplacer("NAME", name, "VRID", strconv.Itoa(vrid), "PRIO", strconv.Itoa(prio), "VIP", vip).Replace(`vrrp_instance "NAME" {
  interface = "eth0"
  virtual_router_id = VRID
  priority = PRIO
  advert_interval = "100ms"
  virtual_ips = ["VIP/24"]
}
`)
}

// SIGHUP with a changed file: an unchanged instance keeps its state and
// sends no gratuitous ARP; a changed priority is applied in place (the peer
// preempts); a removed instance resigns; a new one starts.
func TestReloadTouchesOnlyWhatChanged(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB1.WriteConfig(t, block("web", 51, 100, "10.9.0.100")+block("db", 52, 100, "10.9.0.101")+block("api", 54, 100, "10.9.0.103"))
	p.LB2.WriteConfig(t, block("web", 51, 200, "10.9.0.100")+block("db", 52, 200, "10.9.0.101")+block("old", 53, 200, "10.9.0.102"))
	p.LB1.Start(t)
	p.LB2.Start(t)
	for _, n := range []string{"web", "db", "old"} {
		p.LB2.WaitState(t, n, "MASTER", 3*time.Second)
	}
	// A master that answered lb1's last adverts (a split brain healing
	// as lb2 took over) announces once more an advert interval later:
	// let that pass, so that what follows is the reload's doing.
	time.Sleep(300 * time.Millisecond)
	webBefore := instance(t, p.LB2, "web")

	p.LB2.WriteConfig(t, block("web", 51, 200, "10.9.0.100")+block("db", 52, 50, "10.9.0.101")+block("api", 54, 200, "10.9.0.103"))
	reloaded := time.Now()
	if err := p.LB2.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.LB1.WaitState(t, "db", "MASTER", 2*time.Second)
	p.LB2.WaitState(t, "db", "BACKUP", time.Second)
	p.LB2.WaitState(t, "api", "MASTER", 2*time.Second)
	if _, ok := p.Wire.WaitFor(reloaded, time.Second, func(f harness.Frame) bool {
		return f.VRRP && f.Src == harness.LB2Addr && f.VRID == 53 && f.Priority == 0
	}); !ok {
		t.Error("the removed instance did not resign with priority 0")
	}
	if p.LB2.HasAddr(t, "10.9.0.102") {
		t.Error("the removed instance's VIP is still up")
	}
	web := instance(t, p.LB2, "web")
	if web.State != "MASTER" || len(web.Transitions) != len(webBefore.Transitions) {
		t.Errorf("the unchanged instance moved: %+v", web.Transitions)
	}
	time.Sleep(300 * time.Millisecond)
	for _, f := range p.Wire.Frames() {
		if f.At.After(reloaded) && f.Gratuitous(harness.VIP) {
			t.Errorf("the unchanged instance re-announced its VIP: %s", f.Line)
		}
	}
	if db := instance(t, p.LB2, "db"); db.Priority != 50 || db.EffectivePriority != 50 {
		t.Errorf("db priority %d/%d, want 50", db.EffectivePriority, db.Priority)
	}
	doc := p.LB2.Status(t)
	if doc.LastReload == nil || !doc.LastReload.OK || doc.Reloads.Succeeded != 1 {
		t.Errorf("reload result %+v, counts %+v", doc.LastReload, doc.Reloads)
	}
}

// SIGHUP with a broken file: nothing changes, the failure shows.
func TestBrokenReloadChangesNothing(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB2.WriteConfig(t, block("web", 51, 200, "10.9.0.100"))
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	before := instance(t, p.LB2, "web")
	if err := os.WriteFile(p.LB2.Config, []byte(`vrrp_instance "web" { priority = 300 }`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.LB2.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for p.LB2.Status(t).Reloads.Failed != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the failed reload was not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	doc := p.LB2.Status(t)
	if doc.LastReload.OK || !strings.Contains(doc.LastReload.Diagnostics, p.LB2.Config+":1:") {
		t.Errorf("last reload %+v", doc.LastReload)
	}
	after := instance(t, p.LB2, "web")
	if after.State != "MASTER" || after.Priority != 200 || len(after.Transitions) != len(before.Transitions) {
		t.Errorf("the broken reload changed the instance: %+v", after)
	}
	if !p.LB2.HasAddr(t, harness.VIP.String()) {
		t.Error("the VIP went away")
	}
}

// systemd's notify protocol: READY once running, watchdog pings,
// RELOADING/READY around a reload, STOPPING on SIGTERM; and the stop
// takes well under a second.
func TestSystemdNotify(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var msgs []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, strings.ReplaceAll(string(buf[:n]), "\n", " "))
			mu.Unlock()
		}
	}()
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(msgs, " | ")
	}
	waitMsg := func(substr string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for !strings.Contains(got(), substr) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q from the daemon; got: %s", substr, got())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	p.LB2.Env = []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"}
	p.LB2.WriteConfig(t, block("web", 51, 200, "10.9.0.100"))
	p.LB2.Start(t)
	waitMsg("READY=1")
	waitMsg("WATCHDOG=1")
	if err := p.LB2.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitMsg("RELOADING=1 MONOTONIC_USEC=")
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	took := p.LB2.Stop(t, time.Second)
	waitMsg("STOPPING=1")
	t.Logf("notify messages: %s; SIGTERM to exit %s", got(), took.Round(time.Millisecond))
	if i, j := strings.Index(got(), "RELOADING=1"), strings.LastIndex(got(), "READY=1"); j < i {
		t.Errorf("no READY=1 after RELOADING=1: %s", got())
	}
}

// Prometheus metrics on metrics_listen, scraped from inside the director's
// namespace.
func TestMetrics(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB2.WriteConfig(t, block("web", 51, 200, "10.9.0.100"))
	cfg, _ := os.ReadFile(p.LB2.Config)
	withMetrics := strings.Replace(string(cfg), "director {", "director {\n  metrics_listen = \"127.0.0.1:9110\"", 1)
	if err := os.WriteFile(p.LB2.Config, []byte(withMetrics), 0o644); err != nil {
		t.Fatal(err)
	}
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	if err := p.LB2.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	out, err := p.LB2.NS().Run("curl", "-sf", "http://127.0.0.1:9110/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`directord_vrrp_state{instance="web",state="MASTER"} 1`,
		`directord_vrrp_state{instance="web",state="BACKUP"} 0`,
		`directord_vrrp_priority{instance="web"} 200`,
		`directord_vrrp_transitions_total{instance="web",state="MASTER"} 1`,
		`directord_vrrp_adverts_dropped_total{instance="web",reason="checksum"} 0`,
		`directord_reloads_total{result="success"} 1`,
		`# TYPE directord_vrrp_adverts_sent_total counter`,
		`go_goroutines `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// A reload that adds a VIP and a tracked interface to a master: the new
// VIP comes up and is announced, the old one never goes, no election.
func TestReloadChangesVIPsInPlace(t *testing.T) {
	p := harness.NewPair(t, directord(t))
	p.LB2.WriteConfig(t, block("web", 51, 200, "10.9.0.100"))
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	before := instance(t, p.LB2, "web")
	changed := strings.Replace(block("web", 51, 200, "10.9.0.100"), `virtual_ips = ["10.9.0.100/24"]`,
		`virtual_ips = ["10.9.0.100/24", "10.9.0.104/24"]
  track_interface "eth0" { weight = -10 }`, 1)
	p.LB2.WriteConfig(t, changed)
	reloaded := time.Now()
	if err := p.LB2.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Wire.WaitFor(reloaded, 2*time.Second, func(f harness.Frame) bool {
		return f.Gratuitous(netip.MustParseAddr("10.9.0.104"))
	}); !ok {
		t.Fatal("the added VIP was not announced")
	}
	if !p.LB2.HasAddr(t, "10.9.0.104") || !p.LB2.HasAddr(t, "10.9.0.100") {
		t.Error("VIPs after reload: want both .100 and .104")
	}
	after := instance(t, p.LB2, "web")
	if after.State != "MASTER" || len(after.Transitions) != len(before.Transitions) || len(after.VIPs) != 2 {
		t.Errorf("reload disturbed the instance: %+v", after)
	}
	for _, f := range p.Wire.Frames() {
		if f.At.After(reloaded) && f.Gratuitous(harness.VIP) {
			t.Errorf("the unchanged VIP was re-announced: %s", f.Line)
		}
	}
}
