package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/uml"
	"directord/internal/vmtest"
)

// envECMPRuns sets how many times BenchmarkBGPECMP runs each side.
const envECMPRuns = "DIRECTORD_ECMP_RUNS"

// BenchmarkBGPECMP runs TestBGPECMP's two sides several times (3, or
// DIRECTORD_ECMP_RUNS) in one guest, each run on a fresh topology, and
// prints the medians: the router's route change after each fault, the
// connections kept, the flows' spread and the directors' share of the
// packets, for three directors in BGP mode and for a keepalived pair.
//
//	./scripts/bench.sh bgp
func BenchmarkBGPECMP(b *testing.B) {
	bin, err := harness.BuildDirectord()
	if err != nil {
		b.Fatal(err)
	}
	if !uml.InGuest() {
		vmtest.RunInGuest(b, vmtest.WithEnv(map[string]string{harness.EnvBinary: bin, envECMPRuns: os.Getenv(envECMPRuns)}),
			vmtest.WithOutput(os.Stdout), vmtest.WithMem("1G"))
		return
	}
	runs := 3
	if n, err := strconv.Atoi(os.Getenv(envECMPRuns)); err == nil && n > 0 {
		runs = n
	}
	var bgp, vrrp []flowFigures
	for i := range runs {
		b.Run(fmt.Sprintf("directord-%d", i+1), func(b *testing.B) { bgp = append(bgp, bgpFlows(b, bin)) })
		b.Run(fmt.Sprintf("keepalived-%d", i+1), func(b *testing.B) { vrrp = append(vrrp, vrrpFlows(b, bin)) })
	}
	for _, f := range append(slices.Clone(bgp), vrrp...) {
		fmt.Print(f)
	}
	fmt.Print(ecmpTable(bgp, vrrp))
}

// ecmpTable renders the runs as markdown: a line per fault with the
// median time to the new path, its range, and the connections kept.
func ecmpTable(bgp, vrrp []flowFigures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d runs each; medians, [min–max]\n\n| | fault | new path after | connections kept |\n|---|---|---|---|\n", len(bgp))
	row := func(who, fault string, ds []time.Duration, kept []int, total int) {
		k := "–"
		if total > 0 {
			k = fmt.Sprintf("%s of %d", intsRange(kept), total)
		}
		fmt.Fprintf(&b, "| %s | %s | %s [%s–%s] | %s |\n", who, fault, medianDur(ds), slices.Min(ds).Round(time.Millisecond),
			slices.Max(ds).Round(time.Millisecond), k)
	}
	if len(bgp) > 0 {
		var check, hold []time.Duration
		for _, f := range bgp {
			check, hold = append(check, f.checkFail), append(hold, f.holdTime)
		}
		row("BGP, 3 directors", "reals lost (no flows)", check, nil, 0)
		row("BGP, 3 directors", "router link cut, hold time 3 s (no flows)", hold, nil, 0)
		faultRows(bgp, "BGP, 3 directors", row)
	}
	faultRows(vrrp, "keepalived pair", row)
	b.WriteString("\n| | flows per director (each run) | share of packets (each run) |\n|---|---|---|\n")
	for _, set := range []struct {
		who string
		fs  []flowFigures
	}{{"BGP, 3 directors", bgp}, {"keepalived pair", vrrp}} {
		var flows, shares []string
		for _, f := range set.fs {
			flows, shares = append(flows, fmt.Sprint(f.perDir)), append(shares, percents(f.pktShare))
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", set.who, strings.Join(flows, " "), strings.Join(shares, " "))
	}
	return b.String()
}

func faultRows(fs []flowFigures, who string, row func(who, fault string, ds []time.Duration, kept []int, total int)) {
	if len(fs) == 0 {
		return
	}
	for i, fault := range fs[0].faults {
		var ds []time.Duration
		var kept []int
		total := 0
		for _, f := range fs {
			if i < len(f.faults) {
				ds, kept, total = append(ds, f.detection[i]), append(kept, f.kept[i]), f.total[i]
			}
		}
		row(who, fault, ds, kept, total)
	}
}

func medianDur(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

// intsRange is "n" when every run kept the same, "min–max" otherwise.
func intsRange(v []int) string {
	lo, hi := slices.Min(v), slices.Max(v)
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}
