package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"directord/internal/daemon/daemontest"
	"directord/vrrp/vrrptest"
)

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape is the body of GET /metrics on addr.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}

// The reload alert's metric: 1 from the start (the daemon runs the file
// it read), 0 once a reload failed, and the failure counted.
func TestMetricLastReloadSuccessful(t *testing.T) {
	addr := freeAddr(t)
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("10.0.0.1/24"))
	d := daemontest.Start(t, `director {
  metrics_listen = "`+addr+`"
}
vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  virtual_ips = ["10.0.0.100/32"]
}
`, host)
	if out := scrape(t, addr); !strings.Contains(out, "\ndirectord_config_last_reload_successful 1\n") {
		t.Fatalf("before any reload, metrics lack directord_config_last_reload_successful 1:\n%s", out)
	}
	// daemontest's configuration has no file on disk: the reload fails
	// and the daemon keeps running what it had.
	if res := d.Reload(context.Background()); res.OK {
		t.Fatalf("reload of a configuration with no file succeeded: %+v", res)
	}
	out := scrape(t, addr)
	for _, want := range []string{
		"\ndirectord_config_last_reload_successful 0\n",
		"\ndirectord_reloads_total{result=\"failure\"} 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("after a failed reload, metrics lack %q", strings.TrimSpace(want))
		}
	}
}
