package vrrp_test

// Helpers of the integration tests: the real directord binary in network
// namespaces on this kernel, two directors and an observer on a bridge.

import (
	"os"
	"sync"
	"testing"
	"time"

	"directord/internal/harness"
	"directord/internal/testenv"
	"directord/vrrp"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func directord(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "tcpdump")
	buildOnce.Do(func() { binPath, buildErr = harness.BuildDirectord() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func newPair(t *testing.T) *harness.Pair {
	return harness.NewPair(t, directord(t))
}

func macOf(p *harness.Pair, d *harness.Director) string { return d.Port.MAC.String() }

// startPair runs lb1 and lb2 with the given instance blocks and waits for
// the expected master.
// startPair writes both configs and starts the expected master first:
// a director started earlier becomes master before a higher-priority one
// whose Master_Down_Interval has not run out yet (RFC 9568 §6.4.1), and a
// director takes about 70 ms to start here, more than the 39 ms between
// the intervals at priorities 100 and 200. Tests that need another start
// order start the directors themselves.
func startPair(t *testing.T, p *harness.Pair, lb1, lb2 string, master *harness.Director) {
	t.Helper()
	p.LB1.WriteConfig(t, lb1)
	p.LB2.WriteConfig(t, lb2)
	other := p.LB2
	if master == p.LB2 {
		other = p.LB1
	}
	master.Start(t)
	other.Start(t)
	master.WaitState(t, "web", "MASTER", 5*time.Second)
}

func transitions(t *testing.T, d *harness.Director, instance string) []vrrp.TransitionRecord {
	t.Helper()
	for _, in := range d.Status(t).VRRP.Instances {
		if in.Name == instance {
			return in.Transitions
		}
	}
	t.Fatalf("%s has no instance %s", d.Name, instance)
	return nil
}

func instanceStatus(t *testing.T, d *harness.Director, instance string) vrrp.InstanceStatus {
	t.Helper()
	for _, in := range d.Status(t).VRRP.Instances {
		if in.Name == instance {
			return in
		}
	}
	t.Fatalf("%s has no instance %s", d.Name, instance)
	return vrrp.InstanceStatus{}
}

// onlyHolder checks that exactly `holder` has the VIP.
func onlyHolder(t *testing.T, p *harness.Pair, holder *harness.Director) {
	t.Helper()
	for _, d := range []*harness.Director{p.LB1, p.LB2} {
		if got := d.HasAddr(t, harness.VIP.String()); got != (d == holder) {
			t.Errorf("%s has the VIP: %v, want %v", d.Name, got, d == holder)
		}
	}
}

// addTrackLink gives d a link "trk0" to track: a veth pair inside its
// namespace, both ends up.
func addTrackLink(t *testing.T, d *harness.Director) {
	t.Helper()
	if _, err := d.NS().Run("sh", "-c", "ip link add trk0 type veth peer name trk1 && ip link set trk1 up && ip link set trk0 up"); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
