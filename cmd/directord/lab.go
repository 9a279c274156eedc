package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"directord/internal/lab"
	"directord/internal/labnet"
	"directord/internal/uml"
)

func newLabCmd() *cobra.Command {
	var script, inGuest bool
	var opts lab.Options
	var dir string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run the seed's LVS-DR setup, live, in network namespaces",
		Long: `lab builds the seed's LVS-DR setup in network namespaces: a client, two
directors running directord (lb1 .11 priority 150, lb2 .10 priority 100), three
real servers prepared with "directord realserver up" that answer HTTP with
their names, all on one bridge, VIP 192.168.11.100 scheduled wrr. The
directors' configs are written where you can read and edit them.

The live view shows each director's VRRP state, each real's health and
weight, the master's IPVS table, which real answered the client's last
requests and what happened. Keys: k kills the master (kill -9), s starts it
again, 1-3 fail or restore a real server, r reloads the edited configs, q
quits. --script runs a fixed scenario instead and prints a plain report.
--ipv6 adds an IPv6 VIP, 2001:db8:11::100, beside the IPv4 one: every host
gets 2001:db8:11::<its IPv4 host number>, the directors run a second VRRP
instance over IPv6 in a sync group with the first, and a second client sends
the same requests over IPv6; the view and the report cover both families.

When this kernel has no IPVS, the lab runs inside a User-Mode Linux guest
(apt-get install user-mode-linux) and says so. Everything it creates is
removed on exit; leftovers of a killed run are removed at the next start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return &exitError{code: exitFailure, err: errors.New("the lab needs root: it creates network namespaces")}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			dir, created, err := lab.PrivateDir(dir)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if created {
				defer os.RemoveAll(dir)
				fmt.Fprintf(out, "lab directory: %s (private, removed at exit; --dir keeps one)\n", dir)
			}
			if inGuest {
				return runLab(ctx, out, dir, script, opts, "running inside a User-Mode Linux guest: this kernel has no IPVS")
			}
			if hostHasIPVS() {
				return runLab(ctx, out, dir, script, opts, "")
			}
			return labInGuest(ctx, out, dir, script, opts)
		},
	}
	cmd.Flags().BoolVar(&script, "script", false, "run the fixed scenario without a terminal and print a report")
	cmd.Flags().BoolVar(&opts.IPv6, "ipv6", false, "add an IPv6 VIP (2001:db8:11::100) and client beside the seed's IPv4 ones")
	cmd.Flags().StringVar(&dir, "dir", "", "where the directors' configs are written: a directory of root's that no one else can write to\n(default: a fresh one under "+lab.DirBase+", removed at exit)")
	cmd.Flags().BoolVar(&inGuest, "in-guest", false, "run the lab itself (inside the guest kernel)")
	_ = cmd.Flags().MarkHidden("in-guest")
	return cmd
}

// hostHasIPVS reports whether this kernel can run IPVS, loading the
// module if it can.
func hostHasIPVS() bool {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		return true
	}
	_ = exec.Command("modprobe", "-q", "ip_vs").Run()
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

// labInGuest runs the lab inside a User-Mode Linux guest, with this
// terminal as its console.
func labInGuest(ctx context.Context, out io.Writer, dir string, script bool, opts lab.Options) error {
	k, err := uml.FindKernel()
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("this kernel has no IPVS, and %w; or load ip_vs on a kernel that has it", err)}
	}
	if procs, dirs := uml.Sweep("lab"); procs+dirs > 0 {
		fmt.Fprintf(out, "removed %d processes and %d guest directories left by a killed lab\n", procs, dirs)
	}
	exe, err := os.Executable()
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	fmt.Fprintln(out, "this kernel has no IPVS: running the lab inside a User-Mode Linux guest (boots in about 2 s)")
	args := []string{"lab", "--in-guest", "--dir", dir}
	c := uml.Config{Kernel: k, Program: exe, Dir: "/", Mem: "1G", Output: &dropLine{w: out, line: "reboot: System halted"},
		Writable: []string{dir}, Tag: uml.OwnedTag("lab")}
	if opts.IPv6 {
		args = append(args, "--ipv6")
	}
	if script {
		args = append(args, "--script")
	} else if term.IsTerminal(int(os.Stdin.Fd())) {
		// Raw mode: each key goes to the guest as it is pressed.
		old, err := term.MakeRaw(int(os.Stdin.Fd()))
		if err == nil {
			defer term.Restore(int(os.Stdin.Fd()), old)
		}
		c.Input = os.Stdin
		c.Env = map[string]string{"TERM": os.Getenv("TERM")}
	}
	c.Args = args
	code, err := uml.Boot(ctx, c)
	switch {
	case err != nil:
		return &exitError{code: exitFailure, err: fmt.Errorf("lab guest: %w", err)}
	case code != 0:
		return &exitError{code: code}
	}
	return nil
}

// dropLine passes writes through but for one line: the guest kernel's
// own farewell, noise to a lab user.
type dropLine struct {
	w    io.Writer
	line string
}

func (d *dropLine) Write(p []byte) (int, error) {
	q := bytes.ReplaceAll(p, []byte(d.line+"\r\n"), nil)
	q = bytes.ReplaceAll(q, []byte(d.line+"\n"), nil)
	if _, err := d.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}

// runLab runs the lab here: this kernel has IPVS (it may be a guest's).
func runLab(ctx context.Context, out io.Writer, dir string, script bool, opts lab.Options, note string) error {
	if err := labnet.SweepStale(); err != nil {
		fmt.Fprintf(out, "warning: leftovers of an earlier lab: %v\n", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	e, err := lab.StartEngine(exe, dir, opts)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("lab: %w", err)}
	}
	nl := "\r\n" // the live view's terminal is in raw mode
	if script {
		nl = "\n"
	}
	defer func() {
		n := len(e.Lab.Net.Namespaces())
		if err := e.Close(); err != nil {
			fmt.Fprintf(out, "cleanup: %v%s", err, nl)
		}
		nsLeft, procsLeft := lab.Leftovers(e.Lab.Net.Prefix(), dir)
		fmt.Fprintf(out, "cleanup: %d namespaces removed with their veths and processes; %d namespaces and %d lab processes left%s",
			n, nsLeft, procsLeft, nl)
	}()
	if script {
		vips := lab.VIP.String() + ":80"
		if opts.IPv6 {
			vips += " and [" + lab.VIP6.String() + "]:80"
		}
		fmt.Fprintf(out, "directord lab --script: the seed's LVS-DR setup (VIP %s, wrr, direct routing)\n", vips)
		if note != "" {
			fmt.Fprintln(out, note)
		}
		fmt.Fprintf(out, "configs: %s\n\n", strings.Join(e.ConfigPaths(), " "))
		if !e.Script(out) {
			return &exitError{code: exitFailure}
		}
		return nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return &exitError{code: exitInvalid, err: errors.New("the live view needs a terminal; use --script without one")}
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	defer term.Restore(fd, old)
	done := make(chan struct{})
	go func() {
		e.Interact(os.Stdin, out, note)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	fmt.Fprint(out, "\r\nlab stopped\r\n")
	return nil
}
