package lvs_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"

	"directord/lvs"
	"directord/lvs/lvstest"
)

// Table dumps the kernel off the reconciler's goroutine: it answers
// while a pass is held in its write, and a health flip's write goes
// through while a dump is in flight. Owned comes from the last pass.
func TestTableDoesNotWaitForTheLoop(t *testing.T) {
	foreign := lvs.Service{ServiceKey: lvs.ServiceKey{Family: ipvs.INET, Protocol: ipvs.TCP, Addr: netip.MustParseAddr("192.168.11.200"), Port: 80}, Scheduler: "rr"}
	k := lvstest.NewKernel(lvs.Table{foreign.ServiceKey: {Service: foreign}})
	r, down, ctx, _ := runOneService(t, k)

	// A pass held in its write: Table still answers.
	entered, release := holdNextWrite(k)
	down.Store(true)
	r.HealthChanged()
	<-entered
	k.SetGate(nil)
	got := make(chan []lvs.ServiceStats, 1)
	go func() {
		tbl, err := r.Table(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- tbl
	}()
	var tbl []lvs.ServiceStats
	select {
	case tbl = <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("Table waited for the pass in flight")
	}
	close(release)
	owned := map[string]bool{}
	for _, s := range tbl {
		owned[s.Name] = s.Owned
	}
	if len(owned) != 2 || !owned["tcp 192.168.11.100:80"] || owned["tcp 192.168.11.200:80"] {
		t.Errorf("owned %v, want the declared service only", owned)
	}
	// One service alone, as one real's status reads it.
	for _, c := range []struct {
		addr  string
		owned bool
		found bool
	}{{"192.168.11.100", true, true}, {"192.168.11.200", false, true}, {"192.168.11.201", false, false}} {
		key := foreign.ServiceKey
		key.Addr = netip.MustParseAddr(c.addr)
		s, err := r.Service(ctx, key)
		if err != nil || (s != nil) != c.found || (s != nil && (s.Owned != c.owned || s.Key != key)) {
			t.Errorf("Service(%s) = %+v, %v; want found %v, owned %v", key, s, err, c.found, c.owned)
		}
	}

	// A dump in flight (slow, as a large table's): a flip's write does
	// not wait for it.
	k.SetStatsDelay(time.Second)
	go func() { _, _ = r.Table(ctx) }()
	for k.StatsReads() < 2 {
		time.Sleep(time.Millisecond)
	}
	writes := len(k.Ops())
	start := time.Now()
	down.Store(false)
	r.HealthChanged()
	for len(k.Ops()) == writes {
		if time.Since(start) > 500*time.Millisecond {
			t.Fatal("the flip's write waited for the dump")
		}
		time.Sleep(time.Millisecond)
	}
}

// Table reads the owned set while passes replace it: run under -race.
func TestTableAlongsidePasses(t *testing.T) {
	k := lvstest.NewKernel(nil)
	r, down, ctx, cancel := runOneService(t, k)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			tbl, err := r.Table(ctx)
			if err != nil || len(tbl) != 1 || !tbl[0].Owned {
				t.Errorf("Table = %v, %v: want the owned service", tbl, err)
				return
			}
		}
	}()
	for i := range 200 {
		down.Store(i%2 == 0)
		r.HealthChanged()
	}
	<-done
	cancel()
	if n := k.Overlaps(); n != 0 {
		t.Errorf("%d reads or writes overlapped", n)
	}
}
