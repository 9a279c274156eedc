package daemon

import (
	"context"
	"log/slog"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notify tells systemd (Type=notify) about the daemon's state; without
// NOTIFY_SOCKET it does nothing.
func notify(log *slog.Logger, states ...string) {
	if _, err := sd.SdNotify(false, strings.Join(states, "\n")); err != nil {
		log.Debug("sd_notify failed", "err", err)
	}
}

func monotonicUsec() string {
	return strings.TrimSpace(strings.TrimPrefix(sd.SdNotifyMonotonicUsec(), "MONOTONIC_USEC="))
}

// watchdog pings systemd at half of WatchdogSec, and only while the VRRP
// loop answers: a wedged daemon stops pinging and gets restarted.
func (d *Daemon) watchdog(ctx context.Context) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, interval/4)
		_, err := d.router.Status(cctx)
		cancel()
		if err != nil {
			d.log.Warn("VRRP loop did not answer; no watchdog ping", "err", err)
			continue
		}
		notify(d.log, "WATCHDOG=1")
	}
}
