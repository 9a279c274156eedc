package lvs_test

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/cloudflare/ipvs"

	"directord/lvs"
)

// sorrySvc is three reals of weight 1 with quorum 2, so one real down
// holds quorum and two lose it.
func sorrySvc(onFailure string, opts ...string) string {
	return fmt.Sprintf(`virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  quorum = 2
  on_failure = %q
  sorry_server = "10.0.0.99"
  %s
  real_server "10.0.0.1" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {}
}`, onFailure, strings.Join(opts, "\n  "))
}

// The desired table in every combination of quorum, on_failure,
// sorry_server_inhibit and sorry_server_keep_reals. keepalived's rule (the
// default) is that a sorry server in use replaces the whole pool: the reals
// still up are treated as failed.
func TestDesiredSorryMatrix(t *testing.T) {
	held, lost := down("10.0.0.1"), down("10.0.0.1", "10.0.0.2")
	for _, tc := range []struct {
		onFailure      string
		inhibit, keep  bool
		held, lostWant map[string]uint32
	}{
		{"weight_zero", false, false,
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 1, "10.0.0.3:80": 1},
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 0, "10.0.0.3:80": 0, "10.0.0.99:80": 1}},
		{"weight_zero", true, false,
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 1, "10.0.0.3:80": 1, "10.0.0.99:80": 0},
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 0, "10.0.0.3:80": 0, "10.0.0.99:80": 1}},
		{"weight_zero", false, true,
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 1, "10.0.0.3:80": 1},
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 0, "10.0.0.3:80": 1, "10.0.0.99:80": 1}},
		{"weight_zero", true, true,
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 1, "10.0.0.3:80": 1, "10.0.0.99:80": 0},
			map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 0, "10.0.0.3:80": 1, "10.0.0.99:80": 1}},
		{"remove", false, false,
			map[string]uint32{"10.0.0.2:80": 1, "10.0.0.3:80": 1},
			map[string]uint32{"10.0.0.99:80": 1}},
		{"remove", true, false,
			map[string]uint32{"10.0.0.2:80": 1, "10.0.0.3:80": 1, "10.0.0.99:80": 0},
			map[string]uint32{"10.0.0.99:80": 1}},
		{"remove", false, true,
			map[string]uint32{"10.0.0.2:80": 1, "10.0.0.3:80": 1},
			map[string]uint32{"10.0.0.3:80": 1, "10.0.0.99:80": 1}},
		{"remove", true, true,
			map[string]uint32{"10.0.0.2:80": 1, "10.0.0.3:80": 1, "10.0.0.99:80": 0},
			map[string]uint32{"10.0.0.3:80": 1, "10.0.0.99:80": 1}},
	} {
		name := fmt.Sprintf("%s/inhibit=%v/keep_reals=%v", tc.onFailure, tc.inhibit, tc.keep)
		t.Run(name, func(t *testing.T) {
			vss := parseServices(t, sorrySvc(tc.onFailure,
				fmt.Sprintf("sorry_server_inhibit = %v", tc.inhibit),
				fmt.Sprintf("sorry_server_keep_reals = %v", tc.keep)))
			k := vss[0].Service.ServiceKey
			tbl, q, st := lvs.Desired(vss, held, nil)
			if w := weights(tbl, k); !maps.Equal(w, tc.held) || q[k] || st[0].QuorumLost {
				t.Errorf("quorum held: %v (lost %v), want %v", w, q[k], tc.held)
			}
			tbl, q, st = lvs.Desired(vss, lost, q)
			if w := weights(tbl, k); !maps.Equal(w, tc.lostWant) || !q[k] || !st[0].QuorumLost || st[0].AliveWeight != 1 {
				t.Errorf("quorum lost: %v (lost %v, alive %d), want %v", w, q[k], st[0].AliveWeight, tc.lostWant)
			}
		})
	}
}

// With hysteresis, a real that comes back while quorum is still lost stays
// out of rotation (keepalived adds reals back only when quorum returns),
// unless keep_reals; an inhibited sorry server drops to weight 0 when
// quorum is back, and is never deleted.
func TestDesiredSorryHysteresis(t *testing.T) {
	const src = `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  quorum = 3
  hysteresis = 1
  sorry_server = "10.0.0.99"
  sorry_server_inhibit = true
  %s
  real_server "10.0.0.1" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {}
  real_server "10.0.0.4" {}
}`
	steps := []struct {
		down       []string
		plain      map[string]uint32 // the default
		keepReals  map[string]uint32 // sorry_server_keep_reals = true
		quorumLost bool
	}{
		{nil, // 4 up
			map[string]uint32{"1": 1, "2": 1, "3": 1, "4": 1, "99": 0},
			map[string]uint32{"1": 1, "2": 1, "3": 1, "4": 1, "99": 0}, false},
		{[]string{"10.0.0.1", "10.0.0.2"}, // 2 up: not below 3−1
			map[string]uint32{"1": 0, "2": 0, "3": 1, "4": 1, "99": 0},
			map[string]uint32{"1": 0, "2": 0, "3": 1, "4": 1, "99": 0}, false},
		{[]string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, // 1 up: lost
			map[string]uint32{"1": 0, "2": 0, "3": 0, "4": 0, "99": 1},
			map[string]uint32{"1": 0, "2": 0, "3": 0, "4": 1, "99": 1}, true},
		{[]string{"10.0.0.1"}, // 3 up: below 3+1, still lost
			map[string]uint32{"1": 0, "2": 0, "3": 0, "4": 0, "99": 1},
			map[string]uint32{"1": 0, "2": 1, "3": 1, "4": 1, "99": 1}, true},
		{nil, // 4 up: regained
			map[string]uint32{"1": 1, "2": 1, "3": 1, "4": 1, "99": 0},
			map[string]uint32{"1": 1, "2": 1, "3": 1, "4": 1, "99": 0}, false},
	}
	for _, keep := range []bool{false, true} {
		vss := parseServices(t, fmt.Sprintf(src, fmt.Sprintf("sorry_server_keep_reals = %v", keep)))
		k := vss[0].Service.ServiceKey
		var q lvs.QuorumLost
		for i, s := range steps {
			var tbl lvs.Table
			tbl, q, _ = lvs.Desired(vss, down(s.down...), q)
			got := map[string]uint32{}
			for dk, w := range weights(tbl, k) {
				got[strings.TrimSuffix(strings.TrimPrefix(dk, "10.0.0."), ":80")] = w
			}
			want := s.plain
			if keep {
				want = s.keepReals
			}
			if !maps.Equal(got, want) || q[k] != s.quorumLost {
				t.Errorf("keep_reals=%v step %d: %v (lost %v), want %v (lost %v)", keep, i, got, q[k], want, s.quorumLost)
			}
		}
	}
}

// sorry_server_forwarding sets the sorry server's forwarding method, and
// with NAT its port may differ from the service's.
func TestDesiredSorryForwarding(t *testing.T) {
	vss := parseServices(t, `virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  sorry_server = "10.0.0.99:8080"
  sorry_server_forwarding = "nat"
  real_server "10.0.0.1" {}
}`)
	k := vss[0].Service.ServiceKey
	tbl, _, _ := lvs.Desired(vss, down("10.0.0.1"), nil)
	d, ok := tbl[k].Dests.Get(lvs.DestKey{Addr: netip.MustParseAddr("10.0.0.99"), Port: 8080})
	if !ok || d.Forward != ipvs.Masquerade || d.Weight != 1 {
		t.Fatalf("sorry server %+v (present %v), want NAT to :8080 at weight 1", d, ok)
	}
	if r, _ := tbl[k].Dests.Get(lvs.DestKey{Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}); r.Forward != ipvs.DirectRoute {
		t.Errorf("the real's forwarding changed with the sorry server's: %v", r.Forward)
	}
}

// A quorum flip writes only what changes: the real that failed or came
// back, the sorry server, and the reals that were still up, each updated in
// place or created; never a service write, never a delete of an inhibited
// entry, and with keep_reals nothing for the reals still up.
func TestDesiredSorryFlipIsMinimal(t *testing.T) {
	for _, tc := range []struct {
		opts       string
		lose, gain string
	}{
		{"",
			"create-dest 10.0.0.99:80 weight 1,update-dest 10.0.0.2:80 weight 0,update-dest 10.0.0.3:80 weight 0",
			"update-dest 10.0.0.2:80 weight 1,update-dest 10.0.0.3:80 weight 1,delete-dest 10.0.0.99:80 weight 1"},
		{"sorry_server_inhibit = true",
			"update-dest 10.0.0.2:80 weight 0,update-dest 10.0.0.3:80 weight 0,update-dest 10.0.0.99:80 weight 1",
			"update-dest 10.0.0.2:80 weight 1,update-dest 10.0.0.3:80 weight 1,update-dest 10.0.0.99:80 weight 0"},
		{"sorry_server_keep_reals = true",
			"create-dest 10.0.0.99:80 weight 1,update-dest 10.0.0.2:80 weight 0",
			"update-dest 10.0.0.2:80 weight 1,delete-dest 10.0.0.99:80 weight 1"},
	} {
		vss := parseServices(t, sorrySvc("weight_zero", tc.opts))
		k := vss[0].Service.ServiceKey
		owned := map[lvs.ServiceKey]bool{k: true}
		before, q, _ := lvs.Desired(vss, down("10.0.0.1"), nil)
		a, q, _ := lvs.Desired(vss, down("10.0.0.1", "10.0.0.2"), q)
		if got := opList(lvs.Diff(a, before, owned)); got != tc.lose {
			t.Errorf("%q: losing quorum writes %s, want %s", tc.opts, got, tc.lose)
		}
		after, _, _ := lvs.Desired(vss, down("10.0.0.1"), q)
		if got := opList(lvs.Diff(after, a, owned)); got != tc.gain {
			t.Errorf("%q: regaining quorum writes %s, want %s", tc.opts, got, tc.gain)
		}
	}
}

func opList(ops []lvs.Op) string {
	var s []string
	for _, o := range ops {
		s = append(s, fmt.Sprintf("%s %s weight %d", o.Kind, o.Dest.DestKey, o.Dest.Weight))
	}
	return strings.Join(s, ",")
}

// A real drained by an operator (up, at weight 0) while the sorry server
// replaces the pool stays in the table at weight 0 even with on_failure
// "remove": its established connections are what the drain waits for,
// and a real at weight 0 takes no new ones anyway. Live reals at their
// weight are removed, as keepalived does.
func TestDesiredSorryKeepsDrainedReals(t *testing.T) {
	vss := parseServices(t, sorrySvc("remove"))
	k := vss[0].Service.ServiceKey
	drained := func(id string) (uint32, bool) {
		if strings.Contains(id, "/10.0.0.1:") || strings.Contains(id, "/10.0.0.2:") {
			return 0, true
		}
		return 0, false
	}
	tbl, q, st := lvs.DesiredWeighted(vss, down(), drained, nil)
	want := map[string]uint32{"10.0.0.1:80": 0, "10.0.0.2:80": 0, "10.0.0.99:80": 1}
	if w := weights(tbl, k); !maps.Equal(w, want) || !q[k] || st[0].AliveWeight != 1 {
		t.Errorf("two of three drained: %v (lost %v, alive %d), want %v", w, q[k], st[0].AliveWeight, want)
	}
}
