// Command directord-bgp is directord's BGP speaker: GoBGP, run by the
// daemon (directord run) as a process of its own when the configuration
// has a bgp block, and driven over its stdin and stdout (bgp.Remote).
// It is not meant to be run by hand.
//
// It ignores SIGTERM and SIGINT: on a stop, systemd signals the whole
// service, and the speaker must live on while the daemon withdraws its
// routes and waits out the drain; it stops when the daemon tells it to
// or its stdin closes (the daemon is gone).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"directord/bgp"
	"directord/bgp/gobgp"
	"directord/internal/logging"
)

func main() {
	format := flag.String("log-format", "text", "log format: text or json")
	level := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	log, _ := logging.New(os.Stderr, *format, *level)
	start := func(ctx context.Context, g bgp.Global, onPeer func(bgp.PeerStatus)) (bgp.Session, error) {
		return gobgp.Start(ctx, g, log, onPeer)
	}
	if err := bgp.ServeSpeaker(context.Background(), stdio{}, start); err != nil {
		fmt.Fprintln(os.Stderr, "directord-bgp:", err)
		os.Exit(1)
	}
}

// stdio is the daemon's connection: stdin and stdout.
type stdio struct{}

func (stdio) Read(b []byte) (int, error)  { return os.Stdin.Read(b) }
func (stdio) Write(b []byte) (int, error) { return os.Stdout.Write(b) }
func (stdio) Close() error                { return os.Stdin.Close() }
