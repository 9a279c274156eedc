package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"directord/internal/lab"
	"directord/internal/labnet"
)

// The client side of issue 15: flows through three ECMP directors, and
// the same client against a keepalived VRRP pair on the same faults.
const (
	ecmpFlows = 200
	// 200 lines a second in all: the guest has one CPU, and at twice
	// that its checks (200 ms timeouts then) timed out now and then, each
	// flap moving the flows of a real on one director only.
	ecmpLineEvery = time.Second
	// ecmpStall is how long a line may go unanswered before its
	// connection counts as broken: a director that loses its reals is
	// withdrawn about 1.3 s later, and TCP's retransmissions back off.
	ecmpStall = 4 * time.Second
	// ecmpSettle runs from the router's change: a flow stalled by the
	// fault has been stalled since before it, so breaks within this.
	ecmpSettle = ecmpStall + 200*time.Millisecond
	// spreadTries: 200 flows hashed at random by the router fall within
	// 20 % of even about 88 % of the time (binomial, p = 1/3), so up to
	// three sets of 200 are tried; an L3-only hash, or a director that
	// gets no flows, fails all three.
	spreadTries = 3
)

// flowFigures is what one side of the comparison measured.
type flowFigures struct {
	name      string
	checkFail time.Duration // to the router's route, before the flows
	holdTime  time.Duration
	perDir    []int     // flows each director carried at the start
	pktShare  []float64 // share of the client's packets each director forwarded
	faults    []string
	kept      []int // established connections still working after each fault
	total     []int
	moved     []int // flows that changed director at each fault (BGP)
	detection []time.Duration
	broken    []map[string]int
}

func (f flowFigures) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: flows per director %v, share of packets %s\n", f.name, f.perDir, percents(f.pktShare))
	if f.checkFail > 0 {
		fmt.Fprintf(&b, "  router's route, no flows: reals lost (fall 2 × 500 ms + 400 ms) %s, router link cut (hold time 3 s) %s\n",
			f.checkFail.Round(time.Millisecond), f.holdTime.Round(time.Millisecond))
	}
	for i, fault := range f.faults {
		fmt.Fprintf(&b, "  %-34s kept %3d/%d", fault, f.kept[i], f.total[i])
		if f.moved != nil {
			fmt.Fprintf(&b, "  moved to another director %3d", f.moved[i])
		}
		if f.detection != nil {
			fmt.Fprintf(&b, "  new path after %s", f.detection[i].Round(time.Millisecond))
		}
		if len(f.broken[i]) > 0 {
			fmt.Fprintf(&b, "  broken: %v", f.broken[i])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func percents(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f %%", 100*x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// Three directors in BGP mode (mh with mh-port, sloppy_tcp) behind a
// BIRD router that installs one next hop
// per director and hashes flows on L4, then the same client against a
// keepalived VRRP pair (the seed's DR layout, wrr, no sync daemon):
//   - the router's route follows the directors: a director that loses
//     its reals, or whose router link is cut (the hold time), SIGTERM,
//     a restart, kill -9;
//   - each of 200 flows reaches the same real whichever director the
//     router sends it through (forced in turn with a policy route);
//   - 200 flows spread within 20 % of even over the three directors;
//   - every established connection survives SIGTERM, a director joining,
//     kill -9 and a director losing its reals, though each moves flows
//     between directors,
//     because every director's mh picks the same real and sloppy_tcp lets
//     it take a flow mid-stream; the pair loses every connection on the
//     master's kill -9 and link cut, since its backup has no state for
//     them.
func TestBGPECMP(t *testing.T) {
	bin, done := guestBinary(t)
	if done {
		return
	}
	var bgp, vrrp flowFigures
	t.Run("directord BGP", func(t *testing.T) { bgp = bgpFlows(t, bin) })
	t.Run("keepalived VRRP pair", func(t *testing.T) { vrrp = vrrpFlows(t, bin) })
	report := "\n" + bgp.String() + vrrp.String()
	t.Log(report)
	fmt.Println(report)
}

// ecmpFault is a fault applied while the flows run, and the number of
// next hops the router has once it took effect.
type ecmpFault struct {
	name string
	hit  func()
	hops int
}

func bgpFlows(t testing.TB, bin string) flowFigures {
	e := newECMP(t, bin)
	f := flowFigures{name: "directord BGP, 3 directors"}
	f.checkFail, f.holdTime = e.routingFaults(t)
	dst := netip.AddrPortFrom(netip.MustParseAddr(ecmpVIP), lab.EchoPort)
	e.sameRealEverywhere(t, dst)
	e.waitHops(t, 3, "all three announce", 10*time.Second)
	cc := e.spreadFlows(t, dst, &f)
	defer cc.Close()
	var rx []func() int
	for _, ns := range e.directorNS() {
		rx = append(rx, rxPackets(t, ns))
	}
	f.pktShare = share(3*time.Second, rx...)

	d2 := e.directors[1]
	stopped := make(chan time.Duration, 1)
	for _, fault := range []ecmpFault{
		{"SIGTERM of d2", func() { go func() { stopped <- d2.Stop(t, 10*time.Second) }() }, 2},
		{"d2 started again", func() { d2.Start(t) }, 3},
		{"kill -9 of d2", d2.Kill, 2},
		{"d1's link to its reals cut", func() { _ = e.links[0].SetLink(false) }, 1},
	} {
		e.flowFault(t, cc, fault, &f)
		if fault.name == "SIGTERM of d2" {
			if d := <-stopped; d < time.Second {
				t.Errorf("d2 exited %s after SIGTERM, before its 1 s drain_time", d)
			}
		}
	}
	return f
}

// spreadFlows opens the long-lived flows through the router's ECMP route
// and checks they spread evenly over the directors.
func (e *ecmp) spreadFlows(t testing.TB, dst netip.AddrPort, f *flowFigures) *lab.ConnClient {
	for try := 1; ; try++ {
		cc, err := lab.OpenConns(e.client, []netip.Addr{e.client.Addr}, dst, ecmpFlows, ecmpLineEvery, ecmpStall)
		if err != nil {
			t.Fatal(err)
		}
		f.perDir = make([]int, len(e.directors))
		carriers := e.carriers(t)
		for _, c := range cc.Conns() {
			// Only this set's flows: the entries of a closed set linger.
			if d, ok := carriers[c.Local.Port()]; ok {
				f.perDir[d]++
			}
		}
		if even(f.perDir, 0.2) {
			return cc
		}
		t.Logf("set %d of %d flows: %v per director, not within 20 %% of even", try, ecmpFlows, f.perDir)
		cc.Close()
		if try == spreadTries {
			t.Fatalf("%d sets of %d flows were each spread unevenly over the directors", spreadTries, ecmpFlows)
		}
	}
}

// flowFault applies fault, waits for the router's route to follow, lets
// the flows run, and counts those kept and those that changed director.
func (e *ecmp) flowFault(t testing.TB, cc *lab.ConnClient, fault ecmpFault, f *flowFigures) {
	t.Helper()
	before := e.carriers(t)
	hitAt := time.Now()
	fault.hit()
	took := e.waitHops(t, fault.hops, fault.name, 10*time.Second)
	time.Sleep(ecmpSettle)
	after := e.carriers(t)
	moved := 0
	for port, d := range before {
		if a, ok := after[port]; ok && a != d {
			moved++
		}
	}
	kept, total := cc.Kept()
	f.faults = append(f.faults, fault.name)
	f.kept, f.total, f.moved = append(f.kept, kept), append(f.total, total), append(f.moved, moved)
	f.detection = append(f.detection, took)
	f.broken = append(f.broken, brokenReasons(cc))
	if kept != total {
		t.Errorf("%s: %d of %d established connections broke: %v", fault.name, total-kept, total, brokenReasons(cc))
		e.explainBroken(t, cc, hitAt, before, after)
	}
	if moved == 0 {
		t.Errorf("%s: no flow changed director", fault.name)
	}
}

// sameRealEverywhere sends the same 200 flows (source ports 41000 and
// up) through each director in turn, with a policy route on the router
// for the client's traffic, and checks that each flow reaches the same
// real through all three, and that the three reals share the flows.
func (e *ecmp) sameRealEverywhere(t testing.TB, dst netip.AddrPort) {
	t.Helper()
	if out, err := e.router.Run("ip", "rule", "add", "iif", "eth2", "lookup", "100", "pref", "100"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	// Each director has an IPVS entry for each flow it forwarded (reset
	// ones stay 10 s): before its turn it has none of these ports, after
	// it all 200, so every flow went through it.
	picks := make([][]string, len(e.directors))
	for i, d := range e.directors {
		if n := e.flowEntries(t, i, 41000, ecmpFlows); n != 0 {
			t.Fatalf("%s has %d entries of the flows before they were sent through it", d.Name, n)
		}
		via := fmt.Sprintf("10.9.2.1%d", i+1)
		if out, err := e.router.Run("ip", "route", "replace", ecmpVIP+"/32", "via", via, "table", "100"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		picks[i] = make([]string, ecmpFlows)
		// Eight at a time: the client and the reals are this process.
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		errs := make(chan error, ecmpFlows)
		for k := range ecmpFlows {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				real, err := echoOnce(e.client, 41000+k, dst)
				if err != nil {
					errs <- fmt.Errorf("flow %d through %s: %w", k, d.Name, err)
				}
				picks[i][k] = real
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if n := e.flowEntries(t, i, 41000, ecmpFlows); n != ecmpFlows {
			t.Fatalf("forcing %d flows through %s, it has entries of %d", ecmpFlows, d.Name, n)
		}
	}
	if out, err := e.router.Run("ip", "rule", "del", "pref", "100"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	perReal := map[string]int{}
	differ := 0
	for k := range ecmpFlows {
		perReal[picks[0][k]]++
		if picks[1][k] != picks[0][k] || picks[2][k] != picks[0][k] {
			differ++
			if differ <= 5 {
				t.Errorf("flow from port %d reached %s, %s and %s through d1, d2 and d3", 41000+k, picks[0][k], picks[1][k], picks[2][k])
			}
		}
	}
	if differ > 0 {
		t.Fatalf("%d of %d flows reached a different real through another director", differ, ecmpFlows)
	}
	if len(perReal) != len(e.reals) {
		t.Errorf("the flows reached %v: mh-port should spread one client's flows over every real", perReal)
	}
	t.Logf("each of %d flows reached the same real through all three directors; flows per real %v", ecmpFlows, perReal)
}

// flowEntries counts director i's IPVS entries, whatever their state,
// from the client's ports first to first+n-1.
func (e *ecmp) flowEntries(t testing.TB, i, first, n int) int {
	out, err := e.directors[i].NS().Run("ipvsadm", "-Lnc")
	if err != nil {
		t.Fatalf("%s: %v %s", e.directors[i].Name, err, out)
	}
	seen := map[uint16]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "TCP" {
			continue
		}
		if ap, err := netip.ParseAddrPort(f[3]); err == nil && ap.Addr() == e.client.Addr && int(ap.Port()) >= first && int(ap.Port()) < first+n {
			seen[ap.Port()] = true
		}
	}
	return len(seen)
}

func (e *ecmp) directorNS() []*labnet.NS {
	var out []*labnet.NS
	for _, d := range e.directors {
		out = append(out, d.NS())
	}
	return out
}

// echoOnce opens a connection from the client's port, has one line
// echoed, and resets it (no TIME_WAIT, so the port can be used again at
// once): the name of the real that answered.
func echoOnce(c *lab.Host, port int, dst netip.AddrPort) (string, error) {
	var conn *net.TCPConn
	err := c.NS.Do(func() error {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: c.Addr.AsSlice(), Port: port}}
		nc, err := d.Dial("tcp4", dst.String())
		if err == nil {
			conn = nc.(*net.TCPConn)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetLinger(0)
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(conn, "0\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	name, _, _ := strings.Cut(line, " ")
	return name, nil
}

// ipvsConn is a line of ipvsadm -Lnc: "TCP 14:59 ESTABLISHED
// 10.9.1.2:40000 10.0.0.100:7 192.168.30.21:7".
var ipvsConn = regexp.MustCompile(`(?m)^TCP\s+(\d+):(\d+)\s+ESTABLISHED\s+(\S+)\s+(\S+)\s`)

// carriers maps each established flow's client port to the director that
// forwards it now: after a flow moved, the old director's entry lingers
// but stops being refreshed, so the entry with the most time left wins.
func (e *ecmp) carriers(t testing.TB) map[uint16]int {
	t.Helper()
	vip := netip.AddrPortFrom(netip.MustParseAddr(ecmpVIP), lab.EchoPort).String()
	best := map[uint16]int{}
	left := map[uint16]int{}
	for i, ns := range e.directorNS() {
		out, err := ns.Run("ipvsadm", "-Lnc")
		if err != nil {
			continue // a director whose link is cut still answers; one that is gone does not matter
		}
		for _, m := range ipvsConn.FindAllStringSubmatch(out, -1) {
			if m[4] != vip {
				continue
			}
			ap, err := netip.ParseAddrPort(m[3])
			if err != nil {
				continue
			}
			mins, _ := strconv.Atoi(m[1])
			sec, _ := strconv.Atoi(m[2])
			if s := mins*60 + sec; s > left[ap.Port()] {
				left[ap.Port()], best[ap.Port()] = s, i
			}
		}
	}
	return best
}

// even reports whether every count is within frac of the mean.
func even(counts []int, frac float64) bool {
	sum := 0
	for _, c := range counts {
		sum += c
	}
	mean := float64(sum) / float64(len(counts))
	for _, c := range counts {
		if d := float64(c) - mean; d > frac*mean || -d > frac*mean {
			return false
		}
	}
	return sum > 0
}

// ipvsStat reads one column of ipvsadm's --stats line for the service
// dst in ns ("Conns", "InPkts"…), as exact numbers.
func ipvsStat(t testing.TB, ns *labnet.NS, dst netip.AddrPort, col string) int {
	t.Helper()
	out, err := ns.Run("ipvsadm", "-Ln", "--stats", "--exact", "-t", dst.String())
	if err != nil {
		t.Fatalf("%s: %v %s", ns.Name, err, out)
	}
	var head []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 2 && f[0] == "Prot":
			head = f[1:] // Prot LocalAddress:Port Conns InPkts…: the values line has no "Prot"
		case len(f) > 2 && f[0] == "TCP" && head != nil:
			for i, h := range head {
				if h == col && i+1 < len(f) {
					n, _ := strconv.Atoi(f[i+1])
					return n
				}
			}
		}
	}
	t.Fatalf("%s: no %s column for %s in:\n%s", ns.Name, col, dst, out)
	return 0
}

// share is each counter's share of what all of them counted over
// window.
func share(window time.Duration, counters ...func() int) []float64 {
	was := make([]int, len(counters))
	for i, c := range counters {
		was[i] = c()
	}
	time.Sleep(window)
	out := make([]float64, len(counters))
	sum := 0.0
	for i, c := range counters {
		out[i] = float64(c() - was[i])
		sum += out[i]
	}
	for i := range out {
		out[i] /= max(sum, 1)
	}
	return out
}

// rxPackets counts the packets a director received from the router: on
// that link they are the clients' packets but for a BGP keepalive a
// second and the odd ARP. (IPVS's own counters are published by its
// estimator every 2 s, at a phase of its own in each namespace, too
// coarse to compare directors over a few seconds.)
func rxPackets(t testing.TB, ns *labnet.NS) func() int {
	return func() int {
		n := 0
		err := ns.Netlink(func(h *netlink.Handle) error {
			l, err := h.LinkByName("eth0")
			if err == nil {
				n = int(l.Attrs().Statistics.RxPackets)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", ns.Name, err)
		}
		return n
	}
}

// explainBroken logs, for each connection broken since the fault, when it
// broke, which directors carried it, and every director's entry for it.
func (e *ecmp) explainBroken(t testing.TB, cc *lab.ConnClient, hitAt time.Time, before, after map[uint16]int) {
	tables := make([]string, len(e.directors))
	for i, ns := range e.directorNS() {
		tables[i], _ = ns.Run("ipvsadm", "-Lnc")
	}
	for _, c := range cc.Conns() {
		if c.Broken == "" || c.BrokeAt.Before(hitAt) {
			continue
		}
		port := strconv.Itoa(int(c.Local.Port()))
		t.Logf("%s (real %s) broke (%s) %s after the fault; director before %d, after %d (0-based)", c.Local, c.Real, c.Broken,
			c.BrokeAt.Sub(hitAt).Round(time.Millisecond), before[c.Local.Port()], after[c.Local.Port()])
		for i, tab := range tables {
			for _, line := range strings.Split(tab, "\n") {
				if strings.Contains(line, ":"+port+" ") {
					t.Logf("  %s: %s", e.directors[i].Name, line)
				}
			}
		}
	}
}

func brokenReasons(cc *lab.ConnClient) map[string]int {
	m := map[string]int{}
	for _, c := range cc.Conns() {
		if c.Broken != "" {
			m[c.Broken]++
		}
	}
	return m
}

// vrrpFlows runs the client against keepalived's pair on the same
// faults: the master's kill -9, then (the pair restored) its link cut.
func vrrpFlows(t testing.TB, bin string) flowFigures {
	s, err := startSurvival(t, bin, impl{name: "keepalived", keepalived: true}, lab.EchoService{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	f := flowFigures{name: "keepalived VRRP pair (wrr, no sync daemon)"}
	dirs := []*labnet.NS{s.lab.Hosts["lb1"].NS, s.lab.Hosts["lb2"].NS}
	for i, fault := range []string{faultKill, faultLink} {
		if err := s.waitFor("lb1 master, lb2 backup", func() bool { return s.lb1.State() == "MASTER" && s.lb2.State() == "BACKUP" }); err != nil {
			t.Fatal(err)
		}
		// After the restore lb1 preempted lb2: a SYN the client sent to
		// lb2 just before would have its ACK reach lb1 and be reset.
		time.Sleep(time.Second)
		cc, err := lab.OpenConns(s.lab.Client, s.srcs, s.dst, ecmpFlows, ecmpLineEvery, ecmpStall)
		if err != nil {
			t.Fatal(s.explain(err))
		}
		if i == 0 {
			// Over more than one of the estimator's passes: the backup's
			// count stays 0 whatever its phase.
			f.pktShare = share(2100*time.Millisecond, func() int { return ipvsStat(t, dirs[0], s.dst, "InPkts") },
				func() int { return ipvsStat(t, dirs[1], s.dst, "InPkts") })
			f.perDir = []int{ecmpFlows, 0}
		}
		start := time.Now()
		if err := s.hit(fault); err != nil {
			t.Fatal(err)
		}
		if err := s.waitFor("lb2 master after "+fault, func() bool { return s.lb2.State() == "MASTER" }); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		// As long as the BGP side's, unless every connection broke.
		poll(ecmpSettle, func() bool { kept, _ := cc.Kept(); return kept == 0 })
		kept, total := cc.Kept()
		f.faults = append(f.faults, fault+" of the master")
		f.kept, f.total = append(f.kept, kept), append(f.total, total)
		f.detection = append(f.detection, took)
		f.broken = append(f.broken, brokenReasons(cc))
		cc.Close()
		if err := s.restore(fault); err != nil {
			t.Fatal(err)
		}
	}
	// keepalived's backup has no state for the master's connections: this
	// is the reference's behaviour, recorded, not a failure of the test.
	return f
}
