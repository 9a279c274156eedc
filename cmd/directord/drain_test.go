package main

// drain, undrain and weight against a running daemon (daemontest: a
// whole daemon in this process on an in-memory IPVS table): what they
// print, their exit codes, and drain --wait on connection counts the
// table reports.

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"directord/internal/daemon/daemontest"
	"directord/lvs"
	"directord/vrrp/vrrptest"
)

const drainSrc = `director {
  router_id = "lb1"
}
virtual_server "web" {
  address = "192.0.2.10"
  port = 80
  real_server "10.0.0.2" { weight = 3 }
  real_server "10.0.0.3" { weight = 2 }
}
`

func startDrainDaemon(t *testing.T) *daemontest.Daemon {
	t.Helper()
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	return daemontest.Start(t, drainSrc, host)
}

// cli runs the command line and returns its exit code, stdout and
// stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDrainCommands(t *testing.T) {
	d := startDrainDaemon(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"drain", "web", "10.0.0.3"}, "web 10.0.0.3:80: drained, effective weight 0 (configured 2); in the kernel: weight 0, 0 active, 0 inactive connections\n"},
		{[]string{"weight", "web", "10.0.0.3:80", "7"}, "web 10.0.0.3:80: drained, effective weight 0 (configured 2, runtime 7); in the kernel: weight 0, 0 active, 0 inactive connections\n"},
		{[]string{"undrain", "web", "10.0.0.3"}, "web 10.0.0.3:80: in service, effective weight 7 (configured 2, runtime 7); in the kernel: weight 7, 0 active, 0 inactive connections\n"},
		{[]string{"weight", "web", "10.0.0.3", "reset"}, "web 10.0.0.3:80: in service, effective weight 2 (configured 2); in the kernel: weight 2, 0 active, 0 inactive connections\n"},
	} {
		code, out, errs := cli(t, append(c.args, "--socket", d.Socket)...)
		if code != 0 || out != c.want {
			t.Errorf("%s: exit %d\n%s%s\nwant exit 0\n%s", strings.Join(c.args, " "), code, out, errs, c.want)
		}
	}
}

// Refusals exit 2 with the daemon's reason and change nothing.
func TestDrainCommandsRefused(t *testing.T) {
	d := startDrainDaemon(t)
	before := len(d.Kernel.Ops())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"drain", "api", "10.0.0.3"}, `directord: no virtual_server "api"` + "\n"},
		{[]string{"undrain", "web", "10.0.0.9"}, `directord: virtual_server "web" has no real_server 10.0.0.9 (it has 10.0.0.2:80, 10.0.0.3:80)` + "\n"},
		{[]string{"weight", "web", "10.0.0.3", "65536"}, "directord: weight must be between 0 and 65535, not 65536\n"},
		{[]string{"weight", "web", "10.0.0.3", "heavy"}, `directord: weight "heavy": want a number from 0 to 65535, or reset` + "\n"},
	} {
		code, out, errs := cli(t, append(c.args, "--socket", d.Socket)...)
		if code != 2 || errs != c.want || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, out, errs, c.want)
		}
	}
	if n := len(d.Kernel.Ops()) - before; n != 0 {
		t.Errorf("the refusals wrote %d ops to the kernel", n)
	}
}

// drain --wait returns once the real's active connections reach 0, and
// exits 3 with the count left at the timeout (the real stays drained).
func TestDrainWait(t *testing.T) {
	d := startDrainDaemon(t)
	dest := lvs.DestKey{Addr: netip.MustParseAddr("10.0.0.2"), Port: 80}
	d.SetActiveConns(dest, 5)
	go func() {
		time.Sleep(500 * time.Millisecond)
		d.SetActiveConns(dest, 2)
		time.Sleep(500 * time.Millisecond)
		d.SetActiveConns(dest, 0)
	}()
	start := time.Now()
	code, out, errs := cli(t, "drain", "--wait", "web", "10.0.0.2", "--socket", d.Socket)
	took := time.Since(start)
	if code != 0 || !strings.Contains(out, "5 active") || !strings.Contains(out, "  2 active connections\n") ||
		!strings.Contains(out, "web 10.0.0.2:80: no active connections left (waited ") {
		t.Errorf("drain --wait: exit %d\n%s%s", code, out, errs)
	}
	if took < time.Second || took > 2*time.Second {
		t.Errorf("drain --wait took %s; the last connection went after 1s, and it polls every %s", took, drainPoll)
	}

	d.SetActiveConns(dest, 3)
	start = time.Now()
	code, _, errs = cli(t, "drain", "--wait", "--timeout", "500ms", "web", "10.0.0.2", "--socket", d.Socket)
	took = time.Since(start)
	if want := "directord: web 10.0.0.2:80 still has 3 active connections after 500ms; it stays drained\n"; code != 3 || errs != want {
		t.Errorf("drain --wait at its timeout: exit %d, stderr %q; want 3 and %q", code, errs, want)
	}
	if took < 500*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("drain --wait --timeout 500ms took %s", took)
	}
	// Undrained by someone else while it waits: exit 1, saying so.
	go func() {
		time.Sleep(300 * time.Millisecond)
		cli(t, "undrain", "web", "10.0.0.2", "--socket", d.Socket)
	}()
	code, _, errs = cli(t, "drain", "--wait", "web", "10.0.0.2", "--socket", d.Socket)
	if want := "directord: web 10.0.0.2:80 was undrained while waiting, with 3 active connections\n"; code != 1 || errs != want {
		t.Errorf("drain --wait undrained: exit %d, stderr %q; want 1 and %q", code, errs, want)
	}
}
