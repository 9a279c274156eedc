package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"directord/internal/daemon"
	"directord/internal/labnet"
)

// Process is a daemon (directord or keepalived) running in a namespace.
type Process struct {
	Name string
	NS   *labnet.NS
	Argv []string
	Env  []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  Buffer
}

// Start runs the process; its output goes to Log.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(&p.log, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := p.NS.Command(context.Background(), p.Argv[0], p.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if len(p.Env) > 0 {
		cmd.Env = append(os.Environ(), p.Env...)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Running reports whether the process is alive.
func (p *Process) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("%s is not running", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the process to exit; ok is false when it
// is still running.
func (p *Process) Wait(timeout time.Duration) (exit error, ok bool) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return nil, true
	}
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Kill is kill -9, as when the machine or the daemon dies.
func (p *Process) Kill() {
	if p.Running() {
		_ = p.Signal(syscall.SIGKILL)
		p.Wait(5 * time.Second)
	}
}

// Log is everything the process printed.
func (p *Process) Log() string { return p.log.String() }

// Buffer is a bytes.Buffer safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StatusClient talks to a directord status socket.
type StatusClient struct{ Socket string }

func (c StatusClient) client() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		// One request per client: no idle connection left open.
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", c.Socket)
		}},
	}
}

// Status reads the status document.
func (c StatusClient) Status() (daemon.StatusDoc, error) {
	var doc daemon.StatusDoc
	resp, err := c.client().Get("http://directord/v1/status")
	if err != nil {
		return doc, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return doc, fmt.Errorf("status: %s", resp.Status)
	}
	return doc, json.NewDecoder(resp.Body).Decode(&doc)
}

// Reload asks the daemon to reload and returns the outcome.
func (c StatusClient) Reload() (daemon.ReloadResult, error) {
	var res daemon.ReloadResult
	resp, err := c.client().Post("http://directord/v1/reload", "", nil)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, err
	}
	if !res.OK {
		return res, errors.New(strings.TrimSpace(res.Error))
	}
	return res, nil
}

// State is the state of a VRRP instance, "" when unknown.
func (c StatusClient) State(instance string) string {
	doc, err := c.Status()
	if err != nil {
		return ""
	}
	for _, in := range doc.VRRP.Instances {
		if in.Name == instance {
			return in.State
		}
	}
	return ""
}

// WaitReady waits until the socket answers or the process exits.
func WaitReady(p *Process, c StatusClient, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := c.Status(); err == nil {
			return nil
		}
		if !p.Running() {
			exit, _ := p.Wait(0)
			return fmt.Errorf("%s exited at start (%v):\n%s", p.Name, exit, p.Log())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: status socket %s never answered:\n%s", p.Name, c.Socket, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
