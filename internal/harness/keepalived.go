package harness

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"directord/internal/netnstest"
)

// Keepalived is Debian's keepalived running in a namespace: the reference
// VRRP peer directord must interoperate with.
type Keepalived struct {
	Name string
	NS   *netnstest.NS
	Dir  string
	conf string

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	log   *syncBuffer
	since int // offset in log where the current run starts
}

// NewKeepalived prepares keepalived in ns.
func NewKeepalived(tb testing.TB, ns *netnstest.NS, name string) *Keepalived {
	tb.Helper()
	dir := tb.TempDir()
	k := &Keepalived{Name: name, NS: ns, Dir: dir, conf: filepath.Join(dir, "keepalived.conf"), log: &syncBuffer{}}
	tb.Cleanup(func() {
		k.Kill()
		if tb.Failed() {
			tb.Logf("log of keepalived %s:\n%s", name, k.Log())
		}
	})
	return k
}

// KeepalivedInstance is what an interop test varies.
type KeepalivedInstance struct {
	VRID     int
	Priority int
	Version  int
	Interval string // keepalived's advert_int, in seconds: "1", "0.1"
	Password string // v2 PASS, if set
	Src      netip.Addr
	Peers    []netip.Addr // unicast, if set
}

// WriteConfig renders one vrrp_instance "web" holding VIP.
func (k *Keepalived) WriteConfig(tb testing.TB, in KeepalivedInstance) {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  script_user root\n}\n", k.Name)
	fmt.Fprintf(&b, "vrrp_instance web {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  version %d\n  advert_int %s\n",
		in.VRID, in.Priority, in.Version, in.Interval)
	if in.Password != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", in.Password)
	}
	if len(in.Peers) > 0 {
		fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n", in.Src)
		for _, p := range in.Peers {
			fmt.Fprintf(&b, "    %s\n", p)
		}
		b.WriteString("  }\n")
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s/24\n  }\n}\n", VIP)
	if err := os.WriteFile(k.conf, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Start runs keepalived in the foreground with its own pid files.
func (k *Keepalived) Start(tb testing.TB) {
	tb.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.since = len(k.log.String())
	for _, f := range []string{"keepalived.pid", "vrrp.pid"} {
		_ = os.Remove(filepath.Join(k.Dir, f))
	}
	cmd := k.NS.Command(context.Background(), "keepalived", "--dont-fork", "--log-console", "--log-detail",
		"--vrrp", "--use-file", k.conf,
		"--pid", filepath.Join(k.Dir, "keepalived.pid"), "--vrrp_pid", filepath.Join(k.Dir, "vrrp.pid"))
	cmd.Stdout, cmd.Stderr = k.log, k.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("keepalived: %v", err)
	}
	k.cmd, k.done = cmd, make(chan struct{})
	done := k.done
	go func() { _ = cmd.Wait(); close(done) }()
}

// Kill is kill -9 of keepalived and its VRRP child.
func (k *Keepalived) Kill() {
	k.mu.Lock()
	cmd, done := k.cmd, k.done
	k.mu.Unlock()
	if cmd == nil {
		return
	}
	// The VRRP child is a process of its own: kill every keepalived in
	// the namespace, and wait until none is left, or a restart finds
	// the old one still running.
	k.signalAll(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(k.pids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// Term sends SIGTERM to keepalived and waits for it to exit.
func (k *Keepalived) Term() {
	k.signalAll(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for len(k.pids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	k.Kill()
}

func (k *Keepalived) signalAll(sig syscall.Signal) {
	for _, pid := range k.pids() {
		_ = syscall.Kill(pid, sig)
	}
}

func (k *Keepalived) pids() []int {
	var out []int
	for _, pid := range netnstest.PIDsIn("/run/netns/" + k.NS.Name) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// A zombie (state Z) is gone for our purposes.
		if err == nil && strings.Contains(string(b), "(keepalived)") && !strings.Contains(string(b), ") Z ") {
			out = append(out, pid)
		}
	}
	return out
}

// Log is what keepalived printed.
func (k *Keepalived) Log() string { return k.log.String() }

func (k *Keepalived) current() string {
	k.mu.Lock()
	since := k.since
	k.mu.Unlock()
	return k.Log()[since:]
}

// Transitions counts "Entering ... STATE" lines of the current run.
func (k *Keepalived) Transitions() int { return strings.Count(k.current(), "Entering ") }

// State is the last state the current run entered: MASTER, BACKUP or
// FAULT.
func (k *Keepalived) State() string {
	log := k.current()
	i := strings.LastIndex(log, "Entering ")
	if i < 0 {
		return ""
	}
	f := strings.Fields(log[i+len("Entering "):])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// WaitState waits until keepalived has entered state.
func (k *Keepalived) WaitState(tb testing.TB, state string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for k.State() != state {
		if time.Now().After(deadline) {
			tb.Fatalf("keepalived %s is %q, not %s, after %s", k.Name, k.State(), state, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
