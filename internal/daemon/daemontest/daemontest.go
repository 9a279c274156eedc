// Package daemontest runs a whole directord daemon in the test process, on
// fakes of what needs root: VRRP on a simulated LAN (vrrptest), the IPVS
// table and the sync daemons in memory (lvstest). The status socket, the
// metrics listener and the health checks are real, so what the operator
// tools print can be tested from a configuration, without root and
// without a kernel with IPVS. It is for test binaries only.
package daemontest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"directord/config"
	"directord/internal/daemon"
	"directord/lvs"
	"directord/lvs/lvstest"
	"directord/throughvip"
	"directord/throughvip/throughviptest"
	"directord/vrrp/vrrptest"
)

// Daemon is a running daemon and its fakes.
type Daemon struct {
	*daemon.Daemon
	// Socket is the status socket, in a directory of the test's.
	Socket string
	Host   *vrrptest.Host
	Kernel *lvstest.Kernel
	// Steering records the policy routes of checks through the VIP; it
	// is made when the first configuration with one starts or loads.
	Steering *throughviptest.Recorder

	conns *connKernel
	stop  func(testing.TB)
}

// Start parses src, points its status socket into a temporary directory,
// and runs it on host (VRRP) and an empty in-memory IPVS table until the
// test ends. It returns once the daemon answers on its socket.
func Start(tb testing.TB, src string, host *vrrptest.Host) *Daemon {
	tb.Helper()
	cfg, err := config.Parse("daemontest.hcl", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return run(tb, cfg, Setup{}, host)
}

// Setup says where StartFile's daemon keeps what outlives it.
type Setup struct {
	// Socket is the status socket (and the state file beside it); a new
	// temporary one when empty. A daemon started again on the same
	// socket finds the first one's state.
	Socket string
	// Kernel is the IPVS table; a new empty one when nil. Pass the first
	// daemon's to restart on the table it left, as on a real kernel.
	Kernel *lvstest.Kernel
}

// StartFile runs the configuration file at path, as `directord run`
// does (Load checks it against the host; reloads read it again), with
// s's socket and table.
func StartFile(tb testing.TB, path string, s Setup, host *vrrptest.Host) *Daemon {
	tb.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	return run(tb, cfg, s, host)
}

func run(tb testing.TB, cfg *config.Config, s Setup, host *vrrptest.Host) *Daemon {
	tb.Helper()
	if s.Socket == "" {
		// A short path: a unix socket's name is limited to 108 bytes,
		// and t.TempDir() under a long test name can exceed it.
		dir, err := os.MkdirTemp("", "dd-sock-")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		s.Socket = filepath.Join(dir, "d.sock")
	}
	if s.Kernel == nil {
		s.Kernel = lvstest.NewKernel(nil)
	}
	cfg.Director.StatusSocket = s.Socket
	k := &connKernel{Kernel: s.Kernel, conns: map[lvs.DestKey]uint32{}}
	d := &Daemon{Socket: s.Socket, Host: host, Kernel: s.Kernel, conns: k, Steering: &throughviptest.Recorder{}}
	d.Daemon = daemon.New(cfg, daemon.Options{
		VRRP:     host.System(),
		OpenIPVS: func() (lvs.Kernel, error) { return k, nil },
		OpenSync: func() (lvs.SyncKernel, error) { return lvstest.NewSyncKernel(interfaces(tb)...), nil },
		Sysctls:  lvstest.NewSysctls(nil),
		Version:  "daemontest",
		// Its own channel: the test process's SIGHUP stays as it is.
		Hangup: make(chan os.Signal),
		NewSteerer: func(throughvip.Range, *slog.Logger) daemon.Steerer {
			return d.Steering
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	d.stop = func(tb testing.TB) {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("daemon: %v", err)
				}
			case <-time.After(5 * time.Second):
				tb.Error("the daemon did not stop within 5 s")
			}
		})
	}
	tb.Cleanup(func() { d.stop(tb) })
	d.Wait(tb, 5*time.Second, func(daemon.StatusDoc) bool { return true })
	return d
}

// interfaces names this network namespace's interfaces: the daemon
// refuses a sync_daemon interface that net.InterfaceByName does not find,
// so the fake sync kernel must start daemons on the same ones (with none,
// a configuration with a sync daemon could never run one).
func interfaces(tb testing.TB) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

// Stop stops the daemon as SIGTERM does and waits for it.
func (d *Daemon) Stop(tb testing.TB) {
	tb.Helper()
	d.stop(tb)
}

// StatusJSON is the body of GET /v1/status, as the daemon wrote it.
func (d *Daemon) StatusJSON(ctx context.Context) ([]byte, error) {
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
		}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://directord/v1/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{resp.Status}
	}
	return io.ReadAll(resp.Body)
}

type statusError struct{ status string }

func (e *statusError) Error() string { return "GET /v1/status: " + e.status }

// Wait polls the status socket until ok accepts the document, and returns
// it; it fails the test after timeout with the last answer.
func (d *Daemon) Wait(tb testing.TB, timeout time.Duration, ok func(daemon.StatusDoc) bool) daemon.StatusDoc {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var doc daemon.StatusDoc
		b, err := d.StatusJSON(context.Background())
		if err == nil {
			err = json.Unmarshal(b, &doc)
		}
		if err == nil && ok(doc) {
			return doc
		}
		if time.Now().After(deadline) {
			tb.Fatalf("status never as wanted within %s: %v\n%s", timeout, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
