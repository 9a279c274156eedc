package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/vmtest"
)

// In the guest kernel: an exec check with dynamic_weight sets its real's
// IPVS weight from its exit status (keepalived's misc_dynamic): 2–255 is
// weight status−2, 0 the configured weight, 1 down (weight 0 under
// weight_zero). The other real, with a plain check, keeps its weight.
func TestDynamicWeightReachesIPVS(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	if out, err := exec.Command("sh", "-c", "ip link add dw0 type veth peer name dw1 && ip addr add 10.1.0.1/24 dev dw0 && ip link set dw0 up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dir := t.TempDir()
	code := filepath.Join(dir, "code")
	setCode := func(c int) {
		t.Helper()
		if err := os.WriteFile(code+".new", []byte(fmt.Sprint(c)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(code+".new", code); err != nil {
			t.Fatal(err)
		}
	}
	setCode(12)
	script := filepath.Join(dir, "check")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nread c < "+code+"\nexit \"$c\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
director { status_socket = %q }
vrrp_instance "dns" {
  interface = "dw0"
  virtual_router_id = 53
  advert_interval = "100ms"
  virtual_ips = ["10.0.0.53/32"]
}
virtual_server "dns" {
  address = "10.0.0.53"
  port = 53
  protocol = "udp"
  scheduler = "wrr"
  health_check "exec" {
    command = [%q]
    dynamic_weight = true
    interval = "1s"
    timeout = "800ms"
    rise = 1
    fall = 1
  }
  real_server "127.0.0.2" { weight = 3 }
  real_server "127.0.0.3" {
    weight = 5
    health_check "exec" {
      command = [%q]
      interval = "1s"
      timeout = "800ms"
      rise = 1
      fall = 1
      initial = "down"
    }
  }
}`, filepath.Join(dir, "s.sock"), script, "/bin/true")
	cfg, err := config.Parse("run.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	go func() { done <- daemon.New(cfg, daemon.Options{Logger: log}).Run(ctx) }()
	real2 := `^\s+-> 127\.0\.0\.2:53\s+Route\s+%d\s`
	// Exec checks in the one-CPU guest take a good part of a second.
	waitListing(t, fmt.Sprintf(real2, 10), 10*time.Second)
	waitListing(t, `^\s+-> 127\.0\.0\.3:53\s+Route\s+5\s`, 5*time.Second)
	for _, step := range []struct {
		code, weight int
		up           bool
	}{{0, 3, true}, {22, 20, true}, {1, 0, false}, {255, 253, true}, {2, 0, true}, {0, 3, true}} {
		setCode(step.code)
		waitListing(t, fmt.Sprintf(real2, step.weight), 5*time.Second)
		// Weight 0 is both exit 1 (down) and exit 2 (up at 0): the
		// status tells them apart.
		rs := realStatus(t, filepath.Join(dir, "s.sock"), "127.0.0.2:53")
		if rs.Up != step.up || rs.Last == nil || !strings.HasPrefix(rs.Last.Reason, fmt.Sprintf("exit status %d", step.code)) {
			t.Fatalf("exit %d: status %+v, want up %v", step.code, rs, step.up)
		}
		t.Logf("exit %d: weight %d in ipvsadm -Ln, up %v (%s)", step.code, step.weight, rs.Up, rs.Last.Reason)
	}
	waitListing(t, `^\s+-> 127\.0\.0\.3:53\s+Route\s+5\s`, 5*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// realStatus is the status document's entry for one real server.
func realStatus(t *testing.T, sock, real string) daemon.RealServerStatus {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://directord/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc daemon.StatusDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, rs := range doc.RealServers {
		if rs.RealServer == real {
			return rs
		}
	}
	t.Fatalf("no real server %s in the status", real)
	return daemon.RealServerStatus{}
}
