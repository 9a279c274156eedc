package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func newEventsCmd() *cobra.Command {
	var f socketFlags
	var kinds []string
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Stream a running director's events, one JSON object a line",
		Long: `events prints what the daemon does as it happens, one JSON object a line:
VRRP transitions (kind "vrrp"), health check flips ("health"), quorum changes
("quorum"), every IPVS write ("ipvs", weight changes included) and failed
write ("ipvs_err"), drains and weight changes ("drain"), reloads ("reload")
and notify hooks ("hook"). A reader too slow to keep up is told how many
events it missed ("lost"). It runs until interrupted or the daemon stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := streamEvents(cmd.Context(), f.path(cmd.ErrOrStderr()), kinds, cmd.OutOrStdout())
			if err != nil && !errors.Is(err, context.Canceled) {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "print only these kinds (vrrp, health, quorum, ipvs, ipvs_err, drain, reload, hook, lost)")
	return cmd
}

// streamEvents copies the daemon's event lines to out, keeping those of
// the wanted kinds (all when none are named).
func streamEvents(ctx context.Context, socket string, kinds []string, out io.Writer) error {
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://directord/v1/events", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			return fmt.Errorf("cannot reach directord at %s (is it running, and are you root?): %w", socket, oe.Err)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("directord answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(kinds) > 0 {
			var e struct {
				Kind string `json:"kind"`
			}
			if json.Unmarshal(line, &e) != nil || !slices.Contains(kinds, e.Kind) {
				continue
			}
		}
		if _, err := fmt.Fprintf(out, "%s\n", line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}
