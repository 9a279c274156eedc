package lvs_test

import (
	"strings"
	"testing"

	"directord/lvs"
)

// A dynamic weight replaces the configured weight of an up real, counts
// towards quorum, and means nothing for a down one (weight 0 stays 0).
func TestDesiredWeighted(t *testing.T) {
	vss := parseServices(t, cfgWith("quorum = 7"))
	k := vss[0].Service.ServiceKey
	dyn := func(id string) (uint32, bool) {
		if strings.Contains(id, "/192.168.11.12:") {
			return 10, true
		}
		return 0, false
	}
	tbl, lost, states := lvs.DesiredWeighted(vss, down(), dyn, nil)
	if w := weights(tbl, k); w["192.168.11.12:80"] != 10 || w["192.168.11.13:80"] != 4 {
		t.Errorf("weights %v, want .12 at its dynamic 10 and .13 at its configured 4", w)
	}
	if lost[k] || states[0].AliveWeight != 14 {
		t.Errorf("alive weight %d, lost %v; want 14, quorum kept", states[0].AliveWeight, lost[k])
	}
	tbl, _, _ = lvs.DesiredWeighted(vss, down("192.168.11.12"), dyn, nil)
	if w := weights(tbl, k); w["192.168.11.12:80"] != 0 {
		t.Errorf("a down real at weight %d, want 0", w["192.168.11.12:80"])
	}
	// Without a WeightFunc it is Desired.
	tbl, _, _ = lvs.DesiredWeighted(vss, down(), nil, nil)
	if w := weights(tbl, k); w["192.168.11.12:80"] != 2 {
		t.Errorf("no WeightFunc: %v", w)
	}
}
