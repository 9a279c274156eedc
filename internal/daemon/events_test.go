package daemon_test

// What `directord events` streams, from a running daemon (on fakes of
// VRRP and IPVS, with a real health check): the instance's takeover, a
// real server's check failing, the IPVS write that follows, the quorum
// lost, and a reload.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"directord/internal/daemon/daemontest"
	"directord/internal/events"
	"directord/vrrp/vrrptest"
)

func TestEventStream(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := netip.MustParseAddrPort(target.Addr().String()).Port()
	src := fmt.Sprintf(`vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  priority = 150
  advert_interval = "100ms"
  virtual_ips = ["10.0.0.100/24"]
}
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wrr"
  real_server "10.0.0.10" {
    health_check "tcp" {
      connect_address = "127.0.0.1"
      connect_port = %d
      interval = "50ms"
      timeout = "40ms"
      rise = 1
      fall = 1
    }
  }
}
`, port)
	d := daemontest.Start(t, src, vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("10.0.0.1/24")))
	stream := openStream(t, d.Socket)

	next := func(what string, match func(events.Event) bool) events.Event {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e, ok := <-stream:
				if !ok {
					t.Fatalf("the stream ended before %s", what)
				}
				if match(e) {
					return e
				}
			case <-deadline:
				t.Fatalf("no %s event within 5 s", what)
			}
		}
	}
	next("MASTER", func(e events.Event) bool {
		return e.Kind == events.KindVRRP && e.Instance == "web" && e.State == "MASTER" && e.Reason == "master_down"
	})
	target.Close()
	// The health flip, then in one reconciler pass the quorum (reported
	// before the pass writes) and the write.
	h := next("health down", func(e events.Event) bool { return e.Kind == events.KindHealth })
	if h.VirtualServer != "web" || h.RealServer != "10.0.0.10:80" || h.Up == nil || *h.Up || h.Reason != "refused" || h.Check == "" {
		t.Errorf("health event %+v: want web 10.0.0.10:80 down, refused, naming its check", h)
	}
	var q, w *events.Event
	for q == nil || w == nil {
		e := next("quorum and IPVS write", func(e events.Event) bool {
			return e.Kind == events.KindQuorum || (e.Kind == events.KindIPVS && e.Reason == "health")
		})
		if e.Kind == events.KindQuorum {
			q = &e
		} else {
			w = &e
		}
	}
	if w.Op != "update-dest" || w.RealServer != "10.0.0.10:80" || w.Weight == nil || *w.Weight != 0 || w.VirtualServer != "tcp 10.0.0.100:80" {
		t.Errorf("IPVS event %+v: want update-dest of 10.0.0.10:80 to weight 0", w)
	}
	if q.VirtualServer != "web" || q.Up == nil || *q.Up {
		t.Errorf("quorum event %+v: want web lost", q)
	}
	// An operator's drain: its event, then the write it makes.
	if code, body := post(t, d.Socket, "/v1/drain", `{"virtual_server":"web","real_server":"10.0.0.10"}`); code != http.StatusOK {
		t.Fatalf("drain: %d %s", code, body)
	}
	dr := next("drain", func(e events.Event) bool { return e.Kind == events.KindDrain })
	if dr.Op != "drain" || dr.VirtualServer != "web" || dr.RealServer != "10.0.0.10:80" || dr.Weight == nil || *dr.Weight != 0 {
		t.Errorf("drain event %+v: want drain of web 10.0.0.10:80 to weight 0", dr)
	}
	// The test's configuration has no file to read again: the reload
	// fails, and the event says so.
	_ = reload(d.Socket)
	r := next("reload", func(e events.Event) bool { return e.Kind == events.KindReload })
	if r.OK == nil || *r.OK || r.Error == "" || r.Time.IsZero() {
		t.Errorf("reload event %+v: want failed, with the error", r)
	}
}

// openStream reads GET /v1/events into a channel until the test ends.
func openStream(t *testing.T, socket string) <-chan events.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://directord/v1/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("GET /v1/events: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := make(chan events.Event, 1024)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e events.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("not a JSON line: %q", sc.Bytes())
				return
			}
			out <- e
		}
	}()
	return out
}

func reload(socket string) error {
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	resp, err := c.Post("http://directord/v1/reload", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload: %s", resp.Status)
	}
	return nil
}

// keepalived's real_server notify_up/notify_down and virtual_server
// quorum_up/quorum_down, run without a shell when the check flips and
// when quorum goes and comes back, each reported as a hook event.
func TestRealServerAndQuorumHooks(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := target.Addr().String()
	serve := func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(target)
	dir := t.TempDir()
	touch := func(name string) string { return fmt.Sprintf(`["/usr/bin/touch", %q]`, filepath.Join(dir, name)) }
	src := fmt.Sprintf(`virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  quorum_up = %s
  quorum_down = %s
  real_server "10.0.0.10" {
    notify_up = %s
    notify_down = %s
    health_check "tcp" {
      connect_address = "127.0.0.1"
      connect_port = %d
      interval = "50ms"
      timeout = "40ms"
      rise = 1
      fall = 1
    }
  }
}
`, touch("quorum-up"), touch("quorum-down"), touch("up"), touch("down"), netip.MustParseAddrPort(addr).Port())
	d := daemontest.Start(t, src, vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("10.0.0.1/24")))
	stream := openStream(t, d.Socket)
	hook := func(name string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e := <-stream:
				if e.Kind != events.KindHook || e.Op != name {
					continue
				}
				if e.OK == nil || !*e.OK || e.VirtualServer != "web" {
					t.Errorf("%s event %+v: want ok, for web", name, e)
				}
				if _, err := os.Stat(filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(name, "notify_"), "_", "-"))); err != nil {
					t.Errorf("%s ran but its file is missing: %v", name, err)
				}
				return
			case <-deadline:
				t.Fatalf("no %s hook within 5 s", name)
			}
		}
	}
	target.Close()
	hook("notify_down")
	hook("quorum_down")
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	go serve(again)
	hook("notify_up")
	hook("quorum_up")
}
