package vrrp_test

// Every advert a director pair puts on the wire over IPv6, decoded by an
// independent dissector (Wireshark's, through tshark): VRRPv3 to ff02::12
// from a link-local address at hop limit 255, checksum verified over the
// pseudo-header, nothing malformed. The pair runs an election, a SIGTERM
// handover, a preempt back and a kill -9 takeover, so adverts of every
// kind (priority 0 included) are in the file.

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/testenv"
)

// tsharkVRRP6 are the fields read for each advert, in this order.
var tsharkVRRP6 = []string{
	"frame.number", "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.nxt",
	"vrrp.version", "vrrp.type", "vrrp.virt_rtr_id", "vrrp.prio", "vrrp.addr_count",
	"vrrp.short_adver_int", "vrrp.checksum.status", "vrrp.ipv6_addr",
	"_ws.malformed", "_ws.expert",
}

// tsharkPrefs pins how tshark checks a VRRPv3 checksum, whatever a
// preferences file says: over the pseudo-header (RFC 9568 §5.2.8).
var tsharkPrefs = []string{"vrrp.v3_checksum_as_in_v2:FALSE"}

func TestIPv6WireDecodesClean(t *testing.T) {
	testenv.RequireCommand(t, "tshark")
	p, _ := bed6(t)
	ll1, ll2 := linkLocalOf(t, p.LB1.NS()), linkLocalOf(t, p.LB2.NS())
	rec := harness.Record(t, p.Observer, "eth0", "ip6 proto 112", filepath.Join(t.TempDir(), "vrrp6.pcap"))

	startPair(t, p, instance6("web", 51, 100), instance6("web", 51, 200), p.LB2)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	time.Sleep(time.Second)
	p.LB2.Stop(t, 5*time.Second) // resigns with priority 0
	p.LB1.WaitState(t, "web", "MASTER", time.Second)
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	p.LB1.WaitState(t, "web", "BACKUP", time.Second)
	time.Sleep(500 * time.Millisecond)
	p.LB2.Kill()
	p.LB1.WaitState(t, "web", "MASTER", 2*time.Second)
	time.Sleep(500 * time.Millisecond)
	// lb1's own count brackets what the file holds of it: every advert it
	// sent is there, none twice.
	sentBefore := instanceStatus(t, p.LB1, "web").AdvertsSent
	rec.Stop()
	sentAfter := instanceStatus(t, p.LB1, "web").AdvertsSent

	rows := harness.TsharkFields(t, rec.Path, "vrrp", tsharkPrefs, tsharkVRRP6...)
	all := harness.TsharkFields(t, rec.Path, "", nil, "frame.number")
	if len(all) != len(rows) {
		t.Errorf("%d packets captured, %d of them decoded as VRRP", len(all), len(rows))
	}
	bySrc := map[netip.Addr]uint64{}
	byPrio := map[string]int{}
	for _, r := range rows {
		src := checkAdvert6(t, r, ll1, ll2)
		bySrc[src]++
		byPrio[r[8]]++
	}
	t.Logf("%d adverts: %d from lb1, %d from lb2; by priority %v", len(rows), bySrc[ll1], bySrc[ll2], byPrio)
	// About 3.5 s of adverts at 100 ms: far more than 20, so an empty or
	// truncated capture cannot pass.
	if len(rows) < 20 || bySrc[ll1] == 0 || bySrc[ll2] == 0 {
		t.Errorf("%d adverts (lb1 %d, lb2 %d): want 20 or more, from both", len(rows), bySrc[ll1], bySrc[ll2])
	}
	if byPrio["0"] == 0 || byPrio["100"] == 0 || byPrio["200"] == 0 {
		t.Errorf("adverts by priority %v: want the SIGTERM's 0, and 100 and 200", byPrio)
	}
	if n := bySrc[ll1]; n < sentBefore || n > sentAfter {
		t.Errorf("lb1 sent %d to %d adverts, the capture holds %d", sentBefore, sentAfter, n)
	}
	// Across every packet, not only those shown as VRRP: no error or
	// warning of any dissector.
	if bad := harness.TsharkFields(t, rec.Path, "_ws.malformed || _ws.expert", tsharkPrefs, "frame.number", "_ws.expert"); len(bad) > 0 {
		t.Errorf("tshark flags %d packets, the first: %v", len(bad), bad[0])
	}
}

// checkAdvert6 checks one row of tsharkVRRP6 and returns its source.
func checkAdvert6(t *testing.T, r []string, ll1, ll2 netip.Addr) netip.Addr {
	t.Helper()
	src, err := netip.ParseAddr(r[1])
	want := map[string]string{
		"ipv6.dst": "ff02::12", "ipv6.hlim": "255", "ipv6.nxt": "112",
		"vrrp.version": "3", "vrrp.type": "1", "vrrp.virt_rtr_id": "51", "vrrp.addr_count": "2",
		"vrrp.short_adver_int": "10", // centiseconds
		"vrrp.checksum.status": "1",  // Good: verified, not only present
		"vrrp.ipv6_addr":       "fe80::100;" + vip6.String(),
		"_ws.malformed":        "", "_ws.expert": "",
	}
	var wrong []string
	for i, f := range tsharkVRRP6 {
		if w, ok := want[f]; ok && r[i] != w {
			wrong = append(wrong, f+"="+r[i]+" (want "+w+")")
		}
	}
	// lb1 only ever sends its 100; lb2 its 200, and 0 when it resigns.
	switch prio := r[8]; {
	case err != nil || !src.IsLinkLocalUnicast() || (src != ll1 && src != ll2):
		wrong = append(wrong, "ipv6.src="+r[1]+" (want lb1's or lb2's link-local address)")
	case src == ll1 && prio != "100", src == ll2 && prio != "200" && prio != "0":
		wrong = append(wrong, "vrrp.prio="+prio+" from "+r[1])
	}
	if len(wrong) > 0 {
		t.Errorf("frame %s: %s", r[0], strings.Join(wrong, ", "))
	}
	return src
}
