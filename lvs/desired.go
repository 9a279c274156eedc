package lvs

import (
	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
)

// HealthFunc says whether the real server whose Real.Check is check is
// up. Reals without a health check must be reported up.
type HealthFunc func(check string) bool

// WeightFunc gives the weight an up real asks for in place of its
// configured one (an exec check's dynamic weight); ok false keeps the
// configured weight.
type WeightFunc func(check string) (weight uint32, ok bool)

// QuorumLost records, per service, whether quorum is currently lost. It is
// state, not a pure function of health, because of hysteresis.
type QuorumLost map[ServiceKey]bool

// ServiceState explains one service of a desired table.
type ServiceState struct {
	Key         ServiceKey `json:"-"`
	Name        string     `json:"name"`
	AliveWeight int        `json:"alive_weight"` // sum of the weights (dynamic ones included) of reals that are up
	QuorumLost  bool       `json:"quorum_lost"`  // the sorry server, if any, is in use
}

// Desired computes the table vss call for with the given health. prev is the quorum state of the previous computation (nil at
// start); the new one is returned with a per-service explanation.
func Desired(vss []VirtualService, up HealthFunc, prev QuorumLost) (Table, QuorumLost, []ServiceState) {
	return DesiredWeighted(vss, up, nil, prev)
}

// DesiredWeighted is Desired with the weights of up reals asked of weight
// (nil: the configured weights).
func DesiredWeighted(vss []VirtualService, up HealthFunc, weight WeightFunc, prev QuorumLost) (Table, QuorumLost, []ServiceState) {
	t := Table{}
	lost := QuorumLost{}
	var states []ServiceState
	for i := range vss {
		vs := &vss[i]
		k := vs.Service.ServiceKey
		e := &Entry{Service: vs.Service, Dests: make(Dests, 0, len(vs.Reals)+1)}
		// Health and weight are asked once per real, so a pass sees one
		// answer.
		isUp := make([]bool, len(vs.Reals))
		weights := make([]uint32, len(vs.Reals))
		alive := 0
		for j, rl := range vs.Reals {
			weights[j] = rl.Dest.Weight
			if isUp[j] = up(rl.Check); isUp[j] {
				if w, ok := dynamicWeight(weight, rl.Check); ok {
					weights[j] = w
				}
				alive += int(weights[j])
			}
		}
		isLost := quorumLost(vs, alive, prev, k)
		lost[k] = isLost
		// keepalived's sorry server replaces the whole pool: while it is
		// in use the reals still up are treated as failed.
		replaced := isLost && vs.Sorry != nil && !vs.Sorry.KeepReals
		for j, rl := range vs.Reals {
			d := rl.Dest
			switch {
			case isUp[j] && !replaced:
				d.Weight = weights[j]
			case isUp[j] && weights[j] == 0:
				// Up at weight 0 (an operator's drain, or a dynamic
				// weight of 0): it takes no new connections, and the
				// established ones it is draining live on, whatever
				// the sorry server or on_failure say.
				d.Weight = 0
			case vs.OnFailure == Remove:
				continue
			default:
				// keepalived's inhibit_on_failure: the entry stays, so
				// established connections live on, but it gets no new
				// ones.
				d.Weight = 0
			}
			e.Dests = append(e.Dests, d)
		}
		e.Dests = DestsOf(e.Dests...)
		addSorry(e, vs.Sorry, isLost)
		t[k] = e
		states = append(states, ServiceState{Key: k, Name: vs.Name, AliveWeight: alive, QuorumLost: isLost})
	}
	return t, lost, states
}

// AddProbes puts each probe's service in t: fwmark Mark, rr, the real
// alone at weight 1 and port 0, as ipvsadm -a -f shows it. One-packet
// scheduling keeps UDP probes out of the connection table: IPVS looks a
// connection up by addresses and ports, not by mark, so an entry left by
// a probe of one real would take a later probe of another real that
// happened to get the same source port.
func AddProbes(t Table, probes []Probe) {
	for _, p := range probes {
		k := ServiceKey{Family: p.Dest.Family, FWMark: p.Mark}
		bits := 32
		if p.Dest.Family == ipvs.INET6 {
			bits = 128
		}
		d := p.Dest
		d.Port, d.Weight, d.Upper, d.Lower = 0, 1, 0, 0
		t[k] = &Entry{
			Service: Service{ServiceKey: k, Scheduler: "rr", Flags: ipvs.ServiceOnePacket, Netmask: netmask.MaskFrom(bits, bits)},
			Dests:   Dests{d},
		}
	}
}

func dynamicWeight(weight WeightFunc, check string) (uint32, bool) {
	if weight == nil {
		return 0, false
	}
	return weight(check)
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

// addSorry puts the sorry server in e while quorum is lost, and at weight 0
// otherwise if it is inhibited. A real at its address (which the
// configuration rejects) wins.
func addSorry(e *Entry, s *Sorry, isLost bool) {
	if s == nil || (!isLost && !s.Inhibit) {
		return
	}
	if e.Dests.Has(s.Dest.DestKey) {
		return
	}
	d := s.Dest
	if !isLost {
		d.Weight = 0
	}
	e.Dests.Set(d)
}
