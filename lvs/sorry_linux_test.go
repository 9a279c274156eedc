package lvs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"directord/internal/testenv"
	"directord/internal/vmtest"
)

// TestSorryLikeKeepalived runs keepalived 2.2.7's checker and directord
// side by side in the guest, on two VIPs with the same reals, fails and
// restores the same reals in both, and requires the two services' exact
// tables (ipvsadm -Sn, VIP aside) to be equal at every step: keepalived
// is the reference for the sorry server's semantics.
func TestSorryLikeKeepalived(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	bin := testenv.RequireCommand(t, "keepalived")
	for _, v := range []struct {
		name      string
		keepalive string // keepalived's virtual_server lines
		directord string // directord's
		steps     []sorryStep
	}{
		{"default", kaSorry, ddSorry + `on_failure = "remove"`, quorumSteps},
		{"sorry_server_inhibit", kaSorry + "sorry_server_inhibit", ddSorry + "on_failure = \"remove\"\n  sorry_server_inhibit = true", quorumSteps},
		{"inhibit_on_failure", kaSorry + "inhibit_on_failure", ddSorry + `on_failure = "weight_zero"`, quorumSteps},
		{"inhibit_on_failure and sorry_server_inhibit", kaSorry + "inhibit_on_failure\n  sorry_server_inhibit", ddSorry + "sorry_server_inhibit = true", quorumSteps},
		{"hysteresis", kaSorry + "hysteresis 1\n  inhibit_on_failure", ddSorry + "hysteresis = 1", hysteresisSteps},
		{"sorry_server_lvs_method NAT", "sorry_server 10.0.0.99 8080\n  sorry_server_lvs_method NAT",
			"sorry_server = \"10.0.0.99:8080\"\n  sorry_server_forwarding = \"nat\"\n  on_failure = \"remove\"", quorumSteps},
	} {
		ipvsadm(t, "-C")
		t.Run(v.name, func(t *testing.T) { compareWithKeepalived(t, bin, v.keepalive, v.directord, v.steps) })
	}
}

// The sorry server at the service's port, in each daemon's words.
const (
	kaSorry = "sorry_server 10.0.0.99 80\n  "
	ddSorry = "sorry_server = \"10.0.0.99\"\n  "
)

// sorryStep fails or restores one real; "" is the start.
type sorryStep struct {
	real string
	up   bool
}

// With quorum 2 of three reals of weight 1, the second failure loses
// quorum and the first return regains it.
var quorumSteps = []sorryStep{
	{"", true},          // all up
	{"10.0.0.1", false}, // 2 up: quorum holds
	{"10.0.0.2", false}, // 1 up: lost
	{"10.0.0.2", true},  // 2 up: regained
}

// With hysteresis 1 quorum is lost below 1 and regained at 3: reals that
// return in between stay out of rotation.
var hysteresisSteps = []sorryStep{
	{"", true},
	{"10.0.0.1", false}, // 2 up
	{"10.0.0.2", false}, // 1 up: not below 2−1
	{"10.0.0.3", false}, // 0 up: lost
	{"10.0.0.3", true},  // 1 up: not yet 2+1
	{"10.0.0.2", true},  // 2 up: still lost
	{"10.0.0.1", true},  // 3 up: regained
}

const (
	kaVIP = "10.0.0.100"
	ddVIP = "10.0.0.200"
)

var sorryReals = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}

// compareWithKeepalived runs the steps on a service with quorum 2 and
// three reals of weight 1 in both daemons.
func compareWithKeepalived(t *testing.T, bin, kaOpts, ddOpts string, steps []sorryStep) {
	dir := t.TempDir()
	for _, r := range sorryReals {
		setUp(t, dir, r, true)
	}
	kaLog := startKeepalived(t, bin, dir, kaOpts)
	// keepalived first: its table is the reference, so wait for its
	// service and reals (and an inhibited sorry server, compared below).
	waitSection(t, kaVIP, 4, 20*time.Second)
	g := start(t, fmt.Sprintf(`virtual_server "web" {
  address = %q
  port = 80
  scheduler = "rr"
  quorum = 2
  %s
  real_server "10.0.0.1" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {}
}`, ddVIP, ddOpts))
	sorryUsed := false
	for i, s := range steps {
		if s.real != "" {
			// keepalived logs each verdict on the real ("Misc check for
			// [[ADDR]:tcp:80 VS …] … failed/succeeded") before it writes:
			// wait for that, so a step that changes nothing is compared
			// after keepalived has acted, not before.
			mark := "[[" + s.real + "]:tcp:80 VS"
			n := kaLog.count(mark)
			setUp(t, dir, s.real, s.up)
			g.flip(t, s.real, s.up)
			waitFor(t, "keepalived's verdict on "+s.real, 20*time.Second, func() bool { return kaLog.count(mark) > n })
			time.Sleep(500 * time.Millisecond)
		}
		want := strings.Join(section(t, ddVIP), "\n")
		got := awaitSection(t, kaVIP, want, 20*time.Second)
		if got != want {
			t.Fatalf("step %d (%s up=%v): keepalived's table\n%s\ndirectord's\n%s", i, s.real, s.up, got, want)
		}
		sorryUsed = sorryUsed || sorryInUse.MatchString(want)
		t.Logf("step %d (%s up=%v): both\n%s", i, s.real, s.up, want)
	}
	if !sorryUsed {
		t.Errorf("no step put the sorry server in use")
	}
}

var sorryInUse = regexp.MustCompile(`-r 10\.0\.0\.99:\d+ -[gmi] -w 1\b`)

// lockedLog is keepalived's output, written by exec's copier while the
// test reads it.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedLog) count(s string) int { return strings.Count(l.String(), s) }

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setUp makes the real's MISC_CHECK succeed or fail.
func setUp(t *testing.T, dir, real string, up bool) {
	t.Helper()
	f := filepath.Join(dir, "up-"+real)
	if up {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
}

func startKeepalived(t *testing.T, bin, dir, opts string) *lockedLog {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id guest\n  script_user root\n}\n")
	fmt.Fprintf(&b, "virtual_server %s 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n  quorum 2\n  %s\n", kaVIP, opts)
	for _, r := range sorryReals {
		fmt.Fprintf(&b, "  real_server %s 80 {\n    weight 1\n    MISC_CHECK {\n      misc_path \"/usr/bin/test -e %s\"\n      misc_timeout 10\n      retry 0\n    }\n  }\n", r, filepath.Join(dir, "up-"+r))
	}
	b.WriteString("}\n")
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &lockedLog{}
	cmd := exec.Command(bin, "--dont-fork", "--log-console", "--check", "--use-file", conf,
		"--pid", filepath.Join(dir, "k.pid"), "--checkers_pid", filepath.Join(dir, "c.pid"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("keepalived.conf:\n%s\nkeepalived's log:\n%s", b.String(), out.String())
		}
	})
	return out
}

// section is the VIP's part of ipvsadm -Sn, sorted, with the VIP written
// as VIP so two services compare.
func section(t *testing.T, vip string) []string {
	var out []string
	for _, l := range strings.Split(ipvsadm(t, "-Sn"), "\n") {
		if strings.Contains(l, " "+vip+":") {
			out = append(out, strings.ReplaceAll(l, vip, "VIP"))
		}
	}
	slices.Sort(out)
	return out
}

// waitSection waits until the VIP's service has at least n lines (it and
// its destinations).
func waitSection(t *testing.T, vip string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(section(t, vip)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s never had %d lines:\n%s", vip, n, ipvsadm(t, "-Sn"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitSection waits until the VIP's section is want, and returns the last
// one seen: keepalived's checker takes its time.
func awaitSection(t *testing.T, vip, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := strings.Join(section(t, vip), "\n")
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}
