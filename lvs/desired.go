package lvs

// HealthFunc says whether the real server whose Real.Check is check is
// up. Reals without a health check must be reported up.
type HealthFunc func(check string) bool

// QuorumLost records, per service, whether quorum is currently lost. It is
// state, not a pure function of health, because of hysteresis.
type QuorumLost map[ServiceKey]bool

// ServiceState explains one service of a desired table.
type ServiceState struct {
	Key         ServiceKey `json:"-"`
	Name        string     `json:"name"`
	AliveWeight int        `json:"alive_weight"` // sum of the configured weights of reals that are up
	QuorumLost  bool       `json:"quorum_lost"`  // the sorry server, if any, is in the table
}

// Desired computes the table vss call for with the given health. prev is the quorum state of the previous computation (nil at
// start); the new one is returned with a per-service explanation.
func Desired(vss []VirtualService, up HealthFunc, prev QuorumLost) (Table, QuorumLost, []ServiceState) {
	t := Table{}
	lost := QuorumLost{}
	var states []ServiceState
	for i := range vss {
		vs := &vss[i]
		k := vs.Service.ServiceKey
		e := &Entry{Service: vs.Service, Dests: map[DestKey]Destination{}}
		alive := 0
		for _, rl := range vs.Reals {
			d := rl.Dest
			switch {
			case up(rl.Check):
				alive += int(d.Weight)
			case vs.OnFailure == Remove:
				continue
			default:
				// keepalived's inhibit_on_failure: the entry stays, so
				// established connections live on, but it gets no new
				// ones.
				d.Weight = 0
			}
			e.Dests[d.DestKey] = d
		}
		isLost := quorumLost(vs, alive, prev, k)
		lost[k] = isLost
		if isLost && vs.Sorry != nil {
			if _, taken := e.Dests[vs.Sorry.DestKey]; !taken {
				e.Dests[vs.Sorry.DestKey] = *vs.Sorry
			}
		}
		t[k] = e
		states = append(states, ServiceState{Key: k, Name: vs.Name, AliveWeight: alive, QuorumLost: isLost})
	}
	return t, lost, states
}

// quorumLost applies keepalived's quorum rule: lost below quorum −
// hysteresis, regained at quorum + hysteresis, unchanged in between. With
// no previous state the plain comparison decides.
func quorumLost(vs *VirtualService, alive int, prev QuorumLost, k ServiceKey) bool {
	was, known := prev[k]
	switch {
	case !known:
		return alive < vs.Quorum
	case was:
		return alive < vs.Quorum+vs.Hysteresis
	default:
		return alive < vs.Quorum-vs.Hysteresis
	}
}
