package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"directord/internal/realserver"
)

func newRealserverCmd() *cobra.Command {
	var vips []string
	var dev string
	parse := func() ([]netip.Addr, error) { return parseVIPs(vips) }
	cmd := &cobra.Command{
		Use:   "realserver up|down|status --vip ADDR [--vip ADDR...] [--dev lo]",
		Short: "Prepare this host as a real server of an LVS-DR or LVS-TUN setup",
		Long: `realserver does on a real server what the seed's realserver script did:

  up      puts each VIP as a /32 (IPv6: a /128, without DAD) on lo (or --dev),
          so the host accepts packets for it, and, when a VIP is IPv4, sets
          arp_ignore=1 and arp_announce=2 on all, lo and the uplink
          interfaces, so it never answers ARP for the VIP (IPv6 needs no
          such setting);
  down    undoes exactly what up did;
  status  says whether the host is ready to serve the VIPs (exit 0), or
          not (exit 3).

It needs no configuration file and is idempotent.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"up", "down", "status"},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "up":
				addrs, err := parse()
				if err != nil {
					return &exitError{code: exitInvalid, err: err}
				}
				if err := realserver.Up(addrs, dev); err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				fmt.Fprintln(out, upReport(addrs, dev))
			case "down":
				u, err := realserver.Down()
				if err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				fmt.Fprintln(out, downReport(u))
			case "status":
				addrs, err := parse()
				if err != nil {
					return &exitError{code: exitInvalid, err: err}
				}
				checks, err := realserver.Status(addrs, dev)
				if err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				ready := true
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				for _, c := range checks {
					mark := "ok"
					if !c.OK {
						mark, ready = "NOT READY", false
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", c.What, mark, c.Note)
				}
				tw.Flush()
				if !ready {
					return &exitError{code: exitDown, err: errors.New("this host is not ready to serve the VIPs")}
				}
				fmt.Fprintln(out, "ready")
			default:
				return &exitError{code: exitInvalid, err: fmt.Errorf("unknown action %q: up, down or status", args[0])}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&vips, "vip", nil, "virtual IP address (repeat for several)")
	cmd.Flags().StringVar(&dev, "dev", "lo", "device that holds the VIPs")
	return cmd
}

// upReport says what up did: the VIPs as the prefixes added ("192.0.2.1/32,
// 2001:db8::100/128"; a Go slice would print "[2001:db8::100]", which
// reads as a bracketed IPv6 host), and the ARP settings only when they
// were made.
func upReport(vips []netip.Addr, dev string) string {
	var ps []string
	for _, v := range vips {
		ps = append(ps, netip.PrefixFrom(v, v.BitLen()).String())
	}
	s := fmt.Sprintf("real server up: %s on %s", strings.Join(ps, ", "), dev)
	if !realserver.NeedsARP(vips) {
		return s + "; no ARP settings (IPv6 needs none)"
	}
	return fmt.Sprintf("%s, arp_ignore=%d, arp_announce=%d", s, realserver.ArpIgnore, realserver.ArpAnnounce)
}

// downReport says what down took back, and nothing it did not.
func downReport(u realserver.Undone) string {
	if u.Dev == "" {
		return "real server down: nothing to undo (up was not run here)"
	}
	var ps []string
	for _, p := range u.Removed {
		ps = append(ps, p.String())
	}
	s := "real server down: removed " + strings.Join(ps, ", ") + " from " + u.Dev
	if len(ps) == 0 {
		s = "real server down: no VIP left to remove from " + u.Dev
	}
	if u.Sysctls == 0 {
		return s + "; no ARP settings to restore"
	}
	return fmt.Sprintf("%s; %d ARP settings restored", s, u.Sysctls)
}

// parseVIPs reads --vip values.
func parseVIPs(vips []string) ([]netip.Addr, error) {
	if len(vips) == 0 {
		return nil, errors.New("give at least one --vip")
	}
	var out []netip.Addr
	for _, v := range vips {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--vip %q is not an IP address", v)
		}
		// As in the configuration: a zone would be dropped (the
		// address goes on --dev), and a mapped IPv4 address would
		// go on as IPv6, without the ARP settings it needs.
		if a.Zone() != "" || a.Is4In6() {
			return nil, fmt.Errorf("--vip %q: write the address without a zone or IPv4 mapping", v)
		}
		out = append(out, a)
	}
	return out, nil
}
