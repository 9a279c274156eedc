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
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

func serve(t *testing.T, addr string) *http.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return srv
}

func vrrpState(t *testing.T, sock string) string {
	t.Helper()
	return getStatus(t, sock).VRRP.Instances[0].State
}

// getStatus is the running daemon's status document.
func getStatus(t *testing.T, sock string) daemon.StatusDoc {
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
	return doc
}

func waitListing(t *testing.T, pattern string, timeout time.Duration) {
	t.Helper()
	re := regexp.MustCompile(`(?m)` + pattern)
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command("ipvsadm", "-Ln").CombinedOutput()
		if err == nil && re.Match(out) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipvsadm -Ln never matched %s:\n%s", pattern, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// In the guest kernel: health checks feed the reconciler, and the table
// is programmed although the director's only VRRP instance is in Fault
// (its link has no carrier): a backup must be ready to forward at once.
func TestRunProgramsIPVSWhateverVRRP(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	if out, err := exec.Command("sh", "-c", "ip link add vr0 type veth peer name vr1 && ip addr add 10.1.0.1/24 dev vr0 && ip link set vr0 up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	serve(t, "127.0.0.2:8080")
	down := serve(t, "127.0.0.3:8080")
	dir := t.TempDir()
	src := fmt.Sprintf(`
director {
  status_socket = %q
  metrics_listen = "127.0.0.1:9111"
}
vrrp_instance "web" {
  interface = "vr0"
  virtual_router_id = 51
  advert_interval = "100ms"
  virtual_ips = ["10.0.0.100/32"]
}
virtual_server "web" {
  address = "10.0.0.100"
  port = 8080
  scheduler = "wrr"
  # Two failures in a row: a single 50 ms timeout in the one-CPU guest
  # flapped a healthy real just as the metrics were read (CI).
  health_check "http" {
    interval = "200ms"
    timeout = "150ms"
    rise = 1
    fall = 2
  }
  real_server "127.0.0.2" { weight = 2 }
  real_server "127.0.0.3" { weight = 4 }
}`, filepath.Join(dir, "s.sock"))
	cfg, err := config.Parse("run.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	go func() { done <- daemon.New(cfg, daemon.Options{Logger: log}).Run(ctx) }()
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+4\s`, 5*time.Second)
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+2\s`, time.Second)
	if st := vrrpState(t, filepath.Join(dir, "s.sock")); st != "FAULT" {
		t.Fatalf("VRRP instance is %s; the test wants it in FAULT", st)
	}
	down.Close()
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+0\s`, 2*time.Second)
	serve(t, "127.0.0.3:8080")
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+4\s`, 2*time.Second)
	wants := []string{
		`directord_ipvs_destination_weight{destination="127.0.0.3:8080",service="tcp 10.0.0.100:8080"} 4`,
		`directord_real_server_up{real_server="127.0.0.3:8080",virtual_server="web"} 1`,
		`directord_ipvs_quorum_lost{virtual_server="web"} 0`,
		`directord_healthcheck_results_total{result="down",type="http"}`,
		`directord_ipvs_writes_total `,
		`directord_healthcheck_duration_seconds_bucket{type="http",le=`,
	}
	// Scraped until all are there (a second at most): a scrape is a
	// moment, and the real came back only just now.
	var metrics []byte
	for deadline := time.Now().Add(time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if metrics, err = exec.Command("curl", "-sf", "http://127.0.0.1:9111/metrics").CombinedOutput(); err != nil {
			t.Fatalf("scrape: %v", err)
		}
		if !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(string(metrics), w) }) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Stopping leaves the table as it is.
	waitListing(t, `^TCP\s+10\.0\.0\.100:8080 wrr`, time.Second)
}
