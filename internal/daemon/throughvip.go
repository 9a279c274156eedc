package daemon

import (
	"fmt"
	"slices"

	"directord/config"
	"directord/lvs"
	"directord/throughvip"
)

// Steerer installs the policy routes that steer checks through the VIP
// (throughvip.Manager on Linux).
type Steerer interface {
	Apply(steers []throughvip.Steer) error
	Close() error
}

// Steers lists each real server that has a check through the VIP, with
// its mark and every VIP it is checked through.
func Steers(cfg *config.Config) []throughvip.Steer {
	idx := map[uint32]int{}
	var out []throughvip.Steer
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			if rs.ThroughVIPMark == 0 {
				continue
			}
			k, ok := idx[rs.ThroughVIPMark]
			if !ok {
				k = len(out)
				idx[rs.ThroughVIPMark] = k
				out = append(out, throughvip.Steer{Mark: rs.ThroughVIPMark, Real: rs.Address})
			}
			if !slices.Contains(out[k].VIPs, vs.Address) {
				out[k].VIPs = append(out[k].VIPs, vs.Address)
			}
		}
	}
	return out
}

// probes are the one-real IPVS fwmark services of the same reals.
func probes(cfg *config.Config) []lvs.Probe {
	seen := map[uint32]bool{}
	var out []lvs.Probe
	for i := range cfg.VirtualServers {
		for _, rs := range cfg.VirtualServers[i].RealServers {
			if rs.ThroughVIPMark == 0 || seen[rs.ThroughVIPMark] {
				continue
			}
			seen[rs.ThroughVIPMark] = true
			out = append(out, lvs.Probe{Mark: rs.ThroughVIPMark, Dest: destFor(rs.Address, 0, rs.Forwarding, 1, 0, 0)})
		}
	}
	return out
}

func markRange(cfg *config.Config) throughvip.Range {
	m := cfg.Director.ThroughVIPMarks
	return throughvip.Range{Value: m.Value, Mask: m.Mask}
}

// applySteers installs cfg's steering. A director whose configurations
// never had a check through the VIP never touches the routing rules.
// A failure is logged, not fatal: on the director holding the VIP the
// IPVS probe service steers the checks without the routes, and a check
// that cannot reach its real shows it down.
func (d *Daemon) applySteers(cfg *config.Config) {
	steers := Steers(cfg)
	if len(steers) == 0 && d.steer == nil {
		return
	}
	if d.steer == nil {
		d.steer = d.opts.NewSteerer(markRange(cfg), d.log.With("subsystem", "through_vip"))
	}
	if err := d.steer.Apply(steers); err != nil {
		d.log.Error("checks through the VIP: policy routes not all installed", "err", err)
	}
}

func (d *Daemon) closeSteers() {
	if d.steer == nil {
		return
	}
	if err := d.steer.Close(); err != nil {
		d.log.Error("checks through the VIP: could not remove every policy route", "err", err)
	}
}

// sameMarks refuses a reload that moves through_vip_marks: the running
// steering owns its rules by the range it started with.
func sameMarks(old, cfg *config.Config) error {
	if old.Director.ThroughVIPMarks != cfg.Director.ThroughVIPMarks {
		return fmt.Errorf("%w: through_vip_marks changed from %s to %s: that takes a restart", ErrInvalidConfig,
			old.Director.ThroughVIPMarks, cfg.Director.ThroughVIPMarks)
	}
	return nil
}
