package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"directord/internal/daemon"
	"directord/lvs"
)

func newStatusCmd() *cobra.Command {
	var f socketFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running director: VRRP, real servers and the IPVS table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var doc daemon.StatusDoc
			code, err := call(cmd.Context(), f.path(cmd.ErrOrStderr()), http.MethodGet, "/v1/status", &doc)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if code != http.StatusOK {
				return &exitError{code: exitFailure, err: fmt.Errorf("status: HTTP %d", code)}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			renderStatus(cmd.OutOrStdout(), &doc, time.Now())
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status document as JSON")
	return cmd
}

func renderStatus(w io.Writer, d *daemon.StatusDoc, now time.Time) {
	fmt.Fprintf(w, "directord %s (pid %d, %s), up %s\n", d.RouterID, d.PID, d.Version, now.Sub(d.Started).Round(time.Second))
	sha := d.Config.SHA256
	if len(sha) > 12 {
		sha = sha[:12]
	}
	fmt.Fprintf(w, "config %s (sha256 %s)\n", d.Config.Path, sha)
	if r := d.LastReload; r != nil {
		if r.OK {
			fmt.Fprintf(w, "last reload %s ok", r.At.Format(time.DateTime))
		} else {
			fmt.Fprintf(w, "last reload %s FAILED, still running the previous configuration: %s", r.At.Format(time.DateTime), r.Error)
		}
		fmt.Fprintf(w, " (reloads: %d succeeded, %d failed)\n", d.Reloads.Succeeded, d.Reloads.Failed)
		if r.Diagnostics != "" {
			fmt.Fprintln(w, indent(r.Diagnostics))
		}
	}

	if len(d.VRRP.Instances) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VRRP INSTANCE\tINTERFACE\tVRID\tSTATE\tPRIORITY\tMASTER\tADVERT\tSENT\tRECEIVED\tDROPPED\tLAST CHANGE")
		for _, in := range d.VRRP.Instances {
			var dropped uint64
			for _, n := range in.Drops {
				dropped += n
			}
			state := in.State
			if in.Fault != "" {
				state += " (" + in.Fault + ")"
			}
			last := "-"
			if n := len(in.Transitions); n > 0 {
				t := in.Transitions[n-1]
				last = fmt.Sprintf("%s ago (%s)", now.Sub(t.At).Round(time.Second), t.Reason)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d/%d\t%s\t%s\t%d\t%d\t%d\t%s\n", in.Name, in.Interface, in.VRID, state,
				in.EffectivePriority, in.Priority, dash(in.Master), in.MasterAdvert, in.AdvertsSent, in.AdvertsReceived, dropped, last)
		}
		tw.Flush()
	}

	if b := d.BGP; b != nil {
		renderBGP(w, b)
	}

	if len(d.RealServers) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VIRTUAL SERVER\tREAL SERVER\tCHECK\tHEALTH\tWEIGHT\tRUNTIME\tEFFECTIVE\tACTIVE\tLATENCY\tLAST RESULT\tSINCE")
		for _, rs := range d.RealServers {
			health := "up"
			if !rs.Up {
				health = "DOWN"
			}
			latency, reason, since := "-", "-", "-"
			if rs.Last != nil {
				latency = fmt.Sprintf("%.1fms", float64(rs.Last.Latency)/1e6)
				reason = rs.Last.Reason
			}
			if !rs.Since.IsZero() {
				since = now.Sub(rs.Since).Round(time.Second).String()
			}
			active := "-"
			if rs.InTable != nil {
				active = fmt.Sprint(rs.InTable.ActiveConns)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", rs.VirtualServer, rs.RealServer, rs.Check, health,
				rs.Weight, runtimeColumn(rs), rs.EffectiveWeight, active, latency, reason, since)
		}
		tw.Flush()
	}

	if ip := d.IPVS; ip != nil {
		fmt.Fprintln(w)
		st := ip.Reconciler
		fmt.Fprintf(w, "IPVS: %d writes, %d errors, %d drift repairs", st.Writes, st.WriteErrors, st.DriftRepairs)
		if st.LastError != "" {
			fmt.Fprintf(w, "; last error: %s", st.LastError)
		}
		fmt.Fprintln(w)
		for _, s := range ip.Services {
			if s.QuorumLost {
				fmt.Fprintf(w, "  %s: quorum lost (alive weight %d): its sorry server, if it has one, serves\n", s.Name, s.AliveWeight)
			}
		}
		if ip.Error != "" {
			fmt.Fprintf(w, "  cannot read the table: %s\n", ip.Error)
		}
		renderSync(w, ip.Sync)
		renderTable(w, ip.Table)
	}
}

// runtimeColumn says what an operator or maintenance_dir changed:
// "drained", "maintenance", a runtime weight, or "-".
func runtimeColumn(rs daemon.RealServerStatus) string {
	var parts []string
	if rs.Drained {
		parts = append(parts, "drained")
	}
	if rs.Maintenance {
		parts = append(parts, "maintenance")
	}
	if rs.RuntimeWeight != nil {
		parts = append(parts, fmt.Sprintf("weight %d", *rs.RuntimeWeight))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// renderSync prints the connection sync daemons and settings.
func renderSync(w io.Writer, sy *lvs.SyncStatus) {
	if sy == nil {
		return
	}
	switch sy.Mode {
	case "off":
		fmt.Fprintln(w, "connection sync: off")
	case "follow":
		fmt.Fprintf(w, "connection sync: following VRRP, %s daemon wanted\n", sy.Role)
	default:
		fmt.Fprintln(w, "connection sync: master and backup daemons")
	}
	for _, d := range sy.Running {
		fmt.Fprintf(w, "  running: %s\n", d)
	}
	if len(sy.Running) == 0 && len(sy.Wanted) > 0 {
		fmt.Fprintln(w, "  running: none (see the last error)")
	}
	if sy.LastError != "" {
		fmt.Fprintf(w, "  %d errors; last: %s\n", sy.Errors, sy.LastError)
	}
	if len(sy.Sysctls) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(sy.Sysctls)) {
			kv = append(kv, k+"="+sy.Sysctls[k])
		}
		fmt.Fprintf(w, "  net.ipv4.vs: %s\n", strings.Join(kv, " "))
	}
}

// renderTable prints the kernel's table like `ipvsadm -Ln --stats`, with
// the weight and connection columns of `ipvsadm -Ln`.
func renderTable(w io.Writer, table []lvs.ServiceStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Prot LocalAddress:Port\tScheduler\tForward\tWeight\tActiveConn\tInActConn\tConns\tInPkts\tOutPkts\tInBytes\tOutBytes\t")
	fmt.Fprintln(tw, "  -> RemoteAddress:Port\t\t\t\t\t\t\t\t\t\t\t")
	for _, s := range table {
		owner := ""
		if !s.Owned {
			owner = " (not ours)"
		}
		proto, addr, _ := strings.Cut(s.Name, " ")
		fmt.Fprintf(tw, "%s  %s%s\t%s\t\t\t\t\t%d\t%d\t%d\t%s\t%s\t\n", strings.ToUpper(proto), addr, owner, s.Scheduler,
			s.Stats.Connections, s.Stats.IncomingPackets, s.Stats.OutgoingPackets, human(s.Stats.IncomingBytes), human(s.Stats.OutgoingBytes))
		for _, d := range s.Dests {
			fmt.Fprintf(tw, "  -> %s\t\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", d.Name, d.Forward, d.Weight, d.ActiveConns, d.InactiveConns,
				d.Stats.Connections, d.Stats.IncomingPackets, d.Stats.OutgoingPackets, human(d.Stats.IncomingBytes), human(d.Stats.OutgoingBytes))
		}
	}
	tw.Flush()
}

// human prints bytes as ipvsadm does: 1234, 12K, 3M.
func human(n uint64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 10<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

func newReloadCmd() *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make a running director reload its configuration",
		Long: `reload asks the running directord, through its status socket, to read its
configuration file again, as SIGHUP does, and waits for the outcome. An invalid
file changes nothing: it exits 2 and prints every problem; the daemon keeps
running the previous configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res daemon.ReloadResult
			code, err := call(cmd.Context(), f.path(cmd.ErrOrStderr()), http.MethodPost, "/v1/reload", &res)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if res.OK {
				fmt.Fprintf(cmd.OutOrStdout(), "reloaded (sha256 %s)\n", res.SHA256)
				return nil
			}
			if res.Diagnostics != "" {
				fmt.Fprint(cmd.ErrOrStderr(), res.Diagnostics)
			}
			c := exitFailure
			if code == http.StatusUnprocessableEntity {
				c = exitInvalid
			}
			return &exitError{code: c, err: fmt.Errorf("reload failed; the previous configuration keeps running: %s", res.Error)}
		},
	}
	f.add(cmd)
	return cmd
}

// renderBGP shows the sessions and what is announced.
func renderBGP(w io.Writer, b *daemon.BGPStatus) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BGP PEER\tASN\tSTATE\tLAST ERROR")
	for _, p := range b.Peers {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Address, p.ASN, p.State, dash(p.LastError))
	}
	tw.Flush()
	announced := "nothing"
	if len(b.Announced) > 0 {
		announced = strings.Join(b.Announced, ", ")
	}
	fmt.Fprintf(w, "announced: %s\n", announced)
	if b.LastError != "" {
		fmt.Fprintf(w, "last BGP error: %s\n", b.LastError)
	}
}
