package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"directord/importer"
)

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Translate an existing LVS setup into directord configuration",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "ipvsadm",
		Short: "Read `ipvsadm -Sn` on stdin, print virtual_server blocks",
		Long: `Reads the IPVS table as ipvsadm saves it (ipvsadm -Sn, or ipvsadm-save -n)
from standard input and prints the equivalent virtual_server blocks on
standard output. What cannot be carried over is a comment naming its input
line; a summary goes to standard error. For example:

  ipvsadm -Sn | directord import ipvsadm > services.hcl

ipvsadm -Ln is refused: it is a listing for people, and -Sn says everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svcs, notes, err := importer.ParseIPVSAdm(cmd.InOrStdin())
			if err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("import ipvsadm: %w", err)}
			}
			out, sum := importer.RenderIPVSAdm(svcs, notes)
			if _, err := cmd.OutOrStdout().Write(out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "directord import ipvsadm:", sum)
			return nil
		},
	})
	var configID string
	ka := &cobra.Command{
		Use:   "keepalived FILE",
		Short: "Translate a keepalived.conf into directord configuration",
		Long: `Reads a keepalived.conf, following its include lines (globs, relative to
the including file), expanding $NAME parameters and applying conditional
lines for --config-id as keepalived -i would, and prints the equivalent
directord configuration on standard output. Each keyword that cannot be
carried over is a comment naming its file:line and the reason; a summary
goes to standard error. For example:

  directord import keepalived /etc/keepalived/keepalived.conf > directord.hcl
  directord validate --config directord.hcl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, notes, err := importer.ParseKeepalived(args[0], importer.KAOptions{ConfigID: configID})
			if err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("import keepalived: %w", err)}
			}
			out, sum := importer.RenderKeepalived(root, notes)
			if _, err := cmd.OutOrStdout().Write(out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "directord import keepalived:", sum)
			return nil
		},
	}
	ka.Flags().StringVar(&configID, "config-id", "", "keepalived's -i: which conditional (@ID) lines apply")
	cmd.AddCommand(ka)
	return cmd
}
