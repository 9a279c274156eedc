package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"directord/internal/lab"
	"directord/internal/labnet"
)

// weights reads the kernel's IPVS table in ns with ipvsadm, the
// independent reader: destination address → weight.
func weights(t *testing.T, ns *labnet.NS) map[string]int {
	t.Helper()
	out, err := ns.Run("ipvsadm", "-Ln")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s+->\s+(\S+):\d+\s+\S+\s+(\d+)\s`)
	w := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		// ipvsadm brackets IPv6 addresses: [2001:db8::1]:80.
		w[strings.Trim(m[1], "[]")], _ = strconv.Atoi(m[2])
	}
	return w
}

// waitWeight polls until the real at addr has weight want in ns.
func waitWeight(t *testing.T, ns *labnet.NS, addr string, want int, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if w, ok := weights(t, ns)[addr]; ok && w == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: weight of %s is %v after %s, want %d", ns.Name, addr, weights(t, ns), timeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Time {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
	return time.Now()
}

// poll checks cond every 10 ms until it holds (true) or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// step is one line of the report.
type step struct {
	name   string
	outage lab.Outage
	note   string
}

func report(t *testing.T, title string, steps []step) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n%-58s %8s %10s  %s\n", title, "step", "failed", "window", "")
	for _, s := range steps {
		fmt.Fprintf(&b, "%-58s %3d/%-4d %10s  %s\n", s.name, s.outage.Failed, s.outage.Requests,
			s.outage.Window.Round(time.Millisecond), s.note)
	}
	t.Log(b.String())
	fmt.Print(b.String())
}

// failedOutside returns the failed requests that are not inside the
// window [from, to].
func failedOutside(reqs []lab.Request, from, to time.Time) []lab.Request {
	var out []lab.Request
	for _, r := range reqs {
		if !r.OK && (r.Start.Before(from) || r.End.After(to)) {
			out = append(out, r)
		}
	}
	return out
}

// between keeps the requests that started in [from, to).
func between(reqs []lab.Request, from, to time.Time) []lab.Request {
	var out []lab.Request
	for _, r := range reqs {
		if !r.Start.Before(from) && r.Start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

func answeredBy(reqs []lab.Request, real string) int {
	n := 0
	for _, r := range reqs {
		if r.OK && r.Real == real {
			n++
		}
	}
	return n
}

// logFailed logs each failed request of reqs, its times from t0: what
// tells a guest's stall (a timeout alone) from a fault (a reset, a
// refusal, or several in a row).
func logFailed(t *testing.T, reqs []lab.Request, t0 time.Time) {
	t.Helper()
	for _, q := range reqs {
		if !q.OK {
			t.Logf("  +%s..+%s %s", q.Start.Sub(t0).Round(time.Millisecond), q.End.Sub(t0).Round(time.Millisecond), q.Err)
		}
	}
}
