// Package daemon wires directord's subsystems together for `directord
// run`: it translates the configuration for each of them, runs them under
// one context, reloads them on SIGHUP, and serves the status API on a unix
// socket and Prometheus metrics.
//
// Start-up order matters: the IPVS table is adopted and programmed first,
// on every director whatever its VRRP state (a backup must be ready to
// forward the moment it wins), then health checks start, then VRRP. READY
// goes to systemd once all of that is done.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"directord/config"
	"directord/healthcheck"
	"directord/internal/events"
	"directord/lvs"
	"directord/throughvip"
	"directord/vrrp"
)

// Options are the daemon's dependencies.
type Options struct {
	Logger *slog.Logger
	// Level is the logger's level, changed by reloads; may be nil.
	Level *slog.LevelVar
	// VRRP is the operating system view of the VRRP router;
	// vrrp.NewLinuxSystem when zero.
	VRRP vrrp.System
	// OpenIPVS opens the kernel's IPVS table; lvs.OpenKernel when nil.
	OpenIPVS func() (lvs.Kernel, error)
	// OpenSync opens the IPVS sync daemons; lvs.OpenSync when nil.
	OpenSync func() (lvs.SyncKernel, error)
	// Sysctls are the net.ipv4.vs settings; lvs.OpenSysctls() when nil.
	Sysctls lvs.Sysctls
	// Version is reported in the status and metrics.
	Version string
	// Hangup delivers SIGHUP. The run command registers it before it
	// reads the configuration: Go's default for SIGHUP is to exit, and a
	// SIGHUP before the daemon is ready (systemctl reload during start)
	// must become a reload once it is. When nil, Run registers its own.
	Hangup <-chan os.Signal
	// NewSteerer makes what installs the policy routes of checks through
	// the VIP, the first time a configuration has one;
	// throughvip.New when nil.
	NewSteerer func(throughvip.Range, *slog.Logger) Steerer
	// BGPSpeaker is the speaker program a bgp block runs (see
	// bgp.Remote); when empty, directord-bgp beside this executable
	// (the daemon's own path with "-bgp" added).
	BGPSpeaker string
}

// Daemon is one running directord.
type Daemon struct {
	log     *slog.Logger
	level   *slog.LevelVar
	opts    Options
	first   *config.Config // as started: director settings need a restart
	cfg     atomic.Pointer[config.Config]
	router  *vrrp.Router
	monitor *healthcheck.Monitor
	kernel  lvs.Kernel
	recon   atomic.Pointer[lvs.Reconciler]
	sync    atomic.Pointer[lvs.SyncManager]
	syncMu  sync.Mutex // serialises creating and applying the manager
	role    syncRole
	bg      context.Context
	started time.Time
	metrics *metrics
	// tables is the IPVS table the status and the metrics show: one
	// dump a second at most, shared, and off the reconciler's goroutine.
	tables  *tableCache
	events  *events.Bus
	quorum  quorumTracker // the reconciler's goroutine's
	bgp     bgpMode
	streams streamSlots
	hooks   *hooks
	// steer installs the routes of checks through the VIP (made at
	// start); steerClosed is set at stop, after which nothing applies
	// them again. Both under reloadMu once Run has started.
	steer       Steerer
	steerClosed bool

	reloadMu sync.Mutex
	// ready is set once Run has started everything: a reload asked
	// through the socket before that is refused (503), since Run is
	// still opening what the reload would change.
	ready atomic.Bool
	// reloading is set while a reload runs: an operator's change is
	// refused then rather than queued behind it.
	reloading atomic.Bool
	// state is the operators' overrides (drain, weight), as in the
	// state file; maint the reals a maintenance_dir file drains. Both
	// change under reloadMu and are read by status at any time.
	state         atomic.Pointer[runtimeState]
	maint         atomic.Pointer[map[string]bool]
	maintErr      string // the last maintenance_dir error logged (under reloadMu)
	reloadsOK     atomic.Uint64
	reloadsFailed atomic.Uint64
	lastReload    atomic.Pointer[ReloadResult]
}

// New prepares a daemon for cfg.
func New(cfg *config.Config, opts Options) *Daemon {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Level == nil {
		opts.Level = new(slog.LevelVar)
	}
	if opts.VRRP.Listen == nil {
		opts.VRRP = vrrp.NewLinuxSystem(opts.Logger)
	}
	if opts.OpenIPVS == nil {
		opts.OpenIPVS = lvs.OpenKernel
	}
	if opts.OpenSync == nil {
		opts.OpenSync = lvs.OpenSync
	}
	if opts.Sysctls == nil {
		opts.Sysctls = lvs.OpenSysctls()
	}
	if opts.NewSteerer == nil {
		opts.NewSteerer = func(r throughvip.Range, l *slog.Logger) Steerer { return throughvip.New(r, l) }
	}
	d := &Daemon{log: opts.Logger, level: opts.Level, opts: opts, first: cfg, events: events.NewBus(time.Now)}
	d.cfg.Store(cfg)
	d.tables = newTableCache(tableMaxAge, time.Now, afterFunc, d.readTable)
	d.hooks = newHooks(d.log.With("subsystem", "hooks"), d.events, d.config)
	d.metrics = newMetrics(d)
	d.router = vrrp.NewRouter(opts.VRRP, d.log.With("subsystem", "vrrp"))
	d.router.OnTransition(d.onTransition)
	d.monitor = healthcheck.NewMonitor(healthcheck.Options{
		Logger:   d.log.With("subsystem", "healthcheck"),
		OnResult: d.metrics.observeCheck,
	})
	return d
}

func (d *Daemon) config() *config.Config { return d.cfg.Load() }

// health tells the reconciler whether the real with this WatchID is up;
// a real without a check (the monitor does not know it) always is.
func (d *Daemon) health(id string) bool {
	up, known := d.monitor.Up(id)
	return up || !known
}

// Run runs until ctx ends, then stops gracefully: VRRP masters resign with
// priority 0 and remove their VIPs, the stop hooks run, and the IPVS table
// is left as it is (unless ipvs.clear_on_stop), so traffic keeps flowing
// through a restart.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	hup, stopHup := d.hangups()
	defer stopHup()
	cfg := d.config()
	closeServers, err := d.openServers(cfg)
	if err != nil {
		return err
	}
	defer closeServers()

	bg, stopBG := context.WithCancel(context.Background())
	defer d.closeLVS(stopBG)
	d.bg = bg
	p, err := translate(cfg)
	if err != nil {
		return err
	}
	if err := d.monitor.Update(p.watches); err != nil {
		return fmt.Errorf("health checks: %w", err)
	}
	// VRRP's goroutine below keeps p for good: not this (2 MB at 10,000).
	p.watches = nil
	d.applySteers(cfg, Steers(cfg))
	defer d.closeSteers()
	go d.hooks.loop(bg)
	d.loadRuntime(cfg)
	d.scanMaintenance(cfg)
	go d.watchMaintenance(bg)
	go d.repairSteers(bg)
	go d.forwardHealth(bg)
	// BGP first: the reconciler's first pass tells the announcer which
	// services have quorum.
	if err := d.startBGP(bg, cfg); err != nil {
		return err
	}
	defer d.stopBGP()
	if err := d.startIPVS(cfg); err != nil {
		return err
	}
	// The checks start once the table has the probe services that steer
	// checks through the VIP (and the routes are in place): a first
	// probe sent before would reach whichever real the VIP's own
	// service picked.
	go d.monitor.Run(bg)

	errc := make(chan error, 1)
	go func() { errc <- d.router.Run(ctx, p.instances, p.groups) }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("start VRRP: %w", err)
		}
		return nil
	case <-d.router.Ready():
	}
	d.log.Info("directord running", "config", cfg.Path, "router_id", cfg.Director.RouterID,
		"vrrp_instances", len(p.instances), "virtual_servers", len(cfg.VirtualServers),
		"status_socket", cfg.Director.StatusSocket)
	d.ready.Store(true)
	notify(d.log, "READY=1", "STATUS=running")
	go d.watchdog(bg)
	for {
		select {
		case <-hup:
			d.Reload(ctx)
		case <-ctx.Done():
			notify(d.log, "STOPPING=1")
			// Withdrawn first, while IPVS still serves what the routers
			// send during drain_time (VRRP resigns meanwhile).
			d.stopBGP()
			err := <-errc
			return d.stop(err, stopBG)
		case err := <-errc:
			// Withdrawn before the table is touched (clear_on_stop).
			d.stopBGP()
			return d.stop(err, stopBG)
		}
	}
}

// hangups is where SIGHUP arrives: Options.Hangup, or the signal itself
// from now on (a SIGHUP before the daemon is ready is a reload, not the
// default's exit).
func (d *Daemon) hangups() (<-chan os.Signal, func()) {
	if d.opts.Hangup != nil {
		return d.opts.Hangup, func() {}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}

// openServers takes the run lock (one daemon per status socket) and opens
// the status socket and the metrics listener; the function returned
// closes them.
func (d *Daemon) openServers(cfg *config.Config) (func(), error) {
	lock, err := lockRun(cfg.Director.StatusSocket)
	if err != nil {
		return nil, err
	}
	status, err := d.serveStatus()
	if err != nil {
		lock.Close()
		return nil, err
	}
	closeMetrics := func() {}
	if cfg.Director.MetricsListen != "" {
		srv, err := d.serveMetrics(cfg.Director.MetricsListen)
		if err != nil {
			status.Close()
			lock.Close()
			return nil, err
		}
		closeMetrics = func() { srv.Close() }
	}
	return func() {
		closeMetrics()
		status.Close()
		lock.Close()
	}, nil
}

// startIPVS checks the sync daemons' interfaces, adopts and programs the
// table, and starts the sync daemons.
func (d *Daemon) startIPVS(cfg *config.Config) error {
	if err := d.checkSync(cfg); err != nil {
		return err
	}
	if len(cfg.VirtualServers) > 0 {
		if err := d.openLVS(); err != nil {
			return err
		}
		if err := d.startLVS(cfg); err != nil {
			return err
		}
	}
	return d.applySync(cfg)
}

func (d *Daemon) stop(err error, stopBG context.CancelFunc) error {
	stopBG()
	if r := d.recon.Load(); r != nil && d.config().IPVS.ClearOnStop {
		if cerr := r.ClearOwned(); cerr != nil {
			d.log.Error("clear_on_stop: could not remove every owned service", "err", cerr)
		} else {
			d.log.Info("clear_on_stop: owned IPVS services removed")
		}
	}
	d.stopSync(d.config().IPVS.ClearOnStop)
	d.log.Info("directord stopped")
	return err
}

// openLVS opens the kernel's IPVS table and makes the reconciler.
func (d *Daemon) openLVS() error {
	k, err := d.opts.OpenIPVS()
	if err != nil {
		return err
	}
	d.kernel = k
	return nil
}

// closeLVS ends the background work (stopBG), waits for the sync
// manager's loop, and closes the kernel connections.
func (d *Daemon) closeLVS(stopBG context.CancelFunc) {
	stopBG()
	if m := d.sync.Load(); m != nil {
		<-m.Done()
		m.Close()
	}
	if d.kernel != nil {
		d.kernel.Close()
	}
}

// startLVS adopts and programs the table and starts reconciling.
func (d *Daemon) startLVS(cfg *config.Config) error {
	r := lvs.New(d.kernel, lvs.Options{Logger: d.log.With("subsystem", "ipvs"), Health: d.health, Weight: d.runtimeWeight, OnStates: d.onStates, OnWrite: d.onWrite})
	if err := r.Start(d.ipvsSpec(cfg)); err != nil {
		return fmt.Errorf("IPVS: %w", err)
	}
	go r.Run(d.bg)
	d.recon.Store(r)
	return nil
}

// holdPreemption keeps a VRRP instance from preempting a live master while
// this director's own checks say a service on one of its VIPs has lost
// quorum: after its link comes back, until its checks have recovered, a
// director that took over would only refuse connections.
func (d *Daemon) holdPreemption(states []lvs.ServiceState) {
	holds := map[string]string{}
	for _, in := range d.config().Instances {
		for _, st := range states {
			if !st.QuorumLost || !st.Key.Addr.IsValid() {
				continue
			}
			for _, v := range in.VirtualIPs {
				if v.Prefix.Addr() == st.Key.Addr {
					holds[in.Name] = "virtual_server " + st.Name + " has lost quorum here"
				}
			}
		}
	}
	d.router.HoldPreemption(holds)
}

// forwardHealth turns health changes into reconciler passes.
func (d *Daemon) forwardHealth(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-d.monitor.Events():
			d.publishHealth(ev)
			if r := d.recon.Load(); r != nil {
				r.HealthChanged()
			}
		}
	}
}
