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
	return cmd
}
