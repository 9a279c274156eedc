// Package daemon wires directord's subsystems together for `directord
// run`: it translates the configuration for each of them, runs them under
// one context, and serves the status API on a unix socket.
//
// Start-up order matters: the IPVS table is adopted and programmed first,
// on every director whatever its VRRP state (a backup must be ready to
// forward the moment it wins), then health checks start, then VRRP.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"directord/config"
	"directord/healthcheck"
	"directord/lvs"
	"directord/vrrp"
)

// Options are the daemon's dependencies.
type Options struct {
	Logger *slog.Logger
	// VRRP is the operating system view of the VRRP router;
	// vrrp.NewLinuxSystem() when zero.
	VRRP vrrp.System
	// OpenIPVS opens the kernel's IPVS table; lvs.OpenKernel when nil.
	OpenIPVS func() (lvs.Kernel, error)
}

// Daemon is one running directord.
type Daemon struct {
	log     *slog.Logger
	opts    Options
	cfg     *config.Config
	router  *vrrp.Router
	monitor *healthcheck.Monitor
	recon   *lvs.Reconciler
	kernel  lvs.Kernel
	started time.Time
}

// New prepares a daemon for cfg.
func New(cfg *config.Config, opts Options) *Daemon {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sys := opts.VRRP
	if sys.Listen == nil {
		sys = vrrp.NewLinuxSystem()
	}
	if opts.OpenIPVS == nil {
		opts.OpenIPVS = lvs.OpenKernel
	}
	return &Daemon{
		log:     log,
		opts:    opts,
		cfg:     cfg,
		router:  vrrp.NewRouter(sys, log.With("subsystem", "vrrp")),
		monitor: healthcheck.NewMonitor(healthcheck.Options{Logger: log.With("subsystem", "healthcheck")}),
	}
}

// health tells the reconciler whether a real is up; a real without a
// check always is.
func (d *Daemon) health(vs *config.VirtualServer, rs *config.RealServer) bool {
	if rs.HealthCheck == nil {
		return true
	}
	up, known := d.monitor.Up(WatchID(vs, rs))
	return up || !known
}

// Run runs until ctx ends, then stops gracefully: VRRP masters resign with
// priority 0 and remove their VIPs; the IPVS table is left as it is
// (unless ipvs.clear_on_stop), so traffic keeps flowing through a restart.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	srv, err := d.serveStatus()
	if err != nil {
		return err
	}
	defer srv.Close()

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	if err := d.startLVS(bg); err != nil {
		return err
	}
	if d.kernel != nil {
		defer d.kernel.Close()
	}

	instances, groups := vrrpConfigs(d.cfg)
	errc := make(chan error, 1)
	go func() { errc <- d.router.Run(ctx, instances, groups) }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("start VRRP: %w", err)
		}
		return nil
	case <-d.router.Ready():
		d.log.Info("directord running", "config", d.cfg.Path, "router_id", d.cfg.Director.RouterID,
			"vrrp_instances", len(instances), "virtual_servers", len(d.cfg.VirtualServers),
			"status_socket", d.cfg.Director.StatusSocket)
	}
	err = <-errc
	stopBG()
	if d.recon != nil && d.cfg.IPVS.ClearOnStop {
		if cerr := d.recon.ClearOwned(); cerr != nil {
			d.log.Error("clear_on_stop: could not remove every owned service", "err", cerr)
		} else {
			d.log.Info("clear_on_stop: owned IPVS services removed")
		}
	}
	d.log.Info("directord stopped")
	return err
}

// startLVS adopts and programs the IPVS table and starts the health
// checks that feed it. Without virtual servers it does nothing, so a
// VRRP-only director needs no IPVS.
func (d *Daemon) startLVS(ctx context.Context) error {
	if len(d.cfg.VirtualServers) == 0 {
		return nil
	}
	k, err := d.opts.OpenIPVS()
	if err != nil {
		return err
	}
	d.kernel = k
	if err := d.monitor.Update(HealthWatches(d.cfg)); err != nil {
		return fmt.Errorf("health checks: %w", err)
	}
	d.recon = lvs.New(k, lvs.Options{Logger: d.log.With("subsystem", "ipvs"), Health: d.health})
	if err := d.recon.Start(d.cfg); err != nil {
		return fmt.Errorf("IPVS: %w", err)
	}
	go d.recon.Run(ctx)
	go d.monitor.Run(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.monitor.Events():
				d.recon.HealthChanged()
			}
		}
	}()
	return nil
}
