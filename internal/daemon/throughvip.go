package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

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

// ownsProbes claims the fwmark services in the mark range: the probe
// services of checks through the VIP, including those a killed daemon
// left (the configuration refuses an operator's fwmark in the range).
func ownsProbes(cfg *config.Config) func(lvs.ServiceKey) bool {
	rng := markRange(cfg)
	return func(k lvs.ServiceKey) bool { return k.FWMark != 0 && rng.Contains(k.FWMark) }
}

// applySteers installs steers. The first call makes the Steerer, even
// for none: what a killed daemon left is removed at start. A failure is
// logged, not fatal: IPVS's probe service also steers the checks, and a
// check that cannot reach its real shows it down. Callers hold reloadMu
// (or are Run, before anything else runs).
func (d *Daemon) applySteers(cfg *config.Config, steers []throughvip.Steer) {
	if d.steerClosed {
		return
	}
	if d.steer == nil {
		d.steer = d.opts.NewSteerer(markRange(cfg), d.log.With("subsystem", "through_vip"))
	}
	if err := d.steer.Apply(steers); err != nil {
		d.log.Error("checks through the VIP: policy routes not all installed", "err", err)
	}
}

// closeSteers removes the routes at stop; no reload applies them again.
func (d *Daemon) closeSteers() {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.steerClosed = true
	if d.steer == nil {
		return
	}
	if err := d.steer.Close(); err != nil {
		d.log.Error("checks through the VIP: could not remove every policy route", "err", err)
	}
}

// repairSteers applies the running steers again every drift_check: a
// link that went down took its routes with it, and nothing else would
// put them back before the next reload.
func (d *Daemon) repairSteers(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.config().IPVS.DriftCheck.D()):
		}
		d.reloadMu.Lock()
		cfg := d.config()
		if steers := Steers(cfg); len(steers) > 0 {
			d.applySteers(cfg, steers)
		}
		d.reloadMu.Unlock()
	}
}

// beforeChecks puts in, before a reload starts new checks, the routes and
// probe services of the new configuration's checks through the VIP beside
// the running ones: a first probe sent without them would reach
// whichever real the VIP's own service picked. A mark that moved to
// another real (two reals hashing alike) counts as new, and the new
// configuration wins the mark. It returns what undoes it if the reload
// goes no further. With no reconciler yet (the reload adds the first
// virtual servers) the probe services come with it, just after.
func (d *Daemon) beforeChecks(ctx context.Context, old, cfg *config.Config) func() {
	was := map[uint32]netip.Addr{}
	for _, st := range Steers(old) {
		was[st.Mark] = st.Real
	}
	now := Steers(cfg)
	if !slices.ContainsFunc(now, func(st throughvip.Steer) bool { return was[st.Mark] != st.Real }) {
		return func() {}
	}
	d.applySteers(cfg, mergeByMark(Steers(old), now, func(st throughvip.Steer) uint32 { return st.Mark }))
	r := d.recon.Load()
	if r != nil {
		both := mergeByMark(probes(old), probes(cfg), func(p lvs.Probe) uint32 { return p.Mark })
		if err := r.SetProbes(ctx, both); err != nil {
			d.log.Error("IPVS: probe services for the new checks", "err", err)
		}
	}
	return func() {
		d.applySteers(old, Steers(old))
		if r != nil {
			if err := r.SetProbes(ctx, probes(old)); err != nil {
				d.log.Error("IPVS: probe services back to the running set", "err", err)
			}
		}
	}
}

// mergeByMark is old and now, one per mark, now's where both have it.
func mergeByMark[T any](old, now []T, mark func(T) uint32) []T {
	out := slices.Clone(now)
	for _, o := range old {
		if !slices.ContainsFunc(now, func(n T) bool { return mark(n) == mark(o) }) {
			out = append(out, o)
		}
	}
	return out
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
