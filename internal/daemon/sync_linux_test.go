package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/lab"
	"directord/internal/vmtest"
)

const syncConfig = `
director {
  status_socket = %q
  metrics_listen = "127.0.0.1:9112"
}
vrrp_instance "web" {
  interface = "sy0"
  virtual_router_id = 51
  advert_interval = "100ms"
  virtual_ips = ["10.2.0.100/32"]
}
virtual_server "web" {
  address = "10.2.0.100"
  port = 80
  real_server "10.2.0.12" {}
}
ipvs {
  sync_daemon {
    interface = "sy0"
    %s
  }
  sysctl {
    sloppy_tcp = true
    expire_nodest_conn = true
    sync_threshold = [3, 10]
  }
}
`

// waitDaemons polls `ipvsadm -L --daemon`, the independent reader, until
// it matches every pattern and none of the absent ones.
func waitDaemons(t *testing.T, present, absent []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := exec.Command("ipvsadm", "-L", "--daemon").CombinedOutput()
		ok := true
		for _, p := range present {
			ok = ok && regexp.MustCompile(`(?m)`+p).Match(out)
		}
		for _, p := range absent {
			ok = ok && !regexp.MustCompile(`(?m)`+p).Match(out)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipvsadm -L --daemon after %s:\n%swant %q and not %q", timeout, out, present, absent)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runSync(t *testing.T, path string) (stop func() error) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	d := daemon.New(cfg, daemon.Options{Logger: log})
	go func() { done <- d.Run(ctx) }()
	return func() error { cancel(); return <-done }
}

// syncRig is a daemon's config file and status socket in the guest.
type syncRig struct {
	path, sock string
	sc         lab.StatusClient
}

const (
	masterDaemon = `^master sync daemon \(mcast=sy0, syncid=51,`
	backupDaemon = `^backup sync daemon \(mcast=sy0, syncid=51,`
)

// write renders the config with extra in the sync_daemon block.
func (r syncRig) write(t *testing.T, extra string) {
	t.Helper()
	if err := os.WriteFile(r.path, []byte(fmt.Sprintf(syncConfig, r.sock, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// In the guest kernel: the sync daemons follow the VRRP instance as
// keepalived's do (backup daemon while BACKUP, master daemon once
// MASTER), switch to both on a reload that drops vrrp_instance, apply
// the net.ipv4.vs settings, show in status and metrics, and are adopted
// by a restarted daemon without a restart of their own.
func TestSyncDaemonFollowsVRRP(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	if out, err := exec.Command("sh", "-c", "ip link add sy0 type veth peer name sy1 && ip addr add 10.2.0.1/24 dev sy0 && ip link set sy0 up && ip link set sy1 up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dir := t.TempDir()
	r := syncRig{path: filepath.Join(dir, "sync.hcl"), sock: filepath.Join(dir, "s.sock")}
	r.sc = lab.StatusClient{Socket: r.sock}
	r.write(t, `vrrp_instance = "web"`)
	stop := runSync(t, r.path)
	// Alone on its link, the instance is BACKUP for Master_Down_Interval
	// and then MASTER: the backup daemon first, then the master daemon.
	waitDaemons(t, []string{backupDaemon}, []string{masterDaemon}, 2*time.Second)
	waitDaemons(t, []string{masterDaemon}, []string{backupDaemon}, 3*time.Second)
	checkSysctlsAndMetrics(t)
	checkSyncReloads(t, r)
	// Stopping leaves them running, and a restart adopts them.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	waitDaemons(t, []string{masterDaemon, backupDaemon}, nil, time.Second)
	stop = runSync(t, r.path)
	defer stop()
	checkAdopted(t, r.sc)
}

func checkSysctlsAndMetrics(t *testing.T) {
	t.Helper()
	for name, want := range map[string]string{"sloppy_tcp": "1", "expire_nodest_conn": "1", "sync_threshold": "3\t10"} {
		b, err := os.ReadFile("/proc/sys/net/ipv4/vs/" + name)
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("net.ipv4.vs.%s = %q (%v), want %q", name, b, err, want)
		}
	}
	out, err := exec.Command("curl", "-sf", "http://127.0.0.1:9112/metrics").CombinedOutput()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	for _, want := range []string{
		`directord_ipvs_sync_daemon_running{interface="sy0",role="master",sync_id="51"} 1`,
		`directord_ipvs_sync_daemon_wanted{role="backup"} 0`,
		`directord_ipvs_sync_daemon_changes_total{change="start"} 2`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// checkSyncReloads: a reload without vrrp_instance runs both daemons (the
// master's stays, the backup's is added); one naming an interface that
// does not exist is refused and changes nothing.
func checkSyncReloads(t *testing.T, r syncRig) {
	t.Helper()
	// The sync id must stay the same: without an instance it defaults to
	// 0, not to the VRID.
	r.write(t, "sync_id = 51")
	if _, err := r.sc.Reload(); err != nil {
		t.Fatal(err)
	}
	waitDaemons(t, []string{masterDaemon, backupDaemon}, nil, 2*time.Second)
	bad := strings.Replace(fmt.Sprintf(syncConfig, r.sock, "sync_id = 51"), `interface = "sy0"
    `, `interface = "nosuch0"
    `, 1)
	if err := os.WriteFile(r.path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sc.Reload(); err == nil || !strings.Contains(err.Error(), `interface "nosuch0" does not exist`) {
		t.Errorf("reload with a missing sync interface: %v", err)
	}
	waitDaemons(t, []string{masterDaemon, backupDaemon}, nil, time.Second)
	r.write(t, "sync_id = 51")
}

// checkAdopted: the restarted daemon reports both daemons running and
// made no start and no stop.
func checkAdopted(t *testing.T, sc lab.StatusClient) {
	t.Helper()
	var doc daemon.StatusDoc
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for doc, err = sc.Status(); err != nil && time.Now().Before(deadline); doc, err = sc.Status() {
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if doc.IPVS == nil || doc.IPVS.Sync == nil {
		t.Fatalf("no sync in the status: %+v", doc.IPVS)
	}
	if sy := doc.IPVS.Sync; sy.Mode != "both" || sy.Starts != 0 || sy.Stops != 0 || len(sy.Running) != 2 {
		t.Errorf("after a restart: %+v, want both running and adopted (0 starts, 0 stops)", sy)
	}
}

// run refuses a sync interface that does not exist, before it touches
// anything, and says which.
func TestRunRefusesMissingSyncInterface(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	dir := t.TempDir()
	src := fmt.Sprintf(`
director { status_socket = %q }
virtual_server "web" {
  address = "10.2.0.100"
  port = 80
  real_server "10.2.0.12" {}
}
ipvs {
  sync_daemon { interface = "nosuch0" }
}`, filepath.Join(dir, "s.sock"))
	cfg, err := config.Parse("run.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = daemon.New(cfg, daemon.Options{}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `ipvs sync_daemon: interface "nosuch0" does not exist in this network namespace`) {
		t.Fatalf("Run = %v", err)
	}
	if out, _ := exec.Command("ipvsadm", "-Ln").CombinedOutput(); strings.Contains(string(out), "10.2.0.100") {
		t.Errorf("the refused run programmed IPVS:\n%s", out)
	}
}
