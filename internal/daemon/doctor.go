package daemon

import (
	"directord/config"
	"directord/doctor"
)

// DoctorInput is what cfg asks of the machine, in doctor's terms.
func DoctorInput(cfg *config.Config) doctor.Input {
	var in doctor.Input
	for _, inst := range cfg.Instances {
		in.Interfaces = append(in.Interfaces, doctor.Named{Name: inst.Interface, By: "vrrp_instance " + inst.Name})
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
	for _, vs := range cfg.VirtualServers {
		in.Schedulers = append(in.Schedulers, vs.Scheduler)
		if vs.FWMark == 0 {
			in.Services = append(in.Services, doctor.Service{Name: vs.Name, Addr: vs.Address})
		}
		for _, rs := range vs.RealServers {
			in.NAT = in.NAT || rs.Forwarding == config.ForwardNAT
		}
	}
	return in
}
