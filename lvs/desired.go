package lvs

import (
	"net/netip"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"directord/config"
)

// HealthFunc says whether a real server of a virtual server is up. Reals
// without a health check must be reported up.
type HealthFunc func(vs *config.VirtualServer, rs *config.RealServer) bool

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

// Desired computes the table the configuration calls for with the given
// health. prev is the quorum state of the previous computation (nil at
// start); the new one is returned with a per-service explanation.
func Desired(vss []config.VirtualServer, up HealthFunc, prev QuorumLost) (Table, QuorumLost, []ServiceState) {
	t := Table{}
	lost := QuorumLost{}
	var states []ServiceState
	for i := range vss {
		vs := &vss[i]
		svc := ServiceFor(vs)
		e := &Entry{Service: svc, Dests: map[DestKey]Destination{}}
		alive := 0
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			d := destFor(rs.Address, rs.Port, rs.Forwarding, rs.Weight, rs.UpperThreshold, rs.LowerThreshold)
			if up(vs, rs) {
				alive += rs.Weight
			} else if vs.OnFailure == config.OnFailureRemove {
				continue
			} else {
				// keepalived's inhibit_on_failure: the entry stays, so
				// established connections live on, but it gets no new
				// ones.
				d.Weight = 0
			}
			e.Dests[d.DestKey] = d
		}
		isLost := quorumLost(vs, alive, prev, svc.ServiceKey)
		lost[svc.ServiceKey] = isLost
		if isLost && vs.SorryServer.IsValid() {
			d := destFor(vs.SorryServer.Addr(), vs.SorryServer.Port(), vs.Forwarding, 1, 0, 0)
			if _, taken := e.Dests[d.DestKey]; !taken {
				e.Dests[d.DestKey] = d
			}
		}
		t[svc.ServiceKey] = e
		states = append(states, ServiceState{Key: svc.ServiceKey, Name: vs.Name, AliveWeight: alive, QuorumLost: isLost})
	}
	return t, lost, states
}

// quorumLost applies keepalived's quorum rule: lost below quorum −
// hysteresis, regained at quorum + hysteresis, unchanged in between. With
// no previous state the plain comparison decides.
func quorumLost(vs *config.VirtualServer, alive int, prev QuorumLost, k ServiceKey) bool {
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

// ServiceFor is the kernel service a virtual_server block declares.
func ServiceFor(vs *config.VirtualServer) Service {
	fam := ipvs.INET
	bits := 32
	if vs.IsIPv6() {
		fam, bits = ipvs.INET6, 128
	}
	s := Service{
		ServiceKey: ServiceKey{Family: fam, FWMark: vs.FWMark},
		Scheduler:  vs.Scheduler,
		Timeout:    uint32(vs.PersistenceTimeout.D().Seconds()),
	}
	if vs.FWMark == 0 {
		s.Addr, s.Port, s.Protocol = vs.Address, vs.Port, protocol(vs.Protocol)
	}
	if s.Timeout > 0 {
		s.Flags |= ipvs.ServicePersistent
		if vs.PersistenceNetmask > 0 {
			bits = vs.PersistenceNetmask
		}
	}
	s.Netmask = netmask.MaskFrom(bits, map[ipvs.AddressFamily]int{ipvs.INET: 32, ipvs.INET6: 128}[fam])
	for _, f := range vs.SchedulerFlags {
		switch f {
		case "one-packet":
			s.Flags |= ipvs.ServiceOnePacket
		case "sh-fallback", "mh-fallback":
			s.Flags |= ipvs.ServiceSchedulerOpt1
		case "sh-port", "mh-port":
			s.Flags |= ipvs.ServiceSchedulerOpt2
		}
	}
	return s
}

func protocol(p string) ipvs.Protocol {
	switch p {
	case config.ProtoUDP:
		return ipvs.UDP
	case config.ProtoSCTP:
		return ipvs.SCTP
	}
	return ipvs.TCP
}

func forward(f string) ipvs.ForwardType {
	switch f {
	case config.ForwardNAT:
		return ipvs.Masquerade
	case config.ForwardTUN:
		return ipvs.Tunnel
	}
	return ipvs.DirectRoute
}

func destFor(addr netip.Addr, port uint16, fwd string, weight, upper, lower int) Destination {
	fam := ipvs.INET
	if addr.Is6() {
		fam = ipvs.INET6
	}
	return Destination{
		DestKey: DestKey{Addr: addr, Port: port},
		Family:  fam,
		Forward: forward(fwd),
		Weight:  uint32(weight),
		Upper:   uint32(upper),
		Lower:   uint32(lower),
	}
}
