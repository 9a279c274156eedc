package main

import (
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/logging"
)

func newRunCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the director: IPVS, health checks and VRRP",
		Long: `run adopts the kernel's IPVS table and keeps it equal to the declared virtual
servers (on every director, whatever its VRRP state), runs the health checks
that take failed real servers out, and runs every vrrp_instance. On SIGTERM or
SIGINT each master resigns with priority 0 so its peer takes over at once,
the VIPs are removed, the stop hooks run, the IPVS table is left as it is
(unless ipvs.clear_on_stop), and it exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The daemon's heap is mostly state that lives as long as
			// its configuration (probes, tables, the configuration
			// itself), and it makes little garbage once running: collect
			// at 25 % growth, not main's 50 %, unless GOGC says
			// otherwise. At 10,000 reals that is 2-3 MB less at the
			// peak for a collection every second or two.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(25)
			}
			// Go exits on a SIGHUP nobody asked for, and one may come
			// before the daemon is ready.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			// The file is checked before it is read: what it names runs
			// as root.
			if err := daemon.CheckConfigFile(path); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			cfg, err := loadConfig(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			log, level := newLogger(cmd.ErrOrStderr(), cfg.Director)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			d := daemon.New(cfg, daemon.Options{Logger: log, Level: level, Version: versionString(), Hangup: hup})
			if err := d.Run(ctx); err != nil {
				log.Error("directord failed", "err", err)
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	return cmd
}

// newLogger builds the slog logger the configuration asks for. Under
// systemd (JOURNAL_STREAM set) it leaves timestamps to the journal.
func newLogger(w io.Writer, d config.Director) (*slog.Logger, *slog.LevelVar) {
	return logging.New(w, d.LogFormat, d.LogLevel)
}
