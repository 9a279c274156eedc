package e2e

import (
	"context"
	"testing"
	"time"

	"directord/internal/lab"
)

// keepalivedCuts runs the link-cut step with a keepalived pair (VRRP and
// its LVS checkers) on the same layout, timings and clients, and returns
// the failed requests of each cut and of each restore, by family.
func keepalivedCuts(t *testing.T, bin string, lay layout) (cutFails, restoreFails map[string][]int) {
	t.Helper()
	l, err := lab.Build(bin, "e2ek", lay.dirs, lay.reals)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	ka := map[string]*lab.Keepalived{}
	for _, d := range []struct {
		name string
		prio int
	}{{"lb1", 150}, {"lb2", 100}} {
		k, err := lab.NewKeepalived(l.Hosts[d.name], dir, lab.KeepalivedConfig(d.name, d.prio, lay.settings, lay.reals))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Start(); err != nil {
			t.Fatal(err)
		}
		defer k.Kill()
		ka[d.name] = k
	}
	defer func() {
		if t.Failed() {
			t.Logf("keepalived lb1:\n%s", ka["lb1"].Log())
		}
	}()
	instances := []string{"web"}
	if lay.reals[0].Addr6.IsValid() {
		instances = append(instances, "web6")
	}
	// Each instance, on each side: keepalived reports one at a time.
	inState := func(k *lab.Keepalived, state string) bool {
		for _, in := range instances {
			if k.InstanceState(in) != state {
				return false
			}
		}
		return true
	}
	waitFor(t, "keepalived lb1 master", 10*time.Second, func() bool {
		return inState(ka["lb1"], "MASTER") && inState(ka["lb2"], "BACKUP")
	})
	waitReals(t, l.Hosts["lb1"], lay.reals, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients := map[string]*lab.Client{"IPv4": lab.NewClient(l.Client, "http://"+lab.VIP.String()+"/", lay.every, lay.timeout)}
	if lay.reals[0].Addr6.IsValid() {
		clients["IPv6"] = lab.NewClient(l.Client, "http://["+lab.VIP6.String()+"]/", lay.every, lay.timeout)
	}
	for _, c := range clients {
		go c.Run(ctx)
	}
	time.Sleep(2 * time.Second)
	for fam, c := range clients {
		if o := lab.Summarize(c.Since(time.Time{})); o.Failed > 0 {
			t.Fatalf("keepalived pair: %d of %d requests over %s failed before any fault", o.Failed, o.Requests, fam)
		}
	}
	cutFails, restoreFails = map[string][]int{}, map[string][]int{}
	for range cuts {
		t0 := time.Now()
		if err := l.Hosts["lb1"].Port.SetLink(false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "keepalived lb2 master", 5*time.Second, func() bool { return inState(ka["lb2"], "MASTER") })
		time.Sleep(2 * time.Second)
		t1 := time.Now()
		if err := l.Hosts["lb1"].Port.SetLink(true); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "keepalived lb1 master again", 10*time.Second, func() bool {
			return inState(ka["lb1"], "MASTER") && inState(ka["lb2"], "BACKUP")
		})
		time.Sleep(2 * time.Second)
		t2 := time.Now()
		for fam, c := range clients {
			cutFails[fam] = append(cutFails[fam], lab.Summarize(between(c.Since(t0), t0, t1)).Failed)
			restoreFails[fam] = append(restoreFails[fam], lab.Summarize(between(c.Since(t1), t1, t2)).Failed)
		}
	}
	return cutFails, restoreFails
}
