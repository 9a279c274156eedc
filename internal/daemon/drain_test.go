package daemon_test

// Runtime drain and weight through the status socket, on a whole daemon
// with an in-memory IPVS table (daemontest): what the kernel is asked
// for, what status says, what the state file keeps across a restart and
// a reload, maintenance_dir, and every refusal.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/lvs/lvstest"
	"directord/vrrp/vrrptest"
)

// drainConfig: web has 10.0.0.2 (weight 3, a tcp check to checkPort on
// 127.0.0.1), 10.0.0.3 (weight 2, no check) and, with nat, 10.0.0.4 on
// two ports. extra goes in the director block.
func drainConfig(checkPort int, extra string, with3 bool) string {
	r3 := ""
	if with3 {
		r3 = `real_server "10.0.0.3" { weight = 2 }`
	}
	return fmt.Sprintf(`director {
  router_id = "lb1"
  %s
}
virtual_server "web" {
  address = "192.0.2.10"
  port = 80
  forwarding = "nat"
  real_server "10.0.0.2" {
    weight = 3
    health_check "tcp" {
      connect_address = "127.0.0.1"
      connect_port = %d
      interval = "50ms"
      timeout = "40ms"
      rise = 1
      fall = 1
    }
  }
  %s
  real_server "10.0.0.4" { port = 8080 }
  real_server "10.0.0.4" { port = 8081 }
}
`, extra, checkPort, r3)
}

// drainLab is a running daemon on drainConfig, from a file.
type drainLab struct {
	*daemontest.Daemon
	path    string
	host    *vrrptest.Host
	port    int
	target  net.Listener // what 10.0.0.2's check connects to
	metrics string       // the metrics URL, when metrics_listen is set
}

// checkMetrics scrapes url and wants every line of want in it.
func checkMetrics(t *testing.T, url string, want []string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(string(b), w+"\n") {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// listen (again) on the check's port.
func (l *drainLab) listen(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", l.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go acceptAll(ln)
	l.target = ln
}

func startDrainLab(t *testing.T, extra string) *drainLab {
	t.Helper()
	lab := newDrainLab(t, extra, true, daemontest.Setup{})
	lab.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1")
	return lab
}

// newDrainLab runs drainConfig (with 10.0.0.3 or not) from a file, its
// checks answered by a listener of the test, on setup's socket and table.
func newDrainLab(t *testing.T, extra string, with3 bool, setup daemontest.Setup) *drainLab {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go acceptAll(l)
	port := l.Addr().(*net.TCPAddr).Port
	path := filepath.Join(t.TempDir(), "d.hcl")
	if err := os.WriteFile(path, []byte(drainConfig(port, extra, with3)), 0o600); err != nil {
		t.Fatal(err)
	}
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	d := daemontest.StartFile(t, path, setup, host)
	return &drainLab{Daemon: d, path: path, host: host, port: port, target: l}
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// weights is the kernel's table for web: "addr:port=weight", sorted.
func weights(k *lvstest.Kernel) string {
	var out []string
	for _, e := range k.Table() {
		for _, d := range e.Dests {
			out = append(out, fmt.Sprintf("%s=%d", d.DestKey, d.Weight))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (l *drainLab) waitWeights(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for weights(l.Kernel) != want {
		if time.Now().After(deadline) {
			t.Fatalf("kernel table %q, want %q", weights(l.Kernel), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// post sends body to path on the status socket and returns the code and
// the body.
func post(t *testing.T, sock, path, body string) (int, string) {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Post("http://directord"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (l *drainLab) change(t *testing.T, path, body string) daemon.RealServerStatus {
	t.Helper()
	code, b := post(t, l.Socket, path, body)
	if code != http.StatusOK {
		t.Fatalf("POST %s %s = %d %s", path, body, code, b)
	}
	var st daemon.RealServerStatus
	if err := json.Unmarshal([]byte(b), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (l *drainLab) real(t *testing.T, rs string) daemon.RealServerStatus {
	t.Helper()
	doc := l.Wait(t, time.Second, func(daemon.StatusDoc) bool { return true })
	for _, r := range doc.RealServers {
		if r.RealServer == rs {
			return r
		}
	}
	t.Fatalf("status has no real %s", rs)
	return daemon.RealServerStatus{}
}

func summary(st daemon.RealServerStatus) string {
	rw := "-"
	if st.RuntimeWeight != nil {
		rw = fmt.Sprint(*st.RuntimeWeight)
	}
	return fmt.Sprintf("weight %d runtime %s drained %v maintenance %v effective %d", st.Weight, rw, st.Drained, st.Maintenance, st.EffectiveWeight)
}

// Drain puts weight 0 in the kernel, weight N writes N (kept under a
// drain), undrain gives back the override, and removing the override
// the configured weight; each answer and the status say so.
func TestDrainUndrainWeight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l := startDrainLab(t, fmt.Sprintf("metrics_listen = %q", addr))
	l.metrics = "http://" + addr + "/metrics"
	st := l.change(t, "/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.3"}`)
	if got, want := summary(st), "weight 2 runtime - drained true maintenance false effective 0"; got != want {
		t.Errorf("drain answered %q, want %q", got, want)
	}
	checkMetrics(t, l.metrics, []string{
		`directord_real_server_weight{real_server="10.0.0.3:80",source="configured",virtual_server="web"} 2`,
		`directord_real_server_weight{real_server="10.0.0.3:80",source="effective",virtual_server="web"} 0`,
		`directord_real_server_drained{by="operator",real_server="10.0.0.3:80",virtual_server="web"} 1`,
		`directord_real_server_drained{by="maintenance",real_server="10.0.0.3:80",virtual_server="web"} 0`,
	})
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=0 10.0.0.4:8080=1 10.0.0.4:8081=1")
	if st.InTable == nil || st.InTable.Weight != 0 {
		t.Errorf("drain answered before the kernel had weight 0: %+v", st.InTable)
	}
	st = l.change(t, "/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.3:80","weight":7}`)
	if got, want := summary(st), "weight 2 runtime 7 drained true maintenance false effective 0"; got != want {
		t.Errorf("weight under a drain answered %q, want %q", got, want)
	}
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=0 10.0.0.4:8080=1 10.0.0.4:8081=1")
	l.change(t, "/v1/undrain", `{"virtual_server":"web","real_server":"10.0.0.3"}`)
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=7 10.0.0.4:8080=1 10.0.0.4:8081=1")
	if got, want := summary(l.real(t, "10.0.0.3:80")), "weight 2 runtime 7 drained false maintenance false effective 7"; got != want {
		t.Errorf("status after undrain %q, want %q", got, want)
	}
	checkMetrics(t, l.metrics, []string{
		`directord_real_server_weight{real_server="10.0.0.3:80",source="configured",virtual_server="web"} 2`,
		`directord_real_server_weight{real_server="10.0.0.3:80",source="runtime",virtual_server="web"} 7`,
		`directord_real_server_weight{real_server="10.0.0.3:80",source="effective",virtual_server="web"} 7`,
		`directord_real_server_drained{by="operator",real_server="10.0.0.3:80",virtual_server="web"} 0`,
	})
	l.change(t, "/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.4:8081","weight":65535}`)
	l.change(t, "/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.3","weight":null}`)
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=65535")
	if got, want := summary(l.real(t, "10.0.0.3:80")), "weight 2 runtime - drained false maintenance false effective 2"; got != want {
		t.Errorf("status after the override's removal %q, want %q", got, want)
	}
}

// Every refusal is a 4xx with a message naming the problem, and changes
// neither the kernel nor the state file; a change while a reload is in
// flight is refused, not queued.
func TestChangeRefused(t *testing.T) {
	l := startDrainLab(t, "")
	const all = "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1"
	for _, c := range []struct{ path, body, want string }{
		{"/v1/drain", `{"virtual_server":"api","real_server":"10.0.0.3"}`, `404 no virtual_server "api"`},
		{"/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.9"}`, `404 virtual_server "web" has no real_server 10.0.0.9 (it has 10.0.0.2:80, 10.0.0.3:80, 10.0.0.4:8080, 10.0.0.4:8081)`},
		{"/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.3:81"}`, `404 virtual_server "web" has no real_server 10.0.0.3:81`},
		{"/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.4"}`, `400 virtual_server "web" has 10.0.0.4 on several ports: name one as address:port`},
		{"/v1/drain", `{"virtual_server":"web","real_server":"web1"}`, `400 "web1" is not an address or address:port`},
		{"/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.3","weight":65536}`, `400 weight must be between 0 and 65535, not 65536`},
		{"/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.3","weight":-1}`, `400 weight must be between 0 and 65535, not -1`},
		{"/v1/drain", `{"virtual":"web"}`, `400 bad request body: json: unknown field "virtual"`},
	} {
		code, b := post(t, l.Socket, c.path, c.body)
		var e daemon.ErrorDoc
		_ = json.Unmarshal([]byte(b), &e)
		if got := fmt.Sprintf("%d %s", code, e.Error); !strings.HasPrefix(got, c.want) {
			t.Errorf("POST %s %s = %q, want %q", c.path, c.body, got, c.want)
		}
	}
	if got := weights(l.Kernel); got != all {
		t.Errorf("refused changes changed the table: %q", got)
	}
	if _, err := os.Stat(daemon.StatePath(l.Socket)); !os.IsNotExist(err) {
		t.Errorf("refused changes wrote the state file: %v", err)
	}

	// A reload held in its IPVS write: the change is refused at once.
	if err := os.WriteFile(l.path, bytes.Replace([]byte(drainConfig(l.port, "", true)), []byte("weight = 2"), []byte("weight = 5"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}, 1), make(chan struct{})
	l.Kernel.SetGate(func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	})
	done := make(chan daemon.ReloadResult, 1)
	go func() { done <- l.Reload(context.Background()) }()
	<-entered
	code, b := post(t, l.Socket, "/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.2"}`)
	l.Kernel.SetGate(nil)
	close(release)
	if !strings.Contains(b, "a reload is in flight; try again once it is done") || code != http.StatusConflict {
		t.Errorf("drain during a reload = %d %s, want 409 and why", code, b)
	}
	if res := <-done; !res.OK {
		t.Fatalf("reload: %+v", res)
	}
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=5 10.0.0.4:8080=1 10.0.0.4:8081=1")
}

// A drained real whose check fails stays drained when it recovers: the
// drain wins over health, and down still means down.
func TestDrainWinsOverHealth(t *testing.T) {
	l := startDrainLab(t, "")
	l.change(t, "/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.2"}`)
	l.waitWeights(t, "10.0.0.2:80=0 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1")
	// The check's target goes away: down.
	l.target.Close()
	l.Wait(t, 5*time.Second, func(doc daemon.StatusDoc) bool { return !doc.RealServers[0].Up })
	if got, want := summary(l.real(t, "10.0.0.2:80")), "weight 3 runtime - drained true maintenance false effective 0"; got != want {
		t.Errorf("drained and down: %q, want %q", got, want)
	}
	// It comes back: up, still drained.
	l.listen(t)
	l.Wait(t, 5*time.Second, func(doc daemon.StatusDoc) bool { return doc.RealServers[0].Up })
	time.Sleep(200 * time.Millisecond) // passes after the recovery have run
	if got := weights(l.Kernel); got != "10.0.0.2:80=0 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1" {
		t.Errorf("a drained real that recovered got weight: %q", got)
	}
	l.change(t, "/v1/undrain", `{"virtual_server":"web","real_server":"10.0.0.2"}`)
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1")
}

// The state file keeps drains and overrides through a restart (the new
// daemon adopts the table with them and writes nothing) and a reload;
// a reload that removes a real drops its entry.
func TestRuntimeStateSurvivesRestartAndReload(t *testing.T) {
	l := startDrainLab(t, "")
	l.change(t, "/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.3"}`)
	l.change(t, "/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.4:8080","weight":9}`)
	const changed = "10.0.0.2:80=3 10.0.0.3:80=0 10.0.0.4:8080=9 10.0.0.4:8081=1"
	l.waitWeights(t, changed)
	l.Stop(t)

	writes := len(l.Kernel.Ops())
	d := daemontest.StartFile(t, l.path, daemontest.Setup{Socket: l.Socket, Kernel: l.Kernel}, l.host)
	l2 := &drainLab{Daemon: d, path: l.path, host: l.host, port: l.port}
	l2.Wait(t, 5*time.Second, func(doc daemon.StatusDoc) bool { return doc.RealServers[0].Checks > 0 })
	if got := weights(l2.Kernel); got != changed {
		t.Errorf("after a restart the table is %q, want %q", got, changed)
	}
	if n := len(l2.Kernel.Ops()) - writes; n != 0 {
		t.Errorf("the restarted daemon wrote %d ops, want none (it adopts the drained table)", n)
	}
	if got, want := summary(l2.real(t, "10.0.0.3:80")), "weight 2 runtime - drained true maintenance false effective 0"; got != want {
		t.Errorf("after a restart 10.0.0.3 is %q, want %q", got, want)
	}

	// A reload that keeps every real keeps every override.
	if res := l2.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %+v", res)
	}
	l2.waitWeights(t, changed)
	// One without 10.0.0.3 drops its drain; 10.0.0.4:8080 keeps its weight.
	if err := os.WriteFile(l.path, []byte(drainConfig(l.port, "", false)), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := l2.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %+v", res)
	}
	l2.waitWeights(t, "10.0.0.2:80=3 10.0.0.4:8080=9 10.0.0.4:8081=1")
	b, err := os.ReadFile(daemon.StatePath(l.Socket))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Reals map[string]daemon.Override `json:"reals"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Reals) != 1 || f.Reals["web/10.0.0.4:8080"].Weight == nil || *f.Reals["web/10.0.0.4:8080"].Weight != 9 {
		t.Errorf("state file after the reload:\n%s\nwant only web/10.0.0.4:8080 at weight 9", b)
	}
	// 10.0.0.3 comes back by another reload: not drained any more.
	if err := os.WriteFile(l.path, []byte(drainConfig(l.port, "", true)), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := l2.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %+v", res)
	}
	l2.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=9 10.0.0.4:8081=1")
}

// A file named after a real in maintenance_dir drains it while it is
// there: the address drains it on every port, address:port on one.
func TestMaintenanceDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "maint")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l := startDrainLab(t, fmt.Sprintf("maintenance_dir = %q", dir))
	touch := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	touch("10.0.0.3")
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=0 10.0.0.4:8080=1 10.0.0.4:8081=1")
	if got, want := summary(l.real(t, "10.0.0.3:80")), "weight 2 runtime - drained false maintenance true effective 0"; got != want {
		t.Errorf("in maintenance: %q, want %q", got, want)
	}
	touch("10.0.0.4:8081")
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=0 10.0.0.4:8080=1 10.0.0.4:8081=0")
	// An undrain does not end a maintenance file's drain.
	l.change(t, "/v1/undrain", `{"virtual_server":"web","real_server":"10.0.0.3"}`)
	os.Remove(filepath.Join(dir, "10.0.0.4:8081"))
	touch("10.0.0.4")
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=0 10.0.0.4:8080=0 10.0.0.4:8081=0")
	for _, n := range []string{"10.0.0.3", "10.0.0.4"} {
		os.Remove(filepath.Join(dir, n))
	}
	l.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1")
	// Made writable by others, it is not trusted: the drains it made
	// stay (none now), and a file put there drains nothing.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	touch("10.0.0.2")
	time.Sleep(2500 * time.Millisecond)
	if got := weights(l.Kernel); got != "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1" {
		t.Errorf("a world-writable maintenance_dir drained: %q", got)
	}
}

// An exec check's dynamic weight (keepalived's misc_dynamic) gives way
// to a drain and to an operator's weight, and is back once both are gone.
func TestDrainWinsOverDynamicWeight(t *testing.T) {
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	d := daemontest.Start(t, `virtual_server "web" {
  address = "192.0.2.10"
  port = 80
  real_server "10.0.0.2" {
    weight = 3
    health_check "exec" {
      command = ["/bin/sh", "-c", "exit 7"]
      dynamic_weight = true
      interval = "100ms"
      timeout = "90ms"
      rise = 1
      fall = 1
    }
  }
}
`, host)
	l := &drainLab{Daemon: d}
	l.waitWeights(t, "10.0.0.2:80=5") // exit 7: weight 7 − 2
	if got, want := summary(l.real(t, "10.0.0.2:80")), "weight 3 runtime - drained false maintenance false effective 5"; got != want {
		t.Errorf("dynamic weight in status: %q, want %q", got, want)
	}
	l.change(t, "/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.2"}`)
	l.waitWeights(t, "10.0.0.2:80=0")
	l.change(t, "/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.2","weight":9}`)
	time.Sleep(200 * time.Millisecond) // checks keep coming every 100 ms
	l.waitWeights(t, "10.0.0.2:80=0")
	l.change(t, "/v1/undrain", `{"virtual_server":"web","real_server":"10.0.0.2"}`)
	l.waitWeights(t, "10.0.0.2:80=9")
	l.change(t, "/v1/weight", `{"virtual_server":"web","real_server":"10.0.0.2","weight":null}`)
	l.waitWeights(t, "10.0.0.2:80=5")
}

// A reload that adds a real whose maintenance file is already there
// writes it drained at once: maintenance_dir is read with the reload,
// not at the next poll, which left the new real at full weight for up to
// a second.
func TestReloadReadsMaintenanceDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "maint")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("maintenance_dir = %q", dir)
	lab := newDrainLab(t, extra, false, daemontest.Setup{})
	lab.waitWeights(t, "10.0.0.2:80=3 10.0.0.4:8080=1 10.0.0.4:8081=1")
	if err := os.WriteFile(filepath.Join(dir, "10.0.0.3"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lab.path, []byte(drainConfig(lab.port, extra, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(lab.Kernel.Ops())
	if res := lab.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %+v", res)
	}
	lab.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=0 10.0.0.4:8080=1 10.0.0.4:8081=1")
	for _, op := range lab.Kernel.Ops()[before:] {
		if op.Dest.Addr == netip.MustParseAddr("10.0.0.3") && op.Dest.Weight != 0 {
			t.Errorf("the reload wrote %s %s at weight %d before its maintenance file drained it", op.Kind, op.Dest.DestKey, op.Dest.Weight)
		}
	}
}

// A state file the daemon cannot read is kept aside, not overwritten by
// the next change: it may hold drains an operator must put back.
func TestUnreadableStateIsKept(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "dd-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "d.sock")
	garbage := []byte(`{"reals": {"web/10.0.0.3:80": {"drained": tru`)
	if err := os.WriteFile(daemon.StatePath(sock), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	lab := newDrainLab(t, "", true, daemontest.Setup{Socket: sock})
	lab.waitWeights(t, "10.0.0.2:80=3 10.0.0.3:80=2 10.0.0.4:8080=1 10.0.0.4:8081=1")
	lab.change(t, "/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.2"}`)
	kept, _ := filepath.Glob(daemon.StatePath(sock) + ".bad-*")
	if len(kept) != 1 {
		t.Fatalf("kept aside: %v, want one file", kept)
	}
	if b, err := os.ReadFile(kept[0]); err != nil || string(b) != string(garbage) {
		t.Errorf("the kept file holds %q (%v), want the unreadable state as it was", b, err)
	}
}
