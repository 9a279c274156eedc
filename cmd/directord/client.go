package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"directord/config"
)

// socketFlags are the flags of the commands that talk to a running
// daemon through its status socket.
type socketFlags struct {
	config string
	socket string
}

func (f *socketFlags) add(cmd *cobra.Command) {
	addConfigFlag(cmd, &f.config)
	cmd.Flags().StringVar(&f.socket, "socket", "", "status socket (default: director.status_socket of the configuration)")
}

// path finds the socket: --socket, or the configuration's. A config that
// does not parse (the daemon may be running an older, valid one) falls
// back to the default socket.
func (f *socketFlags) path(stderr io.Writer) string {
	if f.socket != "" {
		return f.socket
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "directord: %s cannot be read (%v); trying %s\n", f.config, firstLine(err.Error()), config.DefaultStatusSocket)
		return config.DefaultStatusSocket
	}
	return cfg.Director.StatusSocket
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' || c == ';' {
			return s[:i]
		}
	}
	return s
}

// call makes one request to the daemon and decodes its JSON answer into v.
func call(ctx context.Context, socket, method, path string, v any) (int, error) {
	return callWith(ctx, socket, method, path, nil, v)
}

// callWith is call with a request body: in as JSON, unless nil.
func callWith(ctx context.Context, socket, method, path string, in, v any) (int, error) {
	c := http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}},
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://directord"+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			return 0, fmt.Errorf("cannot reach directord at %s (is it running, and are you root?): %w", socket, oe.Err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/json" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, fmt.Errorf("directord answered %s: %s", resp.Status, b)
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}
