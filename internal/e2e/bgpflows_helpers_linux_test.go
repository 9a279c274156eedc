package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"directord/internal/lab"
	"directord/internal/labnet"
)

// What TestBGPECMP reads off the directors and the client.

func percents(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f %%", 100*x)
	}
	return "[" + strings.Join(s, ", ") + "]"
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

// carriers maps each established flow to the director that forwards it
// now: after a flow moved, the old director's entry lingers but stops
// being refreshed, so the entry with the most time left wins.
func (e *ecmp) carriers(t testing.TB) map[netip.AddrPort]int {
	return carriersOf(t, e.directorNS(), netip.AddrPortFrom(netip.MustParseAddr(ecmpVIP), lab.EchoPort))
}

// carriersOf maps each established flow to vip, by its client address
// and port, to the index of the director in dirs that forwards it.
func carriersOf(t testing.TB, dirs []*labnet.NS, vip netip.AddrPort) map[netip.AddrPort]int {
	t.Helper()
	best := map[netip.AddrPort]int{}
	left := map[netip.AddrPort]int{}
	for i, ns := range dirs {
		out, err := ns.Run("ipvsadm", "-Lnc")
		if err != nil {
			continue // a director whose link is cut still answers; one that is gone does not matter
		}
		for _, m := range ipvsConn.FindAllStringSubmatch(out, -1) {
			if m[4] != vip.String() {
				continue
			}
			ap, err := netip.ParseAddrPort(m[3])
			if err != nil {
				continue
			}
			mins, _ := strconv.Atoi(m[1])
			sec, _ := strconv.Atoi(m[2])
			if s := mins*60 + sec; s > left[ap] {
				left[ap], best[ap] = s, i
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
func (e *ecmp) explainBroken(t testing.TB, cc *lab.ConnClient, hitAt time.Time, before, after map[netip.AddrPort]int) {
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
			c.BrokeAt.Sub(hitAt).Round(time.Millisecond), before[c.Local], after[c.Local])
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
