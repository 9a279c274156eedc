package vrrp_test

// Scenarios run twice: by the namespace tests with real directord
// processes, and by the simulator. Both must make the transitions in
// testdata/scenarios, each director's in order.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"directord/vrrp"
	"directord/vrrp/vrrptest"
)

// sameTransitions compares each director's transitions with the
// scenario's golden file.
func sameTransitions(t *testing.T, scenario string, got map[string][]vrrp.TransitionRecord) {
	t.Helper()
	var b strings.Builder
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		var steps []string
		for _, tr := range got[n] {
			steps = append(steps, tr.From+"→"+tr.To+" "+tr.Reason)
		}
		b.WriteString(n + ": " + strings.Join(steps, ", ") + "\n")
	}
	want, err := os.ReadFile(filepath.Join("testdata", "scenarios", scenario+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("scenario %s made other transitions than testdata/scenarios/%s.txt:\ngot:\n%swant:\n%s", scenario, scenario, b.String(), want)
	}
}

// simPair is lb1 (10.0.0.1) and lb2 (10.0.0.2) on one simulated LAN, as
// harness.NewPair is on a bridge.
type simPair struct {
	lan      *vrrptest.LAN
	h1, h2   *vrrptest.Host
	lb1, lb2 *simRouter
}

func newSimPair() *simPair {
	lan := vrrptest.NewLAN(1)
	return &simPair{lan: lan, h1: lan.AddHost("lb1", "eth0", simAddrs[0]), h2: lan.AddHost("lb2", "eth0", simAddrs[1])}
}

func (s *simRouter) transitions(t *testing.T, name string) []vrrp.TransitionRecord {
	t.Helper()
	return s.status(t)[name].Transitions
}

// web is the namespace tests' instance: VRID 51, 100 ms adverts.
func web(prio uint8) vrrp.Config { return simInstance("web", 51, prio) }

func TestScenarioKillMasterSim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimPair()
		p.lb2 = startSim(t, p.h2, web(200))
		p.lb1 = startSim(t, p.h1, web(100))
		time.Sleep(2 * time.Second)
		p.h2.Crash() // kill -9
		p.lb2.stop()
		time.Sleep(time.Second)
		if p.lb1.state(t, "web") != "MASTER" || !p.h2.HasAddr(simVIP.Addr()) {
			t.Fatalf("after kill -9: lb1 %s; the killed one keeps its VIP: %v", p.lb1.state(t, "web"), p.h2.HasAddr(simVIP.Addr()))
		}
		p.h2.Revive()
		p.lb2 = startSim(t, p.h2, web(200))
		time.Sleep(2 * time.Second)
		oneMaster(t, "web", p.lb1, p.lb2)
		sameTransitions(t, "kill-master", map[string][]vrrp.TransitionRecord{
			"lb1": p.lb1.transitions(t, "web"), "lb2": p.lb2.transitions(t, "web")})
	})
}

func TestScenarioSplitBrainSim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimPair()
		p.lb2 = startSim(t, p.h2, web(200))
		p.lb1 = startSim(t, p.h1, web(100))
		time.Sleep(2 * time.Second)
		p.lan.Partition([]*vrrptest.Host{p.h1}, []*vrrptest.Host{p.h2})
		time.Sleep(2 * time.Second)
		if p.lb1.state(t, "web") != "MASTER" || p.lb2.state(t, "web") != "MASTER" {
			t.Fatalf("isolated: lb1 %s, lb2 %s", p.lb1.state(t, "web"), p.lb2.state(t, "web"))
		}
		healed := time.Now()
		p.lan.Partition()
		time.Sleep(time.Second)
		trs := p.lb1.transitions(t, "web")
		if took := trs[len(trs)-1].At.Sub(healed); took > 100*time.Millisecond {
			t.Errorf("two masters for %s after the heal, want at most one advert interval", took)
		}
		oneMaster(t, "web", p.lb1, p.lb2)
		sameTransitions(t, "split-brain", map[string][]vrrp.TransitionRecord{
			"lb1": trs, "lb2": p.lb2.transitions(t, "web")})
	})
}

func TestScenarioPreemptDelaySim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newSimPair()
		p.lb2 = startSim(t, p.h2, web(100))
		time.Sleep(3 * time.Second)
		c := web(200)
		c.Params.PreemptDelay = 1500 * time.Millisecond
		started := time.Now()
		p.lb1 = startSim(t, p.h1, c)
		time.Sleep(3 * time.Second)
		trs := p.lb1.transitions(t, "web")
		if waited := trs[len(trs)-1].At.Sub(started); waited < 1500*time.Millisecond || waited > 2500*time.Millisecond {
			t.Errorf("preempted %s after start, want after preempt_delay (1.5s) and within a second of it", waited)
		}
		oneMaster(t, "web", p.lb1, p.lb2)
		sameTransitions(t, "preempt-delay", map[string][]vrrp.TransitionRecord{
			"lb1": trs, "lb2": p.lb2.transitions(t, "web")})
	})
}
