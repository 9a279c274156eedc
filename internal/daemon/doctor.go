package daemon

import (
	"net/netip"
	"time"

	"directord/config"
	"directord/doctor"
)

// DoctorInput is what cfg asks of the machine, in doctor's terms.
func DoctorInput(cfg *config.Config) doctor.Input {
	var in doctor.Input
	for _, inst := range cfg.Instances {
		in.Interfaces = append(in.Interfaces, doctor.Named{Name: inst.Interface, By: "vrrp_instance " + inst.Name})
		di := doctor.Instance{Name: inst.Name, Interface: inst.Interface, VRID: inst.VRID, Peers: inst.UnicastPeers,
			Listen: 3*inst.AdvertInterval.D() + time.Second}
		for _, v := range inst.VirtualIPs {
			di.VIPs = append(di.VIPs, v.Prefix.Addr())
		}
		di.IPv6 = len(di.VIPs) > 0 && di.VIPs[0].Is6()
		in.Instances = append(in.Instances, di)
		if len(inst.UnicastPeers) == 0 && len(inst.VirtualIPs) > 0 {
			p := doctor.Probe{What: "vrrp_instance " + inst.Name, Proto: 112, Dst: netip.MustParseAddr("224.0.0.18")}
			if inst.VirtualIPs[0].Prefix.Addr().Is6() {
				p.IPv6, p.Dst = true, netip.MustParseAddr("ff02::12")
			}
			in.Probes = append(in.Probes, p)
		}
		for _, ti := range inst.TrackInterfaces {
			in.Interfaces = append(in.Interfaces, doctor.Named{Name: ti.Name, By: "track_interface of " + inst.Name})
		}
		for _, v := range inst.VirtualIPs {
			dev := v.Dev
			if dev == "" {
				dev = inst.Interface
			}
			in.VIPInterfaces = append(in.VIPInterfaces, dev)
			in.VIPs = append(in.VIPs, v.Prefix.Addr())
			if v.Dev != "" {
				in.Interfaces = append(in.Interfaces, doctor.Named{Name: v.Dev, By: "a virtual IP of " + inst.Name})
			}
		}
	}
	if sd := cfg.IPVS.SyncDaemon; sd != nil {
		in.Interfaces = append(in.Interfaces, doctor.Named{Name: sd.Interface, By: "ipvs sync_daemon"})
	}
	if cfg.BGP != nil {
		// The program the daemon would run: beside this one.
		if p, err := SpeakerPath(); err == nil {
			in.Programs = append(in.Programs, doctor.Named{Name: p, By: "bgp speaker"})
		}
	}
	for _, vs := range cfg.VirtualServers {
		in.Schedulers = append(in.Schedulers, vs.Scheduler)
		if vs.FWMark == 0 {
			in.Services = append(in.Services, doctor.Service{Name: vs.Name, Addr: vs.Address})
			in.Probes = append(in.Probes, doctor.Probe{What: "virtual_server " + vs.Name, IPv6: vs.IsIPv6(),
				Proto: protoNumber(vs.Protocol), Dst: vs.Address, Port: vs.Port})
		}
		for _, rs := range vs.RealServers {
			in.NAT = in.NAT || rs.Forwarding == config.ForwardNAT
		}
	}
	return in
}

// protoNumber is the IP protocol number of a service's protocol.
func protoNumber(proto string) uint8 {
	switch proto {
	case config.ProtoUDP:
		return 17
	case config.ProtoSCTP:
		return 132
	}
	return 6
}
