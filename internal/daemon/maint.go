package daemon

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"time"

	"directord/config"
	"directord/internal/privdir"
)

// maintenancePoll is how often maintenance_dir is read: ldirectord reads
// it on every check cycle; a second is as quick as an operator needs and
// costs one readdir.
const maintenancePoll = time.Second

// maintenanceDrains reads maintenance_dir and says which reals a file
// there drains: one named after the real's address ("10.0.0.2",
// "2001:db8::2") drains it on every port, one named address:port
// ("10.0.0.2:80", "[2001:db8::2]:80") on that port only, as ldirectord
// does. A directory that does not exist drains nothing; one that another
// user could write to is an error (they could drain any real).
func maintenanceDrains(cfg *config.Config) (map[string]bool, error) {
	out := map[string]bool{}
	dir := cfg.Director.MaintenanceDir
	if dir == "" {
		return out, nil
	}
	if err := privdir.CheckPath(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			if names[rs.Address.String()] || names[rs.Endpoint().String()] {
				out[WatchID(vs, rs)] = true
			}
		}
	}
	return out, nil
}

// scanMaintenance sets the maintenance drains from the directory; on an
// error it keeps the ones in force (a directory made unsafe must not
// undrain every real at once) and says so. It returns whether they
// changed. The caller holds reloadMu, or the daemon is starting.
func (d *Daemon) scanMaintenance(cfg *config.Config) bool {
	now, err := maintenanceDrains(cfg)
	if err != nil {
		if d.maintErr != err.Error() {
			d.log.Error("maintenance_dir not read; the drains it made stay as they are", "err", err)
			d.maintErr = err.Error()
		}
		return false
	}
	d.maintErr = ""
	was := d.maintenance()
	if maps.Equal(was, now) {
		return false
	}
	for id := range now {
		if !was[id] {
			d.log.Info("real server drained by a maintenance file", "real", id, "dir", cfg.Director.MaintenanceDir)
			d.publishDrain("maintenance", id, 0)
		}
	}
	for id := range was {
		if !now[id] {
			d.log.Info("real server's maintenance file gone", "real", id)
			d.publishDrain("maintenance_end", id, -1)
		}
	}
	d.maint.Store(&now)
	return true
}

// watchMaintenance polls maintenance_dir (the one of the running
// configuration: a reload may change it) until ctx ends.
func (d *Daemon) watchMaintenance(ctx context.Context) {
	t := time.NewTicker(maintenancePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.reloadMu.Lock()
		cfg := d.config()
		if d.scanMaintenance(cfg) {
			d.pushSpec(ctx, cfg)
		}
		d.reloadMu.Unlock()
	}
}
