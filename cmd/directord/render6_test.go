package main

// The operator commands on an IPv6 director: `status` (text and JSON)
// against a running daemon, and `check` against real servers on [::1].
// Endpoints are printed "[2001:db8::10]:80", never "2001:db8::10:80".

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/internal/testenv"
)

// unbracketed finds an IPv6 address run into its port, as
// "2001:db8::10:80" or "::1:8080" (both also read as addresses).
var unbracketed = regexp.MustCompile(`(^|[^\[0-9a-f:])(2001:db8::[0-9a-f]+|::1):[0-9]+`)

func TestStatusCommandIPv6(t *testing.T) {
	d := daemontest.StartIPv6(t, "")
	code, out, errOut := runCLI(t, "status", "--socket", d.Socket)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		// VRRP: the master is the link-local source, plain.
		`(?m)^web6\s+eth0\s+61\s+MASTER\s+150/150\s+fe80::1\s`,
		`(?m)^web6\s+\[2001:db8::10\]:80\s+http\s+up\s+1\s+-\s+1\s+0\s+[0-9.]+ms\s+status 200\s`,
		`(?m)^web6\s+\[2001:db8::11\]:80\s+tcp\s+DOWN\s+1\s+-\s+0\s+0\s+[0-9.]+ms\s+refused\s`,
		// The table as ipvsadm -Ln prints IPv6: right-aligned cells.
		`(?m)^\s*TCP  \[2001:db8::100\]:80\s+wrr\s`,
		`(?m)^\s*-> \[2001:db8::10\]:80\s+1\s`,
		`(?m)^\s*-> \[2001:db8::11\]:80\s+0\s`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status text does not match %s", re)
		}
	}
	if m := unbracketed.FindAllString(out, -1); m != nil {
		t.Errorf("status text runs addresses into ports: %q", m)
	}
	if t.Failed() {
		t.Logf("status:\n%s", out)
	}

	code, out, errOut = runCLI(t, "status", "--json", "--socket", d.Socket)
	var doc daemon.StatusDoc
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil {
		t.Fatalf("status --json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	var reals []string
	for _, rs := range doc.RealServers {
		reals = append(reals, rs.RealServer)
	}
	if want := []string{"[2001:db8::10]:80", "[2001:db8::11]:80"}; !slices.Equal(reals, want) {
		t.Errorf("status --json real servers %q, want %q", reals, want)
	}
	if len(doc.IPVS.Table) != 1 || doc.IPVS.Table[0].Name != "tcp [2001:db8::100]:80" {
		t.Errorf("status --json IPVS table %+v", doc.IPVS.Table)
	}
	if m := unbracketed.FindAllString(out, -1); m != nil {
		t.Errorf("status --json runs addresses into ports: %q", m)
	}
}

// checkConfig6 declares an IPv6 service whose reals are on [::1]: one
// answered by an HTTP server, one a closed port.
func checkConfig6(t *testing.T) (path string, up, closed netip.AddrPort) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	testenv.Require(t, err == nil, "no IPv6 loopback here: %v", err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	up, closed = netip.MustParseAddrPort(l.Addr().String()), netip.MustParseAddrPort(c.Addr().String())
	c.Close()
	src := fmt.Sprintf(`virtual_server "web6" {
  address = "2001:db8::100"
  port = 80
  forwarding = "nat"
  health_check "http" {
    interval = "100ms"
    timeout = "50ms"
    fall = 2
  }
  real_server "::1" { port = %d }
  real_server "::1" { port = %d }
}
`, up.Port(), closed.Port())
	path = filepath.Join(t.TempDir(), "c6.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, up, closed
}

func TestCheckOnceIPv6(t *testing.T) {
	path, up, closed := checkConfig6(t)
	code, out, errOut := runCLI(t, "check", "--once", "--config", path)
	if code != exitDown {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitDown, out, errOut)
	}
	for _, re := range []string{
		fmt.Sprintf(`(?m)^web6\s+\[::1\]:%d\s+http\s+up\s+[0-9.]+ms\s+status 200$`, up.Port()),
		fmt.Sprintf(`(?m)^web6\s+\[::1\]:%d\s+http\s+DOWN\s+[0-9.]+ms\s+refused$`, closed.Port()),
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("check --once does not match %s:\n%s", re, out)
		}
	}
	if m := unbracketed.FindAllString(out, -1); m != nil {
		t.Errorf("check --once runs addresses into ports: %q", m)
	}

	code, out, _ = runCLI(t, "check", "--once", "--json", "--config", path)
	var rows []checkRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != exitDown || len(rows) != 2 {
		t.Fatalf("exit %d, %v, rows %+v", code, err, rows)
	}
	if r := rows[0]; r.RealServer != up.String() || !r.Up || r.RealServer[0] != '[' {
		t.Errorf("row %+v, want %s up", r, up)
	}
	if r := rows[1]; r.RealServer != closed.String() || r.Up || r.Reason != "refused" {
		t.Errorf("row %+v, want %s down, refused", r, closed)
	}
}

// Without --once: the change lines name the real and the probe with
// brackets.
func TestCheckWatchIPv6(t *testing.T) {
	path, up, closed := checkConfig6(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var o, e bytes.Buffer
	if code := run(ctx, []string{"check", "--config", path}, &o, &e); code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	out := o.String()
	want := fmt.Sprintf("DOWN  web6/[::1]:%d  http [::1]:%d (refused)", closed.Port(), closed.Port())
	if !bytes.Contains(o.Bytes(), []byte(want)) {
		t.Errorf("no line %q:\n%s", want, out)
	}
	if bytes.Contains(o.Bytes(), []byte("DOWN  web6/"+up.String())) {
		t.Errorf("the live server went down:\n%s", out)
	}
	if m := unbracketed.FindAllString(out, -1); m != nil {
		t.Errorf("check runs addresses into ports: %q", m)
	}
}
