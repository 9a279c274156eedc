package daemon

import (
	"context"
	"fmt"
	"net"

	"directord/config"
	"directord/lvs"
	"directord/vrrp"
)

// needsIPVS reports whether cfg asks anything of the kernel's IPVS.
func needsIPVS(cfg *config.Config) bool {
	spec := syncSpec(cfg)
	return len(cfg.VirtualServers) > 0 || spec.Daemon != nil || len(spec.Sysctls) > 0
}

// checkSync refuses, before anything changes, a sync interface this
// network namespace does not have, and net.ipv4.vs settings the kernel
// lacks.
func (d *Daemon) checkSync(cfg *config.Config) error {
	spec := syncSpec(cfg)
	if spec.Daemon != nil {
		if _, err := net.InterfaceByName(spec.Daemon.Interface); err != nil {
			return fmt.Errorf("ipvs sync_daemon: interface %q does not exist in this network namespace (%v): the sync daemons multicast on it",
				spec.Daemon.Interface, err)
		}
	}
	if m := d.sync.Load(); m != nil {
		return m.Check(spec)
	}
	if len(spec.Sysctls) > 0 {
		return lvs.NewSyncManager(nil, d.opts.Sysctls, nil).Check(spec)
	}
	return nil
}

// applySync starts connection sync for cfg, or switches it to cfg. The
// daemons go up before VRRP starts, so a backup already receives its
// peer's connections when it can first win.
func (d *Daemon) applySync(ctx context.Context, cfg *config.Config) error {
	spec := syncSpec(cfg)
	m := d.sync.Load()
	if m == nil {
		if spec.Daemon == nil && len(spec.Sysctls) == 0 {
			return nil
		}
		k, err := d.opts.OpenSync()
		if err != nil {
			return fmt.Errorf("IPVS connection sync: %w", err)
		}
		m = lvs.NewSyncManager(k, d.opts.Sysctls, d.log.With("subsystem", "ipvs-sync"))
	}
	m.SetMaster(d.followedIsMaster(ctx, cfg))
	err := m.Apply(spec)
	if d.sync.CompareAndSwap(nil, m) {
		// Even after a failed first apply: Run retries it.
		go m.Run(d.bg, cfg.IPVS.DriftCheck.D())
	}
	if err != nil {
		return fmt.Errorf("IPVS connection sync: %w", err)
	}
	return nil
}

// followedIsMaster reports whether the VRRP instance the sync daemons
// follow is master now (false before VRRP has started).
func (d *Daemon) followedIsMaster(ctx context.Context, cfg *config.Config) bool {
	sd := cfg.IPVS.SyncDaemon
	if sd == nil || sd.VRRPInstance == "" {
		return false
	}
	select {
	case <-d.router.Ready():
	default:
		return false
	}
	st, err := d.router.Status(ctx)
	if err != nil {
		return false
	}
	for _, in := range st.Instances {
		if in.Name == sd.VRRPInstance {
			return in.State == vrrp.Master.String()
		}
	}
	return false
}

// onTransition switches the sync daemons when the instance they follow
// changes state. A resigning director keeps its daemons as they are: its
// master daemon still sends what it has queued, and a restart adopts
// them. It runs on the VRRP loop and never blocks.
func (d *Daemon) onTransition(instance string, to vrrp.State, why vrrp.Reason) {
	m := d.sync.Load()
	sd := d.config().IPVS.SyncDaemon
	if m == nil || sd == nil || sd.VRRPInstance != instance || why == vrrp.ReasonShutdown {
		return
	}
	m.SetMaster(to == vrrp.Master)
}
