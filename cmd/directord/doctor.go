package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"directord/doctor"
	"directord/internal/daemon"
)

func newDoctorCmd() *cobra.Command {
	var (
		path   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine against the configuration",
		Long: `Checks what the configuration needs of this machine: the ip_vs module and
each scheduler's, ip_forward for NAT, reverse-path filtering where VIPs live,
the interfaces it names, SELinux, and that each virtual server's address is a
VIP. Each line is ok, warn or fail, with the command that fixes it.
Exit status: 0 all ok, 1 a warning, 2 a failure (or an invalid configuration).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fs := doctor.Run(doctor.System{}, daemon.DoctorInput(cfg))
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(fs); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "STATUS\tCHECK\tDETAIL\tFIX")
				for _, f := range fs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Status, f.Check, f.Detail, f.Fix)
				}
				tw.Flush()
			}
			if w := doctor.Worst(fs); w != doctor.OK {
				return &exitError{code: int(w)}
			}
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON")
	return cmd
}
