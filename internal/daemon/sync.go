package daemon

import (
	"fmt"
	"net"
	"sync"

	"directord/config"
	"directord/internal/events"
	"directord/lvs"
	"directord/vrrp"
)

// syncRole tracks what the sync daemons follow: every instance's last
// state (from the VRRP loop) and the instance the configuration names.
// One mutex covers both, so a reload that changes the followed instance
// and a transition of it cannot interleave into a stale role.
type syncRole struct {
	mu       sync.Mutex
	states   map[string]vrrp.State
	followed string
	m        *lvs.SyncManager
}

// set records a transition and, when it is the followed instance's,
// switches the daemons. It runs on the VRRP loop: SetMaster never blocks.
func (r *syncRole) set(instance string, to vrrp.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states == nil {
		r.states = map[string]vrrp.State{}
	}
	r.states[instance] = to
	if r.m != nil && instance == r.followed {
		r.m.SetMaster(to == vrrp.Master)
	}
}

// follow makes m follow instance ("" follows nothing) from its current
// state.
func (r *syncRole) follow(m *lvs.SyncManager, instance string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m, r.followed = m, instance
	m.SetMaster(instance != "" && r.states[instance] == vrrp.Master)
}

// onTransition is the VRRP router's hook. A resigning director keeps its
// daemons as they are: its master daemon still sends what it has queued,
// and a restart adopts them.
func (d *Daemon) onTransition(instance string, to vrrp.State, why vrrp.Reason) {
	d.events.Publish(events.Event{Kind: events.KindVRRP, Instance: instance, State: to.String(), Reason: string(why)})
	d.bgpMaster(instance, to == vrrp.Master)
	if why == vrrp.ReasonShutdown {
		return
	}
	d.role.set(instance, to)
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
	if len(spec.Sysctls) > 0 {
		return lvs.NewSyncManager(nil, d.opts.Sysctls, nil).Check(spec)
	}
	return nil
}

// applySync starts connection sync for cfg, or switches it to cfg. At
// start-up the daemons go up before VRRP starts, so a backup already
// receives its peer's connections when it can first win. Only a kernel
// without IPVS is an error: a refused start or setting is logged, shown
// in the status and retried by the manager's loop.
func (d *Daemon) applySync(cfg *config.Config) error {
	if err := d.prepareSync(cfg); err != nil {
		return err
	}
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	spec := syncSpec(cfg)
	m := d.sync.Load()
	if m == nil {
		return nil
	}
	followed := ""
	if sd := cfg.IPVS.SyncDaemon; sd != nil {
		followed = sd.VRRPInstance
	}
	d.role.follow(m, followed)
	if err := m.Apply(spec); err != nil {
		d.log.Error("IPVS connection sync not applied yet; retrying", "err", err)
	}
	return nil
}

// prepareSync opens the sync daemons' manager if cfg needs one and none
// runs yet: the one step of applySync that can fail, which a reload takes
// before it changes anything.
func (d *Daemon) prepareSync(cfg *config.Config) error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	spec := syncSpec(cfg)
	if d.sync.Load() != nil || spec.Daemon == nil && len(spec.Sysctls) == 0 {
		return nil
	}
	k, err := d.opts.OpenSync()
	if err != nil {
		return fmt.Errorf("IPVS connection sync: %w", err)
	}
	m := lvs.NewSyncManager(k, d.opts.Sysctls, d.log.With("subsystem", "ipvs-sync"))
	d.sync.Store(m)
	go m.Run(d.bg)
	return nil
}

// stopSync waits for the manager's loop to end (bg is cancelled), then
// stops the daemons the configuration declared when clear_on_stop asks.
func (d *Daemon) stopSync(clearOwned bool) {
	m := d.sync.Load()
	if m == nil {
		return
	}
	<-m.Done()
	if !clearOwned {
		return
	}
	if err := m.StopOwned(); err != nil {
		d.log.Error("clear_on_stop: could not stop the sync daemons", "err", err)
	}
}
