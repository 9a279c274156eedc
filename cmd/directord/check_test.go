package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkConfig declares two services sharing one real (identical checks:
// one probe) plus a real whose port is closed.
func checkConfig(t *testing.T, up, closed string) string {
	t.Helper()
	upHost, upPort, _ := net.SplitHostPort(up)
	_, closedPort, _ := net.SplitHostPort(closed)
	src := fmt.Sprintf(`
virtual_server "web" {
  address = "10.0.0.100"
  port = %[2]s
  forwarding = "nat"
  health_check "http" {
    interval = "100ms"
    timeout = "50ms"
    fall = 2
  }
  real_server %[1]q {}
  real_server %[1]q { port = %[3]s }
}
virtual_server "web-alt" {
  address = "10.0.0.101"
  port = %[2]s
  health_check "http" {
    interval = "100ms"
    timeout = "50ms"
    fall = 2
  }
  real_server %[1]q {}
}
`, upHost, upPort, closedPort)
	path := filepath.Join(t.TempDir(), "c.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func servers(t *testing.T) (up, closed string) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed = l.Addr().String()
	l.Close()
	return srv.Listener.Addr().String(), closed
}

func TestCheckOnce(t *testing.T) {
	up, closed := servers(t)
	path := checkConfig(t, up, closed)
	code, out, errOut := runCLI(t, "check", "--once", "--config", path)
	if code != exitDown {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitDown, out, errOut)
	}
	for _, want := range []string{"VIRTUAL SERVER", "web             " + up, "up", "DOWN", "refused", "web-alt"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "check", "--once", "--json", "--config", path)
	var rows []checkRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != exitDown || len(rows) != 3 {
		t.Fatalf("exit %d, %v, rows %+v", code, err, rows)
	}
	if !rows[0].Up || rows[1].Up || rows[1].Reason != "refused" || !rows[2].Up {
		t.Errorf("rows %+v", rows)
	}
}

func TestCheckOnceAllUp(t *testing.T) {
	up, _ := servers(t)
	host, port, _ := net.SplitHostPort(up)
	path := filepath.Join(t.TempDir(), "c.hcl")
	src := fmt.Sprintf("virtual_server \"s\" {\n  address = \"10.0.0.1\"\n  port = %s\n  health_check \"tcp\" {}\n  real_server %q {}\n}\n", port, host)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "check", "--once", "--config", path); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// Without --once: identical checks share a probe, and a fall is printed
// for every real that watches it.
func TestCheckWatch(t *testing.T) {
	up, closed := servers(t)
	path := checkConfig(t, up, closed)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	if code := run(ctx, []string{"check", "--config", path}, &o, &e); code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	out := o.String()
	if !strings.Contains(out, "watching 3 real servers with 2 probes") {
		t.Errorf("header: %s", out)
	}
	if !strings.Contains(out, "DOWN  web/"+closed+"  http "+closed+" (refused)") {
		t.Errorf("no DOWN line for the closed port:\n%s", out)
	}
	if strings.Contains(out, "DOWN  web/"+up) {
		t.Errorf("the live server went down:\n%s", out)
	}
}

// A real with several checks: the row names them all, and the one that
// fails decides (the real is down).
func TestCheckOnceSeveralChecks(t *testing.T) {
	up, closed := servers(t)
	host, port, _ := net.SplitHostPort(up)
	_, closedPort, _ := net.SplitHostPort(closed)
	path := filepath.Join(t.TempDir(), "c.hcl")
	src := fmt.Sprintf(`virtual_server "s" {
  address = "10.0.0.1"
  port = %s
  real_server %q {
    health_check "tcp" {}
    health_check "tcp" {
      connect_port = %s
    }
  }
}
`, port, host, closedPort)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "check", "--once", "--json", "--config", path)
	var rows []checkRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != exitDown || len(rows) != 1 {
		t.Fatalf("exit %d, %v, rows %+v\n%s", code, err, rows, errOut)
	}
	if r := rows[0]; r.Check != "tcp+tcp" || r.Up || r.Reason != "refused" {
		t.Errorf("row %+v: want tcp+tcp, down, refused", r)
	}
	_, out, _ = runCLI(t, "validate", "--config", path)
	if !strings.Contains(out, "2 health checks (2 tcp)") {
		t.Errorf("validate does not count both checks:\n%s", out)
	}
}
