package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"directord/config"
	"directord/healthcheck"
	"directord/internal/daemon"
)

// exitDown is check --once's exit status when a real server is down.
const exitDown = 3

func newCheckCmd() *cobra.Command {
	var path string
	var once, asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run the configuration's health checks, without IPVS or VRRP",
		Long: `check runs every health check the configuration declares, to test a config
before going live; it needs no root (unless bind_address requires it) and
touches nothing. With --once it probes each real server once, prints a table
and exits 0 when all are up, 3 when any is down. Without --once it keeps
watching with the configured interval, rise and fall, and prints each change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if once {
				return checkOnce(ctx, cmd.OutOrStdout(), cfg, asJSON)
			}
			return checkWatch(ctx, cmd.OutOrStdout(), cfg, asJSON)
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&once, "once", false, "probe every real server once and exit")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type checkRow struct {
	VirtualServer string  `json:"virtual_server"`
	RealServer    string  `json:"real_server"`
	Check         string  `json:"check"`
	Up            bool    `json:"up"`
	LatencyMS     float64 `json:"latency_ms"`
	Reason        string  `json:"reason"`
}

func checkOnce(ctx context.Context, w io.Writer, cfg *config.Config, asJSON bool) error {
	watches, err := daemon.HealthWatches(cfg)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	results, err := healthcheck.CheckOnce(ctx, watches, 256)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	var rows []checkRow
	down := 0
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			row := checkRow{VirtualServer: vs.Name, RealServer: rs.Endpoint().String(), Check: "none", Up: true, Reason: "no check: always up"}
			if len(rs.HealthChecks) > 0 {
				// Several checks: all must pass, the failing one speaks.
				var types []string
				for _, hc := range rs.HealthChecks {
					types = append(types, hc.Type)
				}
				r := results[daemon.WatchID(vs, rs)]
				row.Check, row.Up, row.Reason = strings.Join(types, "+"), r.Up, r.Reason
				row.LatencyMS = float64(r.Latency.Microseconds()) / 1000
			}
			if !row.Up {
				down++
			}
			rows = append(rows, row)
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []checkRow{}
		}
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VIRTUAL SERVER\tREAL SERVER\tCHECK\tSTATUS\tLATENCY\tREASON")
		for _, r := range rows {
			status := "up"
			if !r.Up {
				status = "DOWN"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1fms\t%s\n", r.VirtualServer, r.RealServer, r.Check, status, r.LatencyMS, r.Reason)
		}
		tw.Flush()
	}
	if down > 0 {
		return &exitError{code: exitDown}
	}
	return nil
}

type checkEvent struct {
	Time     time.Time `json:"time"`
	Watchers []string  `json:"real_servers"`
	Check    string    `json:"check"`
	Up       bool      `json:"up"`
	Reason   string    `json:"reason"`
}

func checkWatch(ctx context.Context, w io.Writer, cfg *config.Config, asJSON bool) error {
	watches, err := daemon.HealthWatches(cfg)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	m := healthcheck.NewMonitor(healthcheck.Options{})
	if err := m.Update(watches); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if !asJSON {
		fmt.Fprintf(w, "watching %d real servers with %d probes; Ctrl-C to stop\n", len(watches), m.Len())
	}
	go m.Run(ctx)
	enc := json.NewEncoder(w)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-m.Events():
			if asJSON {
				_ = enc.Encode(checkEvent{Time: ev.At, Watchers: ev.Subscribers, Check: ev.Spec.Name(), Up: ev.Up, Reason: ev.Result.Reason})
				continue
			}
			state := "UP  "
			if !ev.Up {
				state = "DOWN"
			}
			for _, id := range ev.Subscribers {
				fmt.Fprintf(w, "%s  %s  %s  %s (%s)\n", ev.At.Format("15:04:05.000"), state, id, ev.Spec.Name(), ev.Result.Reason)
			}
		}
	}
}
