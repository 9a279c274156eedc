package daemon

import (
	"net/netip"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"directord/config"
	"directord/lvs"
)

// IPVSSpec turns the configuration's virtual servers and ipvs block into
// the lvs package's own spec: the one translation from the file to the
// kernel's terms. Each real's health is asked by its WatchID.
func IPVSSpec(cfg *config.Config) lvs.Spec {
	spec := lvs.Spec{
		Timeouts: lvs.Timeouts{
			TCP:    cfg.IPVS.TCPTimeout.D(),
			TCPFin: cfg.IPVS.TCPFinTimeout.D(),
			UDP:    cfg.IPVS.UDPTimeout.D(),
		},
		DriftCheck: cfg.IPVS.DriftCheck.D(),
		// Sized up front: at tens of thousands of reals the appends'
		// copies were most of this function's time.
		Services: make([]lvs.VirtualService, 0, len(cfg.VirtualServers)),
	}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		s := lvs.VirtualService{
			Name:       vs.Name,
			Service:    ServiceFor(vs),
			Quorum:     vs.Quorum,
			Hysteresis: vs.Hysteresis,
			Reals:      make([]lvs.Real, 0, len(vs.RealServers)),
		}
		if vs.OnFailure == config.OnFailureRemove {
			s.OnFailure = lvs.Remove
		}
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			s.Reals = append(s.Reals, lvs.Real{
				Dest:  destFor(rs.Address, rs.Port, rs.Forwarding, rs.Weight, rs.UpperThreshold, rs.LowerThreshold),
				Check: WatchID(vs, rs),
			})
		}
		if vs.SorryServer.IsValid() {
			// Weight 1, as keepalived gives its sorry server.
			s.Sorry = &lvs.Sorry{
				Dest:      destFor(vs.SorryServer.Addr(), vs.SorryServer.Port(), vs.SorryForwarding, 1, 0, 0),
				Inhibit:   vs.SorryInhibit,
				KeepReals: vs.SorryKeepReals,
			}
		}
		spec.Services = append(spec.Services, s)
	}
	spec.Probes = probes(cfg)
	spec.Owns = ownsProbes(cfg)
	return spec
}

// ServiceFor is the kernel service a virtual_server block declares.
func ServiceFor(vs *config.VirtualServer) lvs.Service {
	fam := ipvs.INET
	bits := 32
	if vs.IsIPv6() {
		fam, bits = ipvs.INET6, 128
	}
	s := lvs.Service{
		ServiceKey: lvs.ServiceKey{Family: fam, FWMark: vs.FWMark},
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

func destFor(addr netip.Addr, port uint16, fwd string, weight, upper, lower int) lvs.Destination {
	fam := ipvs.INET
	if addr.Is6() {
		fam = ipvs.INET6
	}
	return lvs.Destination{
		DestKey: lvs.DestKey{Addr: addr, Port: port},
		Family:  fam,
		Forward: forward(fwd),
		Weight:  uint32(weight),
		Upper:   uint32(upper),
		Lower:   uint32(lower),
	}
}
