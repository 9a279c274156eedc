package daemon

import (
	"fmt"
	"strconv"
	"time"

	"directord/config"
	"directord/healthcheck"
	"directord/lvs"
	"directord/vrrp"
)

// plan is a configuration translated for the health checks and VRRP.
// Start-up and reload both translate everything before they change
// anything, so a configuration either subsystem refuses changes nothing.
type plan struct {
	watches   []healthcheck.Watch
	instances []vrrp.Config
	groups    []vrrp.SyncGroup
}

func translate(cfg *config.Config) (plan, error) {
	watches, err := HealthWatches(cfg)
	if err != nil {
		return plan{}, err
	}
	instances, groups, err := vrrpConfigs(cfg)
	if err != nil {
		return plan{}, err
	}
	return plan{watches: watches, instances: instances, groups: groups}, nil
}

// vrrpConfigs turns the configuration's instances and sync groups into the
// vrrp package's own settings. It fails only when script_user cannot be
// found.
func vrrpConfigs(cfg *config.Config) ([]vrrp.Config, []vrrp.SyncGroup, error) {
	user, err := ScriptUser(cfg)
	if err != nil {
		return nil, nil, err
	}
	var out []vrrp.Config
	for _, in := range cfg.Instances {
		c := vrrp.Config{
			Name:      in.Name,
			Interface: in.Interface,
			VRID:      in.VRID,
			Params: vrrp.Params{
				Version:        in.Version,
				Priority:       in.Priority,
				AdvertInterval: in.AdvertInterval.D(),
				Preempt:        in.Preempt,
				PreemptDelay:   in.PreemptDelay.D(),
			},
			UnicastSrc: in.UnicastSrc,
			Peers:      in.UnicastPeers,
			GARP: vrrp.GARPConfig{
				Delay:         in.GARP.Delay.D(),
				Repeat:        in.GARP.Repeat,
				Interval:      in.GARP.Interval.D(),
				Refresh:       in.GARP.Refresh.D(),
				RefreshRepeat: in.GARP.RefreshRepeat,
			},
			Notify: vrrp.NotifyConfig{
				Master:  in.Notify.Master,
				Backup:  in.Notify.Backup,
				Fault:   in.Notify.Fault,
				Stop:    in.Notify.Stop,
				Timeout: in.Notify.Timeout.D(),
				User:    user,
			},
		}
		if in.Auth != nil {
			c.AuthType = vrrp.AuthPass
			c.AuthData = vrrp.PassData(in.Auth.Password)
		}
		for _, v := range in.VirtualIPs {
			c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label})
		}
		for _, t := range in.TrackInterfaces {
			c.TrackInterfaces = append(c.TrackInterfaces, vrrp.TrackInterface{Name: t.Name, Weight: t.Weight})
		}
		for _, t := range in.TrackScripts {
			c.TrackScripts = append(c.TrackScripts, vrrp.TrackScript{
				Name: t.Name, Command: t.Command, Interval: t.Interval.D(), Timeout: t.Timeout.D(),
				Rise: t.Rise, Fall: t.Fall, Weight: t.Weight, User: user,
			})
		}
		for _, t := range in.TrackFiles {
			c.TrackFiles = append(c.TrackFiles, vrrp.TrackFile{Path: t.Path, Weight: t.Weight})
		}
		out = append(out, c)
	}
	var groups []vrrp.SyncGroup
	for _, g := range cfg.SyncGroups {
		groups = append(groups, vrrp.SyncGroup{Name: g.Name, Instances: g.Instances})
	}
	return out, groups, nil
}

// syncSpec turns the ipvs block's sync_daemon and sysctl settings into
// the lvs package's own: sysctl values as /proc/sys/net/ipv4/vs takes
// them.
func syncSpec(cfg *config.Config) lvs.SyncSpec {
	spec := lvs.SyncSpec{Sysctls: map[string]string{}}
	if sd := cfg.IPVS.SyncDaemon; sd != nil {
		spec.Daemon = &lvs.SyncDaemon{Interface: sd.Interface, SyncID: sd.SyncID, MaxLen: sd.MaxLen,
			Group: sd.Group, Port: sd.Port, TTL: sd.TTL}
		spec.Follow = sd.VRRPInstance != ""
	}
	s := cfg.IPVS.Sysctl
	for name, v := range map[string]*bool{
		"sloppy_tcp": s.SloppyTCP, "sloppy_sctp": s.SloppySCTP, "expire_nodest_conn": s.ExpireNodestConn,
		"expire_quiescent_template": s.ExpireQuiescentTemplate, "conntrack": s.Conntrack,
	} {
		if v != nil {
			spec.Sysctls[name] = map[bool]string{false: "0", true: "1"}[*v]
		}
	}
	if t := s.SyncThreshold; t != nil {
		spec.Sysctls["sync_threshold"] = fmt.Sprintf("%d %d", t[0], t[1])
	}
	if p := s.SyncRefreshPeriod; p != nil {
		spec.Sysctls["sync_refresh_period"] = strconv.Itoa(int(p.D() / time.Second))
	}
	spec.Recheck = cfg.IPVS.DriftCheck.D()
	return spec
}
