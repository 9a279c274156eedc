// Package daemon wires directord's subsystems together for `directord
// run`: it translates the configuration for each of them, runs them under
// one context, and serves the status API on a unix socket.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"directord/config"
	"directord/vrrp"
)

// Options are the daemon's dependencies.
type Options struct {
	Logger *slog.Logger
	// VRRP is the operating system view of the VRRP router;
	// vrrp.NewLinuxSystem() when zero.
	VRRP vrrp.System
}

// Daemon is one running directord.
type Daemon struct {
	log     *slog.Logger
	cfg     *config.Config
	router  *vrrp.Router
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
	return &Daemon{
		log:    log,
		cfg:    cfg,
		router: vrrp.NewRouter(sys, log.With("subsystem", "vrrp")),
	}
}

// Run runs until ctx ends, then stops gracefully: VRRP masters resign with
// priority 0 and remove their VIPs.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	srv, err := d.serveStatus()
	if err != nil {
		return err
	}
	defer srv.Close()

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
			"vrrp_instances", len(instances), "status_socket", d.cfg.Director.StatusSocket)
	}
	err = <-errc
	d.log.Info("directord stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
