package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/lab"
	"directord/internal/uml"
	"directord/internal/vmtest"
)

// BenchmarkFailoverSurvival measures, in one guest, how many long-lived
// connections survive each fault and its failback, in DR, NAT and
// persistent DR, for directord with both sync daemons on both directors
// (what it ships), directord with the daemons following VRRP
// (keepalived's way), directord without sync (the baseline), and a
// keepalived pair with lvs_sync_daemon. It prints the README's table.
//
//	./scripts/bench.sh sync
func BenchmarkFailoverSurvival(b *testing.B) {
	bin, err := harness.BuildDirectord()
	if err != nil {
		b.Fatal(err)
	}
	if !uml.InGuest() {
		vmtest.RunInGuest(b, vmtest.WithEnv(map[string]string{harness.EnvBinary: bin}), vmtest.WithOutput(os.Stdout), vmtest.WithMem("1G"))
		return
	}
	impls := []impl{
		{name: "directord: both daemons, `preempt_delay` 5s", sync: lab.SyncBoth, preemptDelay: 5 * time.Second},
		{name: "both daemons, no delay", sync: lab.SyncBoth},
		{name: "daemons follow VRRP", sync: lab.SyncFollow},
		{name: "keepalived `lvs_sync_daemon`", keepalived: true, sync: lab.SyncFollow},
		{name: "directord, sync off", sync: lab.SyncOff},
	}
	var rows []row
	for _, im := range impls {
		rows = append(rows, runSurvival(b, bin, im, allFaults)...)
	}
	fmt.Print(survivalTable(rows, impls))
	for _, r := range rows {
		if r.err != nil {
			fmt.Printf("\n%s, %s, %s:\n%v\n", r.impl, r.mode, r.fault, r.err)
		}
	}
}

// survivalTable renders the rows as markdown: one line per mode and
// fault, one column per implementation, each cell "established kept
// through failover / failback · opened on the backup kept through
// failback".
func survivalTable(rows []row, impls []impl) string {
	var b strings.Builder
	b.WriteString("\n| mode | fault |")
	for _, im := range impls {
		fmt.Fprintf(&b, " %s |", im.name)
	}
	b.WriteString("\n|---|---|")
	for range impls {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, m := range survivalModes {
		for _, f := range faults {
			fmt.Fprintf(&b, "| %s | %s |", m.name, f)
			for _, im := range impls {
				cell := "–"
				for _, r := range rows {
					if r.impl == im.name && r.mode == m.name && r.fault == f {
						cell = r.res.cell()
						if r.err != nil {
							cell = "failed (below)"
						}
					}
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
			b.WriteString("\n")
		}
	}
	for _, r := range rows {
		if r.err != nil {
			head, _, _ := strings.Cut(r.err.Error(), "\n")
			fmt.Fprintf(&b, "\n%s, %s, %s failed: %s", r.impl, r.mode, r.fault, head)
		}
	}
	b.WriteString("\ncells: established connections kept at the failover / at the failback · connections opened on the backup kept at the failback" +
		" (· persistent clients on their real after failover / failback)\n")
	return b.String()
}

func (r cycleResult) cell() string {
	s := fmt.Sprintf("%d/%d, %d/%d · %d/%d", r.afterFailover, r.total, r.afterFailback, r.total, r.openedKept, r.opened)
	if r.clients > 0 {
		s += fmt.Sprintf(" · %d/%d, %d/%d", r.pinned, r.clients, r.pinnedBack, r.clients)
	}
	return s
}
