package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd writes one man page per command. ./scripts/package.sh runs it
// on the binary it packages, so the pages are the commands' own help and
// never drift from it. It is hidden: operators read the pages, not make
// them.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write a man page (section 8) for every command into DIR",
		Long:   "Write a man page (section 8) for every command into DIR, which must exist. SOURCE_DATE_EPOCH sets the pages' date.",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
				return fmt.Errorf("man: %s is not a directory", args[0])
			}
			header := &doc.GenManHeader{
				Section: "8",
				Source:  "directord " + versionNumber(),
				Manual:  "directord manual",
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			return doc.GenManTree(root, header, args[0])
		},
	}
}
