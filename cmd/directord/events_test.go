package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"directord/internal/daemon/daemontest"
)

// `directord events --kind reload` prints the daemon's reload events as
// JSON lines and nothing of the other kinds (the daemon is busy with
// health checks and VRRP adverts all the while).
func TestEventsCommandFilters(t *testing.T) {
	d := daemontest.StartIPv6(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- streamEvents(ctx, d.Socket, []string{"reload"}, pw); pw.Close() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Reload until the stream, which may not be open yet, shows one.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			postReload(t, d.Socket)
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended: %v", <-done)
			}
			var e struct {
				Kind string `json:"kind"`
				OK   *bool  `json:"ok"`
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil || e.Kind != "reload" || e.OK == nil {
				t.Fatalf("line %q: want a reload event", l)
			}
			cancel()
			if err := <-done; err != nil && ctx.Err() == nil {
				t.Errorf("stream: %v", err)
			}
			return
		case <-ctx.Done():
			t.Fatal("no reload event within 10 s")
		}
	}
}

func postReload(t *testing.T, socket string) {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	if resp, err := c.Post("http://directord/v1/reload", "", nil); err == nil {
		resp.Body.Close()
	}
}
