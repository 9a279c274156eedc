package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/vmtest"
)

// drainGuestConfig: web, 10.0.0.100:8080, reals 127.0.0.2 (weight w2) and
// 127.0.0.3 (weight 4), maintenance_dir maint.
func drainGuestConfig(sock, maint string, w2 int) string {
	return fmt.Sprintf(`director {
  status_socket = %q
  maintenance_dir = %q
}
virtual_server "web" {
  address = "10.0.0.100"
  port = 8080
  scheduler = "wrr"
  real_server "127.0.0.2" { weight = %d }
  real_server "127.0.0.3" { weight = 4 }
}
`, sock, maint, w2)
}

// runGuestDaemon runs the configuration file at path until the returned
// stop is called (or the test ends) and returns once its socket answers.
func runGuestDaemon(t *testing.T, path string) (*daemon.Daemon, func()) {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	d := daemon.New(cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := d.Status(ctx); err == nil {
			if _, err := os.Stat(cfg.Director.StatusSocket); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not start within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d, stop
}

// On the guest's kernel, cross-checked with ipvsadm -Ln: drain writes
// weight 0, weight N writes N, undrain gives the weight back, the state
// survives a restart (which adopts the table as it is) and a reload, and
// a maintenance_dir file drains its real while it is there.
func TestDrainInTheKernel(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	dir := t.TempDir()
	sock, maint, path := filepath.Join(dir, "s.sock"), filepath.Join(dir, "maint"), filepath.Join(dir, "d.hcl")
	if err := os.Mkdir(maint, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(drainGuestConfig(sock, maint, 2)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stop := runGuestDaemon(t, path)
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+2\s`, 5*time.Second)
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+4\s`, time.Second)

	must := func(path, body string) {
		t.Helper()
		if code, b := post(t, sock, path, body); code != 200 {
			t.Fatalf("POST %s %s = %d %s", path, body, code, b)
		}
	}
	// The answer comes after the write: no waiting.
	must("/v1/drain", `{"virtual_server":"web","real_server":"127.0.0.3"}`)
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+0\s`, 0)
	must("/v1/weight", `{"virtual_server":"web","real_server":"127.0.0.2:8080","weight":7}`)
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+7\s`, 0)

	// A restart: the table is left as it is, and the new daemon finds it right.
	stop()
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+0\s`, 0)
	d, _ := runGuestDaemon(t, path)
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+0\s`, 0)
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+7\s`, 0)
	if st, err := d.Status(context.Background()); err != nil || st.IPVS == nil || st.IPVS.Reconciler.Writes != 0 {
		t.Errorf("the restarted daemon wrote to the kernel (%v): %+v", err, st.IPVS)
	}

	// A reload that changes 127.0.0.2's configured weight keeps both
	// overrides; undrain and reset then give the configured weights.
	if err := os.WriteFile(path, []byte(drainGuestConfig(sock, maint, 5)), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := d.Reload(context.Background()); !res.OK {
		t.Fatalf("reload: %+v", res)
	}
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+0\s`, 0)
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+7\s`, 0)
	must("/v1/undrain", `{"virtual_server":"web","real_server":"127.0.0.3"}`)
	waitListing(t, `^\s+-> 127\.0\.0\.3:8080\s+Route\s+4\s`, 0)
	must("/v1/weight", `{"virtual_server":"web","real_server":"127.0.0.2","weight":null}`)
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+5\s`, 0)

	// maintenance_dir, polled every second.
	if err := os.WriteFile(filepath.Join(maint, "127.0.0.2:8080"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+0\s`, 3*time.Second)
	if err := os.Remove(filepath.Join(maint, "127.0.0.2:8080")); err != nil {
		t.Fatal(err)
	}
	waitListing(t, `^\s+-> 127\.0\.0\.2:8080\s+Route\s+5\s`, 3*time.Second)
}
