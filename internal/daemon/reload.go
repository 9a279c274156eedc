package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"directord/config"
	"directord/healthcheck"
	"directord/internal/events"
	"directord/internal/privdir"
)

// ReloadResult is the outcome of the last reload, for the status view.
type ReloadResult struct {
	At     time.Time `json:"at"`
	OK     bool      `json:"ok"`
	SHA256 string    `json:"sha256,omitempty"`
	Error  string    `json:"error,omitempty"`
	// Diagnostics is the located, human-readable list of problems of an
	// invalid file.
	Diagnostics string `json:"diagnostics,omitempty"`
	// Seconds is how long the reload took; LoadSeconds the part spent
	// reading and decoding the file, before anything was compared or
	// changed (at tens of thousands of reals, most of it).
	Seconds     float64 `json:"seconds"`
	LoadSeconds float64 `json:"load_seconds"`
}

// ErrInvalidConfig wraps the diagnostics of a reload refused because the
// new file is invalid.
var ErrInvalidConfig = errors.New("invalid configuration")

// Reload reads the configuration file again and applies the difference.
// An invalid file changes nothing: the old configuration keeps running
// and the failure is counted and shown in the status. A valid one is
// applied whole: the apply does not follow ctx (a client that gives up
// must not leave VRRP on the new configuration and IPVS on the old),
// only ctx's values.
func (d *Daemon) Reload(ctx context.Context) ReloadResult {
	ctx = context.WithoutCancel(ctx)
	d.reloading.Store(true)
	defer d.reloading.Store(false)
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	notify(d.log, "RELOADING=1", "MONOTONIC_USEC="+monotonicUsec())
	defer notify(d.log, "READY=1")
	res := ReloadResult{At: time.Now()}
	err := d.reload(ctx, &res)
	res.Seconds = time.Since(res.At).Seconds()
	if err == nil {
		res.OK, res.SHA256 = true, d.config().SHA256
		d.reloadsOK.Add(1)
		d.log.Info("configuration reloaded", "sha256", res.SHA256, "seconds", res.Seconds, "load_seconds", res.LoadSeconds)
	} else {
		res.Error = err.Error()
		var de *config.DiagnosticsError
		if errors.As(err, &de) {
			var b bytes.Buffer
			_ = de.Write(&b, false)
			res.Diagnostics = b.String()
		}
		d.reloadsFailed.Add(1)
		d.log.Error("reload failed; the running configuration is unchanged", "err", err)
	}
	d.lastReload.Store(&res)
	d.events.Publish(events.Event{Time: res.At, Kind: events.KindReload, OK: events.Bool(res.OK), Error: res.Error})
	return res
}

// reload applies the file; it sets res.LoadSeconds.
func (d *Daemon) reload(ctx context.Context, res *ReloadResult) error {
	if err := CheckConfigFile(d.config().Path); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	// The same bytes are the same configuration: nothing to decode, and
	// nothing to write (a routine SIGHUP from configuration management
	// at 10,000 services would otherwise cost the decode, most of a
	// second).
	if sum, err := config.Digest(d.config().Path); err == nil && sum == d.config().SHA256 {
		res.LoadSeconds = time.Since(res.At).Seconds()
		d.log.Info("configuration file unchanged: nothing to apply", "sha256", sum)
		return nil
	}
	cfg, err := config.Load(d.config().Path)
	res.LoadSeconds = time.Since(res.At).Seconds()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	// Everything that can fail is checked before anything changes.
	p, err := translate(cfg)
	if err != nil {
		return err
	}
	if err := healthcheck.Validate(p.watches); err != nil {
		return fmt.Errorf("health checks: %w", err)
	}
	if err := d.checkSync(cfg); err != nil {
		return err
	}
	if err := sameMarks(d.config(), cfg); err != nil {
		return err
	}
	if err := checkBGPReload(d.config(), cfg); err != nil {
		return err
	}
	if len(cfg.VirtualServers) > 0 && d.kernel == nil {
		if err := d.openLVS(); err != nil {
			return err
		}
	}
	if err := d.prepareSync(cfg); err != nil {
		return err
	}
	// Then the steps that can still fail, each undone if a later one
	// does: the health checks (a checker built from a file, such as a
	// CA, that went away since Validate) and VRRP (a socket for a new
	// interface). VRRP's Reload changes nothing when it fails.
	undoSteers := d.beforeChecks(ctx, d.config(), cfg)
	running := d.monitor.Watches()
	if err := d.monitor.Update(p.watches); err != nil {
		undoSteers()
		return fmt.Errorf("health checks: %w", err)
	}
	if err := d.router.Reload(ctx, p.instances, p.groups); err != nil {
		// Back to the set that was running (taken from the monitor
		// before the Update, not translated again: a script_user
		// lookup failing now must not empty it), then
		// its routes and probes: the new checks stop before theirs go.
		if uerr := d.monitor.Update(running); uerr != nil {
			d.log.Error("health checks: could not go back to the running set", "err", uerr)
		}
		undoSteers()
		return fmt.Errorf("VRRP: %w", err)
	}
	// From here nothing refuses, and the new file is the running one
	// before IPVS takes it: the preemption holds the reconciler's pass
	// computes map services to the new instances. The reconciler takes
	// the new table (a write the kernel refuses is retried and shown in
	// the status, as at start).
	d.pruneRuntime(cfg)
	// A real the reload adds may have its maintenance file already, or
	// maintenance_dir itself changed: read it now, not at the next poll,
	// or the real is written at full weight first.
	d.scanMaintenance(cfg)
	d.cfg.Store(cfg)
	d.applySteers(cfg, Steers(cfg))
	if r := d.recon.Load(); r != nil {
		if err := r.Reload(ctx, d.ipvsSpec(cfg)); err != nil {
			d.log.Error("IPVS: the reconciler did not take the new configuration", "err", err)
		}
	} else if d.kernel != nil && len(cfg.VirtualServers) > 0 {
		if err := d.startLVS(cfg); err != nil {
			d.log.Error("IPVS: could not start the reconciler", "err", err)
		}
	}
	if err := d.applySync(cfg); err != nil {
		d.log.Error("IPVS sync daemons: will retry", "err", err)
	}
	d.reloadBGP(ctx, cfg)
	d.level.Set(logLevel(cfg.Director.LogLevel))
	if d.first.Director.StatusSocket != cfg.Director.StatusSocket || d.first.Director.MetricsListen != cfg.Director.MetricsListen ||
		d.first.Director.LogFormat != cfg.Director.LogFormat {
		d.log.Warn("status_socket, metrics_listen and log_format take effect at the next restart")
	}
	return nil
}

// CheckConfigFile refuses a configuration that a user other than root
// could have written: the daemon runs as root the hooks and scripts it
// names. The file and every directory on its path must be root's and
// writable by no one else.
//
// For a directory, that is the directory and each of its *.hcl files.
func CheckConfigFile(path string) error {
	names, err := config.Files(path)
	if err != nil {
		return err
	}
	if len(names) > 1 || names[0] != path {
		names = append([]string{path}, names...)
	}
	for _, n := range names {
		if err := privdir.CheckPath(n); err != nil {
			return fmt.Errorf("configuration %s: %w", n, err)
		}
	}
	return nil
}

func logLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
