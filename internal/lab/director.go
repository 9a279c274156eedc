package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"directord/internal/labnet"
)

// Director is directord running on a director host of the lab.
type Director struct {
	*Host
	*Process
	StatusClient
	Priority int
	Config   string // the HCL file, where the user can read and edit it
}

// NewDirector writes the director's config into dir and prepares the
// daemon; Start runs it.
func (l *Lab) NewDirector(host string, priority int, dir string, s Settings, reals []RealSpec) (*Director, error) {
	return l.NewDirectorWith(host, priority, dir, func(socket string) string {
		return DirectordConfig(host, priority, socket, s, reals)
	})
}

// NewDirectorWith is NewDirector with the config that render returns for
// the director's status socket.
func (l *Lab) NewDirectorWith(host string, priority int, dir string, render func(socket string) string) (*Director, error) {
	h := l.Hosts[host]
	if h == nil {
		return nil, fmt.Errorf("no host %s", host)
	}
	socket := filepath.Join(dir, host+".sock")
	cfg, err := WriteFile(dir, host+".hcl", render(socket))
	if err != nil {
		return nil, err
	}
	return &Director{
		Host:         h,
		Process:      &Process{Name: host, NS: h.NS, Argv: []string{l.Bin, "run", "--config", cfg}},
		StatusClient: StatusClient{Socket: socket},
		Priority:     priority,
		Config:       cfg,
	}, nil
}

// Start runs directord and waits until its status socket answers.
func (d *Director) Start() error {
	if err := d.Process.Start(); err != nil {
		return err
	}
	return WaitReady(d.Process, d.StatusClient, 10*time.Second)
}

// Term is a graceful stop: SIGTERM and wait.
func (d *Director) Term(timeout time.Duration) error {
	if err := d.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	exit, ok := d.Wait(timeout)
	if !ok {
		return fmt.Errorf("%s did not exit within %s of SIGTERM", d.Host.Name, timeout)
	}
	return exit
}

// Keepalived is Debian's keepalived on a director host: the baseline.
type Keepalived struct {
	*Host
	*Process
	Dir   string
	since int // log offset of the current run
}

// NewKeepalived writes keepalived.conf into dir and prepares keepalived
// (VRRP and checkers) in the foreground with its own pid files.
func NewKeepalived(h *Host, dir, conf string) (*Keepalived, error) {
	path, err := WriteFile(dir, h.Name+"-keepalived.conf", conf)
	if err != nil {
		return nil, err
	}
	argv := []string{"keepalived", "--dont-fork", "--log-console", "--log-detail", "--use-file", path,
		"--pid", filepath.Join(dir, h.Name+"-keepalived.pid"),
		"--vrrp_pid", filepath.Join(dir, h.Name+"-vrrp.pid"),
		"--checkers_pid", filepath.Join(dir, h.Name+"-checkers.pid")}
	return &Keepalived{Host: h, Process: &Process{Name: "keepalived-" + h.Name, NS: h.NS, Argv: argv}, Dir: dir}, nil
}

// Start runs keepalived, first removing stale pid files.
func (k *Keepalived) Start() error {
	k.since = len(k.Log())
	for _, f := range []string{"-keepalived.pid", "-vrrp.pid", "-checkers.pid"} {
		_ = os.Remove(filepath.Join(k.Dir, k.Host.Name+f))
	}
	return k.Process.Start()
}

// pids lists the keepalived processes (the parent and its VRRP and checker
// children) in the namespace, zombies excepted.
func (k *Keepalived) pids() []int {
	var out []int
	for _, pid := range labnet.PIDsIn("/run/netns/" + k.Host.NS.Name) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err == nil && strings.Contains(string(b), "(keepalived)") && !strings.Contains(string(b), ") Z ") {
			out = append(out, pid)
		}
	}
	return out
}

// Signal signals every keepalived process of the namespace.
func (k *Keepalived) Signal(sig syscall.Signal) {
	for _, pid := range k.pids() {
		_ = syscall.Kill(pid, sig)
	}
}

// Kill is kill -9 of keepalived and its children; it returns once none is
// left, so a restart does not find the old one running.
func (k *Keepalived) Kill() {
	k.Signal(syscall.SIGKILL)
	k.Process.Wait(5 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(k.pids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// Term is SIGTERM, then waiting for every keepalived process to go.
func (k *Keepalived) Term() {
	k.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for len(k.pids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	k.Kill()
}

func (k *Keepalived) current() string {
	log := k.Log()
	return log[min(k.since, len(log)):]
}

// Transitions counts the "Entering ... STATE" lines of the current run.
func (k *Keepalived) Transitions() int { return strings.Count(k.current(), "Entering ") }

// InstanceState is the last state instance entered in the current run,
// from keepalived's "(NAME) Entering STATE STATE" lines.
func (k *Keepalived) InstanceState(instance string) string {
	log := k.current()
	i := strings.LastIndex(log, "("+instance+") Entering ")
	if i < 0 {
		return ""
	}
	if f := strings.Fields(log[i+len("("+instance+") Entering "):]); len(f) > 0 {
		return f[0]
	}
	return ""
}

// State is the last VRRP state the current run entered.
func (k *Keepalived) State() string {
	log := k.current()
	i := strings.LastIndex(log, "Entering ")
	if i < 0 {
		return ""
	}
	if f := strings.Fields(log[i+len("Entering "):]); len(f) > 0 {
		return f[0]
	}
	return ""
}
