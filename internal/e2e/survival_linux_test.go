package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"directord/internal/lab"
)

// The long-lived connection scenario of issue 10: 50 connections through
// the VIP, a line every 100 ms each; a reset, a close or 2 s without an
// answer breaks one. 8 s in, the master is hit; then it comes back and
// takes over again.
const (
	longConns    = 50
	lineEvery    = 100 * time.Millisecond
	stallLimit   = 2 * time.Second
	warmUp       = 8 * time.Second
	holdAfter    = 3 * time.Second // longer than the stall limit
	persistFor   = 300 * time.Second
	clientSrcs   = 5
	transitionIn = 10 * time.Second
)

// Faults on the active director.
const (
	faultTerm = "SIGTERM"
	faultKill = "kill -9"
	faultLink = "link cut"
)

// node is one director's daemon: directord or keepalived.
type node interface {
	Start() error
	Term()
	Kill()
	State() string
	Log() string
}

type directordNode struct{ *lab.Director }

func (d directordNode) Term()         { _ = d.Director.Term(5 * time.Second) }
func (d directordNode) State() string { return d.Director.State("web") }

type keepalivedNode struct{ *lab.Keepalived }

func (k keepalivedNode) State() string { return k.Keepalived.State() }

// impl is what runs on the two directors.
type impl struct {
	name       string
	keepalived bool
	sync       string
	// preemptDelay holds a returning master back while the one that
	// stood in for it syncs the connections it opened.
	preemptDelay time.Duration
}

// survival is a running pair on the scenario's topology.
type survival struct {
	lab      *lab.Lab
	lb1, lb2 node
	svc      lab.EchoService
	srcs     []netip.Addr
	dst      netip.AddrPort
}

// startSurvival builds the topology and starts the pair; close removes
// it all.
func startSurvival(t testing.TB, bin string, im impl, svc lab.EchoService) (*survival, error) {
	t.Helper()
	dirs, reals, _ := lab.Seed()
	var l *lab.Lab
	var err error
	tag := "sv"
	if svc.NAT {
		l, err = lab.BuildNAT(bin, tag, dirs, reals)
	} else {
		l, err = lab.Build(bin, tag, dirs, reals)
		if err == nil {
			for _, r := range l.Reals {
				if err = r.StartEcho(); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &survival{lab: l, svc: svc, dst: netip.AddrPortFrom(netip.MustParseAddr(svc.VIP()), lab.EchoPort)}
	base := l.Client.Addr.As4()
	for i := range clientSrcs {
		a := base
		a[3] += byte(i)
		src := netip.AddrFrom4(a)
		if i > 0 {
			if err := l.Client.AddAddr(netip.PrefixFrom(src, 24)); err != nil {
				t.Fatal(err)
			}
		}
		s.srcs = append(s.srcs, src)
	}
	dir := t.TempDir()
	mk := func(host string, prio int) node {
		if im.keepalived {
			k, err := lab.NewKeepalived(l.Hosts[host], dir, lab.EchoKeepalivedConfig(host, prio, lab.DefaultSettings, svc, reals))
			if err != nil {
				t.Fatal(err)
			}
			return keepalivedNode{k}
		}
		d, err := l.NewDirectorWith(host, prio, dir, func(socket string) string {
			return lab.EchoDirectordConfig(host, prio, socket, lab.DefaultSettings, svc, reals)
		})
		if err != nil {
			t.Fatal(err)
		}
		return directordNode{d}
	}
	s.lb1, s.lb2 = mk("lb1", 150), mk("lb2", 100)
	for _, n := range []node{s.lb1, s.lb2} {
		if err := n.Start(); err != nil {
			err = s.explain(err)
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// close stops the daemons and removes the topology.
func (s *survival) close() {
	s.lb1.Kill()
	s.lb2.Kill()
	s.lab.Close()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// cycleResult is what one fault and its failback did to the connections:
// those opened before the fault, and those opened on the backup while it
// was master (which the old master must have received to keep them when
// it takes over again).
type cycleResult struct {
	total, afterFailover, afterFailback int
	opened, openedKept                  int
	// Persistent clients that reached their real again with a new
	// connection, after the failover and after the failback.
	pinned, pinnedBack, clients int
	reasons                     map[string]int
}

// cycle opens the connections, waits, hits lb1, waits for lb2, brings lb1
// back, waits for it to take over again, and counts what survived. It
// returns an error, with what explains it, when the pair itself fails (a
// director that never takes over, connections that cannot open): the
// benchmark records that and goes on with the next implementation.
func (s *survival) cycle(t testing.TB, fault string) (cycleResult, error) {
	t.Helper()
	res := cycleResult{reasons: map[string]int{}}
	if err := s.waitFor("lb1 master, lb2 backup", func() bool { return s.lb1.State() == "MASTER" && s.lb2.State() == "BACKUP" }); err != nil {
		return res, err
	}
	cc, err := lab.OpenConns(s.lab.Client, s.srcs, s.dst, longConns, lineEvery, stallLimit)
	if err != nil {
		return res, s.explain(err)
	}
	defer cc.Close()
	before := lab.RealOf(cc.Conns())
	time.Sleep(warmUp)
	if s.svc.Persistence > 0 {
		res.clients = len(before)
	}

	if err := s.hit(fault); err != nil {
		return res, err
	}
	if err := s.waitFor("lb2 master after "+fault, func() bool { return s.lb2.State() == "MASTER" }); err != nil {
		return res, err
	}
	time.Sleep(holdAfter)
	res.afterFailover, res.total = cc.Kept()
	res.pinned = s.pinned(t, before)
	// Connections opened on the backup while it is master: the old
	// master's kernel must learn them for the failback.
	nc, err := lab.OpenConns(s.lab.Client, s.srcs, s.dst, longConns, lineEvery, stallLimit)
	if err != nil {
		return res, s.explain(err)
	}
	defer nc.Close()
	time.Sleep(holdAfter)

	if err := s.restore(fault); err != nil {
		return res, err
	}
	back := func() bool { return s.lb1.State() == "MASTER" && s.lb2.State() == "BACKUP" }
	if !poll(transitionIn+s.svc.PreemptDelay, back) {
		return res, s.explain(fmt.Errorf("timed out after %s waiting for lb1 master again after %s", transitionIn+s.svc.PreemptDelay, fault))
	}
	time.Sleep(holdAfter)
	res.afterFailback, _ = cc.Kept()
	res.openedKept, res.opened = nc.Kept()
	res.pinnedBack = s.pinned(t, before)
	for _, c := range append(cc.Conns(), nc.Conns()...) {
		if c.Broken != "" {
			res.reasons[c.Broken]++
		}
	}
	return res, nil
}

// hit applies the fault to lb1, the active director.
func (s *survival) hit(fault string) error {
	switch fault {
	case faultTerm:
		s.lb1.Term()
	case faultKill:
		s.lb1.Kill()
	case faultLink:
		return s.lab.Hosts["lb1"].SetLinks(false)
	}
	return nil
}

// restore brings lb1 back: its daemon started again, or its links.
func (s *survival) restore(fault string) error {
	if fault == faultLink {
		return s.lab.Hosts["lb1"].SetLinks(true)
	}
	return s.lb1.Start()
}

// waitFor waits for a transition, and explains a timeout.
func (s *survival) waitFor(what string, cond func() bool) error {
	if !poll(transitionIn, cond) {
		return s.explain(fmt.Errorf("timed out after %s waiting for %s", transitionIn, what))
	}
	return nil
}

// failure is a scenario that could not run to its end.
type failure struct {
	err  error
	why  string // diagnose output
	logs string
}

func (f *failure) Error() string { return f.err.Error() + "\n" + f.why + f.logs }

// explain wraps err with the state of the topology and the daemons' logs.
func (s *survival) explain(err error) error {
	return &failure{err: err, why: s.diagnose(),
		logs: fmt.Sprintf("lb1:\n%s\nlb2:\n%s\n", tail(s.lb1.Log(), 60), tail(s.lb2.Log(), 60))}
}

// diagnose gathers what explains connections that do not open: who
// holds the VIPs, the neighbour caches, the IPVS connection tables.
func (s *survival) diagnose() string {
	var b strings.Builder
	for _, name := range []string{"client", "lb1", "lb2", "rs1"} {
		h := s.lab.Hosts[name]
		if name == "client" {
			h = s.lab.Client
		}
		for _, cmd := range [][]string{{"ip", "-br", "addr"}, {"ip", "-br", "link"}, {"ip", "neigh"}} {
			out, _ := h.NS.Run(cmd[0], cmd[1:]...)
			fmt.Fprintf(&b, "%s$ %s\n%s", name, strings.Join(cmd, " "), out)
		}
		if strings.HasPrefix(name, "lb") {
			out, _ := h.NS.Run("ipvsadm", "-Lnc")
			fmt.Fprintf(&b, "%s$ ipvsadm -Lnc\n%s", name, tail(out, 15))
			out, _ = h.NS.Run("ipvsadm", "-L", "--daemon")
			fmt.Fprintf(&b, "%s$ ipvsadm -L --daemon\n%s", name, out)
		}
	}
	// A daemon stuck in the kernel (keepalived waiting for a netlink
	// answer, say) shows here.
	out, _ := exec.Command("sh", "-c", `ps -eo pid,stat,wchan:32,comm | grep -E 'keepalived|directord'; `+
		`for p in $(pgrep keepalived); do echo "== $p"; cat /proc/$p/stack; done`).CombinedOutput()
	b.Write(out)
	return b.String()
}

// pinned opens one new connection from each client address and counts
// those that reach the same real as before: with persistence, the
// template must have survived too.
func (s *survival) pinned(t testing.TB, before map[netip.Addr]string) int {
	t.Helper()
	if s.svc.Persistence == 0 {
		return 0
	}
	// In the reverse order of the first connections: a scheduler
	// starting afresh (no template survived) would then pick other reals,
	// where the same order would repeat its first picks by chance.
	srcs := slices.Clone(s.srcs)
	slices.Reverse(srcs)
	cc, err := lab.OpenConns(s.lab.Client, srcs, s.dst, len(srcs), time.Hour, stallLimit)
	if err != nil {
		t.Logf("new connections: %v", err)
		return 0
	}
	defer cc.Close()
	n := 0
	for src, real := range lab.RealOf(cc.Conns()) {
		if before[src] == real {
			n++
		}
	}
	return n
}

// modes are the service shapes the connections go through.
var survivalModes = []struct {
	name string
	svc  lab.EchoService
}{
	{"DR", lab.EchoService{}},

	{"NAT", lab.EchoService{NAT: true}},
	{"DR persistent", lab.EchoService{Persistence: persistFor}},
}

var faults = []string{faultTerm, faultKill, faultLink}

// envSurvivalAll set runs the whole table in TestConnectionsSurviveFailover.
const envSurvivalAll = "DIRECTORD_SURVIVAL_ALL"

// allFaults runs every fault on every mode: the benchmark's table.
func allFaults(string) []string { return faults }

// oneFaultEach is the test's diagonal of that table, so that every mode
// and every fault is run in CI in a third of the time (a cell takes about
// 30 s of the guest, most of it the preempt_delay and the connections'
// settling): DR through kill -9, NAT through the link cut (the cell that
// once lost a connection opened on the backup), persistent DR through
// SIGTERM. DIRECTORD_SURVIVAL_ALL=1 runs the whole table;
// ./scripts/bench.sh sync always does.
func oneFaultEach(mode string) []string {
	if os.Getenv(envSurvivalAll) != "" {
		return faults
	}
	return map[string][]string{"DR": {faultKill}, "NAT": {faultLink}, "DR persistent": {faultTerm}}[mode]
}

// row is one line of the results table.
type row struct {
	impl, mode, fault string
	res               cycleResult
	err               error // the pair failed: no figures
}

func (r row) String() string {
	if r.err != nil {
		head, _, _ := strings.Cut(r.err.Error(), "\n")
		return fmt.Sprintf("%-22s %-14s %-9s FAILED: %s", r.impl, r.mode, r.fault, head)
	}
	s := fmt.Sprintf("%-22s %-14s %-9s failover %2d/%d  failback %2d/%d  opened on the backup, failback %2d/%d", r.impl, r.mode, r.fault,
		r.res.afterFailover, r.res.total, r.res.afterFailback, r.res.total, r.res.openedKept, r.res.opened)
	if r.res.clients > 0 {
		s += fmt.Sprintf("  pinned %d/%d, %d/%d", r.res.pinned, r.res.clients, r.res.pinnedBack, r.res.clients)
	}
	if len(r.res.reasons) > 0 {
		s += fmt.Sprintf("  broken: %v", r.res.reasons)
	}
	return s
}

// runSurvival runs the faults that cells gives each mode, for im, one pair
// per mode, and returns the rows.
func runSurvival(t testing.TB, bin string, im impl, cells func(mode string) []string) []row {
	var rows []row
	for _, m := range survivalModes {
		svc := m.svc
		svc.Sync, svc.PreemptDelay = im.sync, im.preemptDelay
		func() {
			s, err := startSurvival(t, bin, im, svc)
			if err == nil {
				defer s.close()
			}
			for _, f := range cells(m.name) {
				r := row{impl: im.name, mode: m.name, fault: f, err: err}
				if err == nil {
					r.res, r.err = s.cycle(t, f)
					// What follows a failure would measure a pair in an
					// unknown state.
					err = r.err
				}
				t.Log(r)
				fmt.Println(r)
				rows = append(rows, r)
			}
		}()
	}
	return rows
}

// The shipped configuration (both sync daemons on both directors, and a
// preempt_delay so that a returning master first receives what its peer
// opened meanwhile: a connection that missed its first sync message is
// re-sent at its next 50th packet and the kernel flushes its sync buffer
// every 2 s, so these connections, at 10 to 20 packets a second, need up
// to 7 s; 5 s lost 2 of 50 in NAT once) keeps every established connection through SIGTERM,
// kill -9 and a link cut of the master and through the failback, in DR,
// NAT and persistent DR; persistent clients keep their real; and the
// connections opened on the backup while it was master survive the
// failback too. Each mode goes through one fault (oneFaultEach) unless
// DIRECTORD_SURVIVAL_ALL is set.
func TestConnectionsSurviveFailover(t *testing.T) {
	bin, done := guestBinary(t, envSurvivalAll)
	if done {
		return
	}
	rows := runSurvival(t, bin, impl{name: "directord", sync: lab.SyncBoth, preemptDelay: 10 * time.Second}, oneFaultEach)
	// A mode renamed out of oneFaultEach's table would silently not run.
	ran := map[string]bool{}
	for _, r := range rows {
		ran[r.mode], ran[r.fault] = true, true
	}
	for _, m := range survivalModes {
		if !ran[m.name] {
			t.Errorf("mode %s was not run", m.name)
		}
	}
	for _, f := range faults {
		if !ran[f] {
			t.Errorf("fault %s was not run", f)
		}
	}
	for _, r := range rows {
		if r.err != nil {
			t.Errorf("%s %s: %v", r.mode, r.fault, r.err)
			continue
		}
		res := r.res
		if res.afterFailover != res.total || res.afterFailback != res.total {
			t.Errorf("%s: established connections lost", r)
		}
		if strings.Contains(r.mode, "persistent") && (res.pinned != res.clients || res.pinnedBack != res.clients) {
			t.Errorf("%s: persistent clients moved to another real", r)
		}
		if res.openedKept != res.opened {
			t.Errorf("%s: connections opened on the backup lost at the failback", r)
		}
	}
}

// A real drained to weight 0 keeps its established connections, on the
// master and, synced, on the backup after a failover, while every new
// connection goes elsewhere.
func TestDrainedRealKeepsConnections(t *testing.T) {
	bin, done := guestBinary(t)
	if done {
		return
	}
	svc := lab.EchoService{Sync: lab.SyncBoth}
	s, err := startSurvival(t, bin, impl{name: "directord", sync: lab.SyncBoth}, svc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.waitFor("lb1 master, lb2 backup", func() bool { return s.lb1.State() == "MASTER" && s.lb2.State() == "BACKUP" }); err != nil {
		t.Fatal(err)
	}
	cc, err := lab.OpenConns(s.lab.Client, s.srcs, s.dst, longConns, lineEvery, stallLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	onRS3 := 0
	for _, c := range cc.Conns() {
		if c.Real == "rs3" {
			onRS3++
		}
	}
	if onRS3 == 0 {
		t.Fatal("no connection reached rs3 (weight 6 of 12)")
	}

	_, reals, _ := lab.Seed()
	for i := range reals {
		if reals[i].Name == "rs3" {
			reals[i].Weight = 0
		}
	}
	for _, n := range []node{s.lb1, s.lb2} {
		d := n.(directordNode)
		if _, err := lab.WriteFile(filepath.Dir(d.Config), filepath.Base(d.Config),
			lab.EchoDirectordConfig(d.Host.Name, d.Priority, d.Socket, lab.DefaultSettings, svc, reals)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	waitWeight(t, s.lab.Hosts["lb1"].NS, "192.168.11.14", 0, 5*time.Second)
	waitWeight(t, s.lab.Hosts["lb2"].NS, "192.168.11.14", 0, 5*time.Second)

	check := func(when string) {
		t.Helper()
		time.Sleep(holdAfter)
		if kept, total := cc.Kept(); kept != total {
			t.Errorf("%s: %d of %d established connections broke (%d were on the drained rs3)", when, total-kept, total, onRS3)
		}
		fresh, err := lab.OpenConns(s.lab.Client, s.srcs, s.dst, 30, lineEvery, stallLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		for _, c := range fresh.Conns() {
			if c.Real == "rs3" {
				t.Errorf("%s: a new connection from %s reached the drained rs3", when, c.Src)
			}
		}
	}
	check("drained on the master")
	s.lb1.Term()
	if err := s.waitFor("lb2 master", func() bool { return s.lb2.State() == "MASTER" }); err != nil {
		t.Fatal(err)
	}
	check("after a failover to the backup")
	t.Logf("%d connections on the drained rs3 kept through the drain and a failover; no new one reached it", onRS3)
}
