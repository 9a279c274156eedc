package lvs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"directord/lvs"
	"directord/lvs/lvstest"
)

var syncTemplate = &lvs.SyncDaemon{Interface: "eth1", SyncID: 51}

// running lists the fake kernel's daemons as "master/eth1/51 backup/…".
func running(t *testing.T, k *lvstest.SyncKernel) string {
	t.Helper()
	ds, err := k.Daemons()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%s/%s/%d", d.State, d.Interface, d.SyncID))
	}
	return strings.Join(s, " ")
}

func TestSyncBothDaemonsAndAdoption(t *testing.T) {
	k := lvstest.NewSyncKernel("eth1")
	m := lvs.NewSyncManager(k, lvstest.NewSysctls(nil), nil)
	if err := m.Apply(lvs.SyncSpec{Daemon: syncTemplate}); err != nil {
		t.Fatal(err)
	}
	if got := running(t, k); got != "master/eth1/51 backup/eth1/51" {
		t.Fatalf("running %q, want both daemons", got)
	}
	// A restarted directord adopts what runs: nothing is stopped, so no
	// sync message is lost across the restart.
	m2 := lvs.NewSyncManager(k, lvstest.NewSysctls(nil), nil)
	if err := m2.Apply(lvs.SyncSpec{Daemon: syncTemplate}); err != nil {
		t.Fatal(err)
	}
	if starts, stops := k.Calls(); starts != 2 || stops != 0 {
		t.Errorf("adoption made %d starts and %d stops, want the first 2 starts only", starts, stops)
	}
	// The role does not matter in this mode.
	m2.SetMaster(true)
	if st := m2.Status(); st.Mode != "both" || len(st.Running) != 2 || len(st.Wanted) != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestSyncFollowsVRRP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := lvstest.NewSyncKernel("eth1")
		m := lvs.NewSyncManager(k, lvstest.NewSysctls(nil), nil)
		if err := m.Apply(lvs.SyncSpec{Daemon: syncTemplate, Follow: true}); err != nil {
			t.Fatal(err)
		}
		if got := running(t, k); got != "backup/eth1/51" {
			t.Fatalf("before any transition: %q, want the backup daemon only", got)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		for _, step := range []struct {
			master bool
			want   string
		}{{true, "master/eth1/51"}, {false, "backup/eth1/51"}, {true, "master/eth1/51"}} {
			m.SetMaster(step.master)
			synctest.Wait()
			if got := running(t, k); got != step.want {
				t.Fatalf("master=%v: running %q, want %q", step.master, got, step.want)
			}
		}
		if st := m.Status(); st.Mode != "follow" || st.Role != "master" || st.Starts != 4 || st.Stops != 3 {
			t.Errorf("status %+v", st)
		}
	})
}

func TestSyncSettingsChangeRestarts(t *testing.T) {
	k := lvstest.NewSyncKernel("eth1", "eth2")
	m := lvs.NewSyncManager(k, lvstest.NewSysctls(nil), nil)
	if err := m.Apply(lvs.SyncSpec{Daemon: syncTemplate}); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(lvs.SyncSpec{Daemon: &lvs.SyncDaemon{Interface: "eth2", SyncID: 51}}); err != nil {
		t.Fatal(err)
	}
	if got := running(t, k); got != "master/eth2/51 backup/eth2/51" {
		t.Errorf("after the interface changed: %q", got)
	}
	// A reload that drops sync_daemon stops what it started.
	if err := m.Apply(lvs.SyncSpec{}); err != nil {
		t.Fatal(err)
	}
	if got := running(t, k); got != "" {
		t.Errorf("sync_daemon removed, still running %q", got)
	}
}

func TestSyncLeavesForeignDaemons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := lvstest.NewSyncKernel("eth1")
		if err := k.Start(lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth1", SyncID: 7}); err != nil {
			t.Fatal(err)
		}
		// Sysctls only: the backup daemon someone else runs is not ours,
		// not even for clear_on_stop.
		m := lvs.NewSyncManager(k, lvstest.NewSysctls(map[string]string{"sloppy_tcp": "0"}), nil)
		if err := m.Apply(lvs.SyncSpec{Sysctls: map[string]string{"sloppy_tcp": "1"}}); err != nil {
			t.Fatal(err)
		}
		if err := m.StopOwned(); err != nil {
			t.Fatal(err)
		}
		if got := running(t, k); got != "backup/eth1/7" {
			t.Errorf("a daemon the configuration never declared was touched: %q", got)
		}
		_ = k.Stop(lvs.SyncBackup)

		// Declared, then dropped by a reload: ours are stopped, and a
		// daemon started afterwards by someone else is left alone, at
		// the reload and at every re-check.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Run(ctx)
		if err := m.Apply(lvs.SyncSpec{Daemon: syncTemplate, Recheck: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if err := m.Apply(lvs.SyncSpec{Recheck: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if got := running(t, k); got != "" {
			t.Fatalf("sync_daemon dropped, still running %q", got)
		}
		if err := k.Start(lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth1", SyncID: 9}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Minute + time.Millisecond)
		synctest.Wait()
		if err := m.StopOwned(); err != nil {
			t.Fatal(err)
		}
		if got := running(t, k); got != "master/eth1/9" {
			t.Errorf("a daemon started after sync_daemon was dropped: %q, want it left running", got)
		}
	})
}

func TestSyncRepairsAndRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := lvstest.NewSyncKernel("eth1")
		m := lvs.NewSyncManager(k, lvstest.NewSysctls(nil), nil)
		if err := m.Apply(lvs.SyncSpec{Daemon: syncTemplate, Recheck: time.Minute}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go m.Run(ctx)

		// Someone runs ipvsadm --stop-daemon: the next check restarts it.
		if err := k.Stop(lvs.SyncBackup); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + time.Millisecond)
		synctest.Wait()
		if got := running(t, k); got != "master/eth1/51 backup/eth1/51" {
			t.Fatalf("after the re-check: %q", got)
		}

		// The master stops and the kernel fails at the next check: the
		// failure is counted, then retried after 1s, 2s, ...
		if err := k.Stop(lvs.SyncMaster); err != nil {
			t.Fatal(err)
		}
		k.SetFail(errors.New("netlink: no buffer space"))
		time.Sleep(time.Minute + time.Millisecond)
		synctest.Wait()
		if st := m.Status(); st.Errors != 1 || !strings.Contains(st.LastError, "no buffer space") {
			t.Fatalf("status after a failure: %+v", st)
		}
		// Backoff: the next attempts come 1s, then 2s later.
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		if st := m.Status(); st.Errors != 2 {
			t.Fatalf("%d failures 1s after the first, want a retry", st.Errors)
		}
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		if st := m.Status(); st.Errors != 2 {
			t.Fatalf("%d failures 2s after the first: the second retry came before 2s", st.Errors)
		}
		k.SetFail(nil)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := running(t, k); got != "master/eth1/51 backup/eth1/51" {
			t.Errorf("not repaired 2s after the last failure: %q", got)
		}
		// Run ends with its context, and says so.
		cancel()
		<-m.Done()
	})
}

func TestSyncSysctls(t *testing.T) {
	sys := lvstest.NewSysctls(map[string]string{"sloppy_tcp": "0", "expire_nodest_conn": "0", "sync_threshold": "3 50"})
	m := lvs.NewSyncManager(nil, sys, nil)
	spec := lvs.SyncSpec{Sysctls: map[string]string{"sloppy_tcp": "1", "expire_nodest_conn": "0", "sync_threshold": "3 10"}}
	if err := m.Check(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if sys.Writes() != 2 {
		t.Errorf("%d writes, want 2 (expire_nodest_conn already had its value)", sys.Writes())
	}
	if err := m.Apply(spec); err != nil || sys.Writes() != 2 {
		t.Errorf("a second apply wrote (%d writes, %v)", sys.Writes(), err)
	}
	if v, _ := sys.Get("sync_threshold"); v != "3 10" {
		t.Errorf("sync_threshold = %q", v)
	}
	bad := lvs.SyncSpec{Sysctls: map[string]string{"sloppy_tcp": "0", "no_such": "1"}}
	if err := m.Check(bad); err == nil || !strings.Contains(err.Error(), "no_such") {
		t.Errorf("Check of a missing name: %v", err)
	}
	if v, _ := sys.Get("sloppy_tcp"); v != "1" {
		t.Error("Check changed a value")
	}
}
