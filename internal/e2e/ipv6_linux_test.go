package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"directord/internal/lab"
)

// The dual-stack layout in the guest: an IPv6 client reaches the IPv6
// real servers through the IPv6 VIP in DR mode, beside the IPv4 client
// and VIP. A link cut on the master moves both VIPs (two instances, one
// sync group) to the backup; the client's neighbour entry for the IPv6
// VIP follows the unsolicited neighbour advertisement; failed requests
// are counted per family and compared with a keepalived pair on the
// same layout in the same guest.
// dualEvery is each client's pace in the dual-stack test.
const dualEvery = 100 * time.Millisecond

func TestDualStackDRPairLinkCut(t *testing.T) {
	bin, done := guestBinary(t)
	if done {
		return
	}
	// Two services of three reals on each of two directors, and two
	// clients, in a one-CPU guest without a vDSO: operator check timing
	// (as the soak's) and a request every 100 ms per client keep the
	// guest's load near the IPv4 test's, whose healthy reals otherwise
	// timed out at start.
	lay := dualStackLayout()
	lay.settings, lay.every = soakSettings(), dualEvery
	p := startLayout(t, bin, "e2e6", lay, lay.every, lay.settings)
	time.Sleep(2 * time.Second)
	for fam, c := range p.clients() {
		warm := c.Since(time.Time{})
		if o := lab.Summarize(warm); o.Failed > 0 || o.Requests == 0 {
			t.Fatalf("%s: %d of %d requests failed before any fault", fam, o.Failed, o.Requests)
		}
		tally := lab.Tally(warm)
		t.Logf("%s: wrr split over %d requests: %v (weights 2:4:6)", fam, len(warm), tally)
		for _, r := range p.reals {
			if tally[r.Name] == 0 {
				t.Errorf("%s: %s got no request", fam, r.Name)
			}
		}
	}
	client := p.lab.Client
	mac1, mac2 := macOf(t, p.lab.Hosts["lb1"]), macOf(t, p.lab.Hosts["lb2"])
	if got := neighbour(t, client, lab.VIP6.String()); got != mac1 {
		t.Errorf("the client's neighbour entry for %s is %q, want lb1's %s", lab.VIP6, got, mac1)
	}
	bothIn := func(d *lab.Director, state string) bool {
		return d.State("web") == state && d.State("web6") == state
	}
	cut, restore := map[string][]int{}, map[string][]int{}
	for i := range cuts {
		t0 := time.Now()
		if err := p.lab.Hosts["lb1"].Port.SetLink(false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "lb2 master of both instances", 5*time.Second, func() bool { return bothIn(p.lb2, "MASTER") })
		time.Sleep(2 * time.Second)
		t1 := time.Now()
		if got := neighbour(t, client, lab.VIP6.String()); got != mac2 {
			t.Errorf("cut %d: the client's neighbour entry for %s is %q, want lb2's %s", i+1, lab.VIP6, got, mac2)
		}
		if err := p.lab.Hosts["lb1"].Port.SetLink(true); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "lb1 master of both again", 10*time.Second, func() bool { return bothIn(p.lb1, "MASTER") && bothIn(p.lb2, "BACKUP") })
		time.Sleep(2 * time.Second)
		t2 := time.Now()
		if got := neighbour(t, client, lab.VIP6.String()); got != mac1 {
			t.Errorf("cut %d: after the restore the client's neighbour entry for %s is %q, want lb1's %s", i+1, lab.VIP6, got, mac1)
		}
		for fam, c := range p.clients() {
			o := lab.Summarize(between(c.Since(t0), t0, t1))
			r := lab.Summarize(between(c.Since(t1), t1, t2))
			cut[fam], restore[fam] = append(cut[fam], o.Failed), append(restore[fam], r.Failed)
			// Judged by when the failed requests were sent: one sent
			// just before the takeover fails a whole timeout later.
			if w := sentOver(between(c.Since(t0), t0, t1)); w > masterDown+time.Second {
				t.Errorf("cut %d, %s: failed requests were sent over %s, more than Master_Down_Interval + 1s", i+1, fam, w)
			}
			if r.Failed > 1 {
				t.Errorf("cut %d, %s: %d requests failed when the link came back", i+1, fam, r.Failed)
				logFailed(t, between(c.Since(t1), t1, t2), t1)
			}
		}
	}
	p.close()
	kaCut, kaRestore := keepalivedCuts(t, bin, lay)
	for _, fam := range []string{"IPv4", "IPv6"} {
		line := fmt.Sprintf("dual stack, same guest, %d link cuts each, %s: failed requests per cut: directord %v, keepalived %v; "+
			"per link restore: directord %v, keepalived %v", cuts, fam, cut[fam], kaCut[fam], restore[fam], kaRestore[fam])
		t.Log(line)
		fmt.Println(line)
		// As in the IPv4 test: one request either way is where the cut
		// falls between requests (one in 100 ms here).
		if median(cut[fam]) > median(kaCut[fam])+1 {
			t.Errorf("%s: directord lost more requests on a link cut than keepalived: %v vs %v", fam, cut[fam], kaCut[fam])
		}
	}
}

// macOf is h's MAC address on the LAN.
func macOf(t *testing.T, h *lab.Host) string {
	t.Helper()
	out, err := h.NS.Run("ip", "-o", "link", "show", h.Port.IfName)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(out, "link/ether ")
	if !ok {
		t.Fatalf("no MAC in %q", out)
	}
	return strings.Fields(after)[0]
}

// neighbour is the link-layer address of addr in h's neighbour cache
// ("" when there is no usable entry).
func neighbour(t *testing.T, h *lab.Host, addr string) string {
	t.Helper()
	out, err := h.NS.Run("ip", "-6", "neigh", "show", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

// sentOver is the span between the first and the last failed request's
// start.
func sentOver(reqs []lab.Request) time.Duration {
	var first, last time.Time
	for _, r := range reqs {
		if r.OK {
			continue
		}
		if first.IsZero() {
			first = r.Start
		}
		last = r.Start
	}
	return last.Sub(first)
}
