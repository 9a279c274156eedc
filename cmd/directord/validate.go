package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"directord/config"
)

// loadConfig reads the config and turns its failures into exit codes: 2
// with every diagnostic printed for an invalid file, 1 for anything else.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path)
	var de *config.DiagnosticsError
	switch {
	case errors.As(err, &de):
		_ = de.Write(stderr, false)
		n := 0
		for _, d := range de.Diags {
			if d.Severity == hcl.DiagError {
				n++
			}
		}
		return nil, &exitError{code: exitInvalid, err: fmt.Errorf("%s: invalid configuration (%d %s)", path, n, plural(n, "error", "errors"))}
	case err != nil:
		return nil, &exitError{code: exitFailure, err: err}
	}
	_ = cfg.WriteWarnings(stderr, false)
	return cfg, nil
}

func addConfigFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", config.DefaultPath, "configuration file, or a directory: every *.hcl in it is one configuration")
}

func newValidateCmd() *cobra.Command {
	var path string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration file and summarise what it declares",
		Long: `validate parses and checks the configuration without touching the system.
It exits 0 for a valid file, 2 for an invalid one (with every problem located
by file:line:col), and 1 when the file cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(cfg)
			}
			writeSummary(out, cfg)
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the resolved configuration, defaults filled in, as JSON")
	return cmd
}

func writeSummary(w io.Writer, cfg *config.Config) {
	fmt.Fprintf(w, "%s: valid\n", cfg.Path)
	fmt.Fprintf(w, "  %d vrrp_instance, %d vrrp_sync_group, %d virtual_server\n",
		len(cfg.Instances), len(cfg.SyncGroups), len(cfg.VirtualServers))
	for _, in := range cfg.Instances {
		fmt.Fprintf(w, "  vrrp_instance %q: %s VRID %d priority %d VRRPv%d every %s, %d %s\n",
			in.Name, in.Interface, in.VRID, in.Priority, in.Version, in.AdvertInterval,
			len(in.VirtualIPs), plural(len(in.VirtualIPs), "VIP", "VIPs"))
	}
	reals, checks := 0, 0
	types := map[string]int{}
	for _, vs := range cfg.VirtualServers {
		id := vs.Key()
		fmt.Fprintf(w, "  virtual_server %q: %s %s %s, %d real %s\n", vs.Name, id, vs.Scheduler, vs.Forwarding,
			len(vs.RealServers), plural(len(vs.RealServers), "server", "servers"))
		for _, rs := range vs.RealServers {
			reals++
			for _, hc := range rs.HealthChecks {
				checks++
				types[hc.Type]++
			}
		}
	}
	var parts []string
	for _, t := range []string{config.CheckTCP, config.CheckHTTP, config.CheckHTTPS, config.CheckExec,
		config.CheckUDP, config.CheckDNS, config.CheckICMP, config.CheckSMTP} {
		if types[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", types[t], t))
		}
	}
	detail := ""
	if len(parts) > 0 {
		detail = " (" + strings.Join(parts, ", ") + ")"
	}
	fmt.Fprintf(w, "  %d real %s, %d health %s%s\n", reals, plural(reals, "server", "servers"), checks, plural(checks, "check", "checks"), detail)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
