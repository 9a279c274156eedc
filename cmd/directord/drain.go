package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"directord/internal/daemon"
)

// exitWaiting is drain --wait's exit code when connections are left at
// the timeout: the drain itself took, the deploy should not start yet.
const exitWaiting = 3

// drainPoll is how often drain --wait reads the connection count.
const drainPoll = 200 * time.Millisecond

func newDrainCmd() *cobra.Command {
	var f socketFlags
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "drain VIRTUAL_SERVER REAL_SERVER",
		Short: "Give a real server weight 0 at run time: its connections go on, new ones go elsewhere",
		Long: `drain sets the real server's weight to 0 in the running director. Established
connections carry on; new ones go to the other real servers. The drain is kept
in the director's state file, so it survives a restart and a reload, until
undrain. REAL_SERVER is the address, or address:port, as the configuration
names it.

With --wait it returns once the real has no active connections in the IPVS
table (exit 0), or exits 3 saying how many are left after --timeout. A refused
request (unknown virtual or real server, a reload in flight) exits 2.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sock := f.path(cmd.ErrOrStderr())
			st, err := change(cmd.Context(), sock, "/v1/drain", daemon.ChangeRequest{VirtualServer: args[0], RealServer: args[1]})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), describeReal(st))
			if !wait {
				return nil
			}
			return waitDrained(cmd.Context(), cmd.OutOrStdout(), sock, st, timeout)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the real server has no active connections")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait, give up after this long (exit 3)")
	return cmd
}

func newUndrainCmd() *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "undrain VIRTUAL_SERVER REAL_SERVER",
		Short: "End a drain: the real server gets its weight back",
		Long: `undrain ends a drain made by drain: the real server gets back its runtime
weight (see weight) or its configured one. A file of maintenance_dir still
drains it while it is there.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := change(cmd.Context(), f.path(cmd.ErrOrStderr()), "/v1/undrain", daemon.ChangeRequest{VirtualServer: args[0], RealServer: args[1]})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), describeReal(st))
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newWeightCmd() *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "weight VIRTUAL_SERVER REAL_SERVER N|reset",
		Short: "Override a real server's configured weight at run time",
		Long: `weight gives the real server weight N (0-65535) in the running director,
in place of its configured weight, until "reset". Like a drain it is kept in
the state file through restarts and reloads. A drained real stays at 0 and
gets N when undrained.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := daemon.ChangeRequest{VirtualServer: args[0], RealServer: args[1]}
			if args[2] != "reset" {
				n, err := strconv.Atoi(args[2])
				if err != nil {
					return &exitError{code: exitInvalid, err: fmt.Errorf("weight %q: want a number from 0 to %d, or reset", args[2], daemon.MaxWeight)}
				}
				req.Weight = &n
			}
			st, err := change(cmd.Context(), f.path(cmd.ErrOrStderr()), "/v1/weight", req)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), describeReal(st))
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// change posts req and returns the real's status; a refusal (4xx) is
// exit 2 with the daemon's message.
func change(ctx context.Context, sock, path string, req daemon.ChangeRequest) (daemon.RealServerStatus, error) {
	return ask(ctx, sock, http.MethodPost, path, req)
}

// ask makes one request whose answer is a real's status, or an error
// document that becomes the exit error.
func ask(ctx context.Context, sock, method, path string, req any) (daemon.RealServerStatus, error) {
	var st daemon.RealServerStatus
	var raw json.RawMessage
	code, err := callWith(ctx, sock, method, path, req, &raw)
	if err != nil {
		return st, &exitError{code: exitFailure, err: err}
	}
	if code != http.StatusOK {
		var e daemon.ErrorDoc
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("HTTP %d", code)
		}
		return st, &exitError{code: exitFor(code), err: errors.New(e.Error)}
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, &exitError{code: exitFailure, err: err}
	}
	return st, nil
}

func exitFor(code int) int {
	if code >= 400 && code < 500 {
		return exitInvalid
	}
	return exitFailure
}

// describeReal is one line about a real's weights and connections.
func describeReal(st daemon.RealServerStatus) string {
	state := "in service"
	switch {
	case st.Drained && st.Maintenance:
		state = "drained (and by a maintenance file)"
	case st.Drained:
		state = "drained"
	case st.Maintenance:
		state = "drained by a maintenance file"
	case !st.Up:
		state = "DOWN"
	}
	s := fmt.Sprintf("%s %s: %s, effective weight %d (configured %d", st.VirtualServer, st.RealServer, state, st.EffectiveWeight, st.Weight)
	if st.RuntimeWeight != nil {
		s += fmt.Sprintf(", runtime %d", *st.RuntimeWeight)
	}
	s += ")"
	if t := st.InTable; t != nil {
		s += fmt.Sprintf("; in the kernel: weight %d, %d active, %d inactive connections", t.Weight, t.ActiveConns, t.InactiveConns)
	} else {
		s += "; not in the kernel's table"
	}
	return s
}

// waitDrained polls the real's active connections until none are left,
// the real is no longer drained, or timeout.
func waitDrained(ctx context.Context, w io.Writer, sock string, st daemon.RealServerStatus, timeout time.Duration) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := url.Values{"virtual_server": {st.VirtualServer}, "real_server": {st.RealServer}}
	last := uint32(0)
	if st.InTable != nil {
		last = st.InTable.ActiveConns
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		if st.InTable == nil || st.InTable.ActiveConns == 0 {
			fmt.Fprintf(w, "%s %s: no active connections left (waited %s)\n", st.VirtualServer, st.RealServer, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if !st.Drained && !st.Maintenance {
			return &exitError{code: exitFailure, err: fmt.Errorf("%s %s was undrained while waiting, with %d active connections", st.VirtualServer, st.RealServer, st.InTable.ActiveConns)}
		}
		if n := st.InTable.ActiveConns; n != last {
			fmt.Fprintf(w, "  %d active connections\n", n)
			last = n
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &exitError{code: exitWaiting, err: fmt.Errorf("%s %s still has %d active connections after %s; it stays drained",
					st.VirtualServer, st.RealServer, st.InTable.ActiveConns, timeout)}
			}
			return ctx.Err()
		case <-tick.C:
		}
		next, err := ask(ctx, sock, http.MethodGet, "/v1/real?"+q.Encode(), nil)
		if err != nil {
			if ctx.Err() != nil {
				continue // the deadline, reported above
			}
			return err
		}
		st = next
	}
}
