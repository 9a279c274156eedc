package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"directord/doctor"
	"directord/internal/daemon"
	"directord/internal/realserver"
)

func newDoctorCmd() *cobra.Command {
	var (
		path       string
		asJSON     bool
		realServer bool
		listen     bool
		vips       []string
		dev        string
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine against the configuration",
		Long: `Checks what the configuration needs of this machine: the ip_vs module and
each scheduler's, ip_forward for NAT, reverse-path filtering where VIPs live,
the interfaces it names, SELinux, and that each virtual server's address is a
VIP. Each line is ok, warn or fail, with the command that fixes it.
With --realserver it checks a real server instead, as the seed's realserver
script leaves it: each --vip on lo (or --dev) and the ARP settings.
Exit status: 0 all ok, 1 a warning, 2 a failure (or an invalid configuration).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var fs []doctor.Finding
			if realServer {
				var err error
				if fs, err = realServerFindings(vips, dev); err != nil {
					return err
				}
			} else {
				cfg, err := loadConfig(path, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				var l doctor.Listener
				if listen {
					l = doctor.Network{}
				}
				fs = doctor.Run(doctor.System{}, l, daemon.DoctorInput(cfg))
			}
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
	cmd.Flags().BoolVar(&realServer, "realserver", false, "check this host as a real server of --vip")
	cmd.Flags().BoolVar(&listen, "listen", true, "listen for other VRRP speakers on each VRID and ask ARP for the VIPs (a few seconds)")
	cmd.Flags().StringArrayVar(&vips, "vip", nil, "with --realserver: a VIP this real server serves (repeatable)")
	cmd.Flags().StringVar(&dev, "dev", "lo", "with --realserver: where the VIPs belong")
	return cmd
}

// realServerFindings is `realserver status` as findings: each failure is
// fixed by `realserver up`.
func realServerFindings(vipArgs []string, dev string) ([]doctor.Finding, error) {
	vips, err := parseVIPs(vipArgs)
	if err != nil {
		return nil, &exitError{code: exitInvalid, err: err}
	}
	checks, err := realserver.Status(vips, dev)
	if err != nil {
		return nil, err
	}
	fix := "directord realserver up --dev " + dev
	for _, v := range vips {
		fix += " --vip " + v.String()
	}
	var out []doctor.Finding
	for _, c := range checks {
		f := doctor.Finding{Check: c.What, Status: doctor.OK, Detail: c.Note}
		if f.Detail == "" {
			f.Detail = "present"
		}
		if !c.OK {
			f.Status, f.Fix = doctor.Fail, fix
			if c.Note == "" {
				f.Detail = "missing"
			}
		}
		out = append(out, f)
	}
	return out, nil
}
