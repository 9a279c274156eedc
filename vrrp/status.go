package vrrp

import (
	"context"
	"maps"
)

// Status is a snapshot of the router for the status API and metrics.
type Status struct {
	Instances []InstanceStatus `json:"instances"`
	// UnclaimedDrops counts, per interface, packets dropped before any
	// instance could claim them (an unknown VRID, a packet too short to
	// carry one).
	UnclaimedDrops map[string]map[Drop]uint64 `json:"unclaimed_drops"`
}

// InstanceStatus describes one instance.
type InstanceStatus struct {
	Name              string             `json:"name"`
	Interface         string             `json:"interface"`
	VRID              uint8              `json:"virtual_router_id"`
	Version           int                `json:"version"`
	State             string             `json:"state"`
	Priority          uint8              `json:"priority"`
	EffectivePriority uint8              `json:"effective_priority"`
	Fault             string             `json:"fault,omitempty"`
	PreemptHeld       string             `json:"preempt_held,omitempty"`
	Source            string             `json:"source"`
	Master            string             `json:"master,omitempty"`
	MasterPriority    uint8              `json:"master_priority,omitempty"`
	AdvertInterval    string             `json:"advert_interval"`
	MasterAdvert      string             `json:"master_advert_interval"`
	VIPs              []string           `json:"vips"`
	Tracked           []Tracked          `json:"tracked"`
	Transitions       []TransitionRecord `json:"transitions"`
	TransitionCounts  map[string]uint64  `json:"transition_counts"`
	AdvertsSent       uint64             `json:"adverts_sent"`
	AdvertsReceived   uint64             `json:"adverts_received"`
	SendErrors        uint64             `json:"send_errors"`
	Drops             map[Drop]uint64    `json:"drops"`
	AddrMismatches    uint64             `json:"address_mismatches"`
	VIPsRestored      uint64             `json:"vips_restored"`
	GARPsSent         uint64             `json:"garps_sent"`
}

// Status returns a snapshot, from the running loop or, once it has
// stopped, as the loop left it.
func (r *Router) Status(ctx context.Context) (Status, error) {
	var s Status
	err := r.call(ctx, func() { s = r.snapshot() })
	if err != nil {
		select {
		case <-r.stopped:
			return r.last, nil
		default:
			return Status{}, err
		}
	}
	return s, nil
}

func (r *Router) snapshot() Status {
	s := Status{Instances: []InstanceStatus{}, UnclaimedDrops: map[string]map[Drop]uint64{}}
	for key, ifc := range r.ifaces {
		name := key.name
		if key.fam == IPv6 {
			name += " (IPv6)" // the IPv4 socket keeps the plain name
		}
		s.UnclaimedDrops[name] = maps.Clone(ifc.drops)
	}
	for _, in := range r.insts {
		s.Instances = append(s.Instances, in.status())
	}
	return s
}

func (in *instance) status() InstanceStatus {
	st := InstanceStatus{
		Name:              in.cfg.Name,
		Interface:         in.cfg.Interface,
		VRID:              in.cfg.VRID,
		Version:           in.cfg.Params.Version,
		State:             in.fsm.State().String(),
		Priority:          in.cfg.Params.Priority,
		EffectivePriority: in.fsm.Priority(),
		Source:            in.src.String(),
		PreemptHeld:       in.holdReason,
		AdvertInterval:    in.cfg.Params.AdvertInterval.String(),
		MasterAdvert:      in.fsm.MasterAdverInterval().String(),
		Tracked:           append([]Tracked(nil), in.tracked...),
		Transitions:       append([]TransitionRecord(nil), in.transitions...),
		TransitionCounts:  maps.Clone(in.stats.transitions),
		AdvertsSent:       in.stats.sent,
		AdvertsReceived:   in.stats.received,
		SendErrors:        in.stats.sendErrors,
		Drops:             map[Drop]uint64{},
		AddrMismatches:    in.stats.addrMismatch,
		VIPsRestored:      in.stats.vipRestored,
		GARPsSent:         in.stats.garps,
	}
	if in.fsm.faulty() {
		st.Fault = in.faultCause
		if st.Fault == "" {
			st.Fault = "sync group"
		}
	}
	if m, p := in.fsm.Master(); m.IsValid() {
		st.Master, st.MasterPriority = m.String(), p
	}
	for _, d := range Drops {
		st.Drops[d] = in.stats.drops[d]
	}
	for _, v := range in.cfg.VIPs {
		st.VIPs = append(st.VIPs, v.Prefix.String())
	}
	return st
}
