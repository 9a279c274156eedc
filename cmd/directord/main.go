// Command directord turns two Linux machines into a highly available LVS
// director pair: VRRP for the VIPs, health checks for the real servers and
// a reconciler that keeps the kernel's IPVS table equal to the config.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"directord/internal/uml"
)

// Exit codes shared by the subcommands.
const (
	exitOK      = 0
	exitFailure = 1 // anything that is not one of the below
	exitInvalid = 2 // the configuration is invalid
)

// exitError carries a specific exit code out of a cobra command. Its
// message has already been printed when msg is empty.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func main() {
	// Booted as a guest kernel's init (the lab in User-Mode Linux), set
	// the guest up first; this never returns there.
	if uml.IsInit() {
		uml.RunInit()
	}
	// Collect at 50 % heap growth, not Go's 100 %, unless GOGC says
	// otherwise: at 10,000 reals the live heap is about 13 MB and the
	// peak RSS of `check` fell from 60 to 50 MB (`run` starts the same
	// way), for a collection every second or two at 10,000 checks a
	// second. A daemon's peak memory is what an operator sizes a machine
	// by; those collections are a fraction of a percent of a core.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the process exit code. Tests
// call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "directord:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "directord:", err)
	return exitFailure
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "directord",
		Short: "Highly available LVS director: VRRP, health checks and IPVS in one daemon",
		Long: `directord runs on each of two Linux directors. VRRP elects the one that
holds the virtual IPs, health checks watch every real server, and the kernel's
IPVS table is kept equal to the declared virtual services.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newCheckCmd(),
		newDoctorCmd(),
		newDrainCmd(),
		newEventsCmd(),
		newImportCmd(),
		newLabCmd(),
		newManCmd(),
		newReloadCmd(),
		newRealserverCmd(),
		newRunCmd(),
		newStatusCmd(),
		newUndrainCmd(),
		newValidateCmd(),
		newVersionCmd(),
		newWeightCmd(),
	)
	return root
}
