package e2e

import (
	"context"
	"testing"
	"time"

	"directord/internal/lab"
)

// keepalivedCuts runs the link-cut step with a keepalived pair (VRRP and
// its LVS checkers) on the same topology, timings and client, and returns
// the failed requests of each cut and of each restore.
func keepalivedCuts(t *testing.T, bin string) (cutFails, restoreFails []int) {
	t.Helper()
	dirs, reals, _ := lab.Seed()
	l, err := lab.Build(bin, "e2ek", dirs, reals)
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
		k, err := lab.NewKeepalived(l.Hosts[d.name], dir, lab.KeepalivedConfig(d.name, d.prio, lab.DefaultSettings, reals))
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
	waitFor(t, "keepalived lb1 master", 10*time.Second, func() bool { return ka["lb1"].State() == "MASTER" })
	for _, r := range reals {
		waitWeight(t, l.Hosts["lb1"].NS, r.Addr.String(), r.Weight, 10*time.Second)
	}
	client := lab.NewClient(l.Client, "http://"+lab.VIP.String()+"/", requestEvery, requestTimeout)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.Run(ctx)
	time.Sleep(2 * time.Second)
	if o := lab.Summarize(client.Since(time.Time{})); o.Failed > 0 {
		t.Fatalf("keepalived pair: %d of %d requests failed before any fault", o.Failed, o.Requests)
	}
	for range cuts {
		t0 := time.Now()
		if err := l.Hosts["lb1"].Port.SetLink(false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "keepalived lb2 master", 5*time.Second, func() bool { return ka["lb2"].State() == "MASTER" })
		time.Sleep(2 * time.Second)
		t1 := time.Now()
		cutFails = append(cutFails, lab.Summarize(between(client.Since(t0), t0, t1)).Failed)
		if err := l.Hosts["lb1"].Port.SetLink(true); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "keepalived lb1 master again", 10*time.Second, func() bool {
			return ka["lb1"].State() == "MASTER" && ka["lb2"].State() == "BACKUP"
		})
		time.Sleep(2 * time.Second)
		restoreFails = append(restoreFails, lab.Summarize(between(client.Since(t1), t1, time.Now())).Failed)
	}
	return cutFails, restoreFails
}
