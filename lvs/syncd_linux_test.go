package lvs_test

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"directord/internal/vmtest"
	"directord/lvs"
)

// TestSyncDaemonKernel drives the guest kernel's sync daemons with our
// genetlink encoder and cross-checks both ways with ipvsadm, the
// independent implementation: what we start, `ipvsadm -L --daemon`
// lists; what ipvsadm starts, we read back.
func TestSyncDaemonKernel(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	for _, l := range []string{"sync0", "sync1"} {
		if out, err := exec.Command("ip", "link", "add", l, "type", "dummy").CombinedOutput(); err != nil {
			t.Fatalf("ip link add %s: %v\n%s", l, err, out)
		}
		if out, err := exec.Command("ip", "link", "set", l, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s up: %v\n%s", l, err, out)
		}
	}
	sk, err := lvs.OpenSync()
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, lvs.SyncKernel)
	}{
		{"none running", testNoDaemons},
		{"ours, read by ipvsadm", testOursReadByIpvsadm},
		{"ipvsadm's, read by ours", testIpvsadmsReadByOurs},
		{"stop right after start", testStopRightAfterStart},
		{"missing interface", testMissingInterface},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				for _, st := range []lvs.SyncState{lvs.SyncMaster, lvs.SyncBackup} {
					_ = sk.Stop(st)
				}
			}()
			tc.fn(t, sk)
		})
	}
}

func testNoDaemons(t *testing.T, sk lvs.SyncKernel) {
	ds, err := sk.Daemons()
	if err != nil || len(ds) != 0 {
		t.Fatalf("Daemons() = %v, %v; want none", ds, err)
	}
	if out := ipvsadm(t, "-L", "--daemon"); strings.TrimSpace(out) != "" {
		t.Errorf("ipvsadm -L --daemon lists %q", out)
	}
}

func testOursReadByIpvsadm(t *testing.T, sk lvs.SyncKernel) {
	master := lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "sync0", SyncID: 51, MaxLen: 1400,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3}
	backup := lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "sync1", SyncID: 7}
	for _, d := range []lvs.SyncDaemon{master, backup} {
		if err := sk.Start(d); err != nil {
			t.Fatal(err)
		}
	}
	out := ipvsadm(t, "-L", "--daemon")
	for _, re := range []string{
		`(?m)^master sync daemon \(mcast=sync0, syncid=51, maxlen=1400, group=239\.1\.2\.3, port=9000, ttl=3\)$`,
		`(?m)^backup sync daemon \(mcast=sync1, syncid=7, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("ipvsadm -L --daemon does not match %s:\n%s", re, out)
		}
	}
	ds, err := sk.Daemons()
	if err != nil {
		t.Fatal(err)
	}
	m, b := find(ds, lvs.SyncMaster), find(ds, lvs.SyncBackup)
	if !master.Satisfies(m) || !backup.Satisfies(b) {
		t.Errorf("read back %+v and %+v; want %+v and %+v", m, b, master, backup)
	}
	if b.MaxLen != 1472 {
		t.Errorf("backup maxlen %d, want 1472 (MTU 1500 less the IP and UDP headers)", b.MaxLen)
	}
	if err := sk.Start(master); !errors.Is(err, os.ErrExist) {
		t.Errorf("starting a second master: %v, want os.ErrExist", err)
	}
}

func testIpvsadmsReadByOurs(t *testing.T, sk lvs.SyncKernel) {
	ipvsadm(t, "--start-daemon", "backup", "--mcast-interface", "sync0", "--syncid", "200",
		"--sync-maxlen", "1200", "--mcast-group", "239.9.9.9", "--mcast-port", "7000", "--mcast-ttl", "2")
	ipvsadm(t, "--start-daemon", "master", "--mcast-interface", "sync1")
	ds, err := sk.Daemons()
	if err != nil {
		t.Fatal(err)
	}
	want := []lvs.SyncDaemon{
		{State: lvs.SyncMaster, Interface: "sync1", SyncID: 0, MaxLen: 1472, Group: lvs.DefaultSyncGroup(), Port: 8848, TTL: 1},
		{State: lvs.SyncBackup, Interface: "sync0", SyncID: 200, MaxLen: 1200, Group: netip.MustParseAddr("239.9.9.9"), Port: 7000, TTL: 2},
	}
	slices.SortFunc(ds, func(a, b lvs.SyncDaemon) int { return int(a.State) - int(b.State) })
	if !slices.Equal(ds, want) {
		t.Errorf("Daemons() = %+v\nwant %+v", ds, want)
	}
	if err := sk.Stop(lvs.SyncMaster); err != nil {
		t.Fatal(err)
	}
	if out := ipvsadm(t, "-L", "--daemon"); strings.Contains(out, "master") {
		t.Errorf("the master still runs after Stop:\n%s", out)
	}
	if err := sk.Stop(lvs.SyncMaster); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stopping a stopped master: %v, want os.ErrNotExist", err)
	}
}

// The kernel does not acknowledge a stop that comes before the daemon's
// thread has run (kthread_stop says -EINTR): a stop right after a start,
// as a flapping VRRP instance makes, must still return, and the daemon be
// gone. Whether a round takes that path depends on the guest's
// scheduling (most do in UML); the log says how many did.
func testStopRightAfterStart(t *testing.T, sk lvs.SyncKernel) {
	unacked := 0
	for i := range 5 {
		if err := sk.Start(lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "sync0"}); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		start := time.Now()
		if err := sk.Stop(lvs.SyncMaster); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if time.Since(start) >= 200*time.Millisecond {
			unacked++
		}
	}
	if ds, err := sk.Daemons(); err != nil || len(ds) != 0 {
		t.Errorf("after 5 start/stop rounds: %v, %v", ds, err)
	}
	t.Logf("%d of 5 stops went unacknowledged and were confirmed by listing", unacked)
}

func testMissingInterface(t *testing.T, sk lvs.SyncKernel) {
	err := sk.Start(lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "nosuch0"})
	if err == nil || !strings.Contains(err.Error(), `no interface "nosuch0"`) {
		t.Errorf("Start on a missing interface: %v", err)
	}
}

func find(ds []lvs.SyncDaemon, st lvs.SyncState) lvs.SyncDaemon {
	for _, d := range ds {
		if d.State == st {
			return d
		}
	}
	return lvs.SyncDaemon{}
}
