package lvs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// netlinkSync drives the sync daemons over the IPVS generic netlink
// family, which cloudflare/ipvs does not cover.
type netlinkSync struct {
	c      *genetlink.Conn
	family uint16
}

// OpenSync connects to this namespace's IPVS sync daemons.
func OpenSync() (SyncKernel, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("open IPVS sync daemons: %w", err)
	}
	fam, err := c.GetFamily(ipvsGenlName)
	if err != nil {
		c.Close()
		return nil, ErrNoIPVS
	}
	return &netlinkSync{c: c, family: fam.ID}, nil
}

func (s *netlinkSync) Close() error { return s.c.Close() }

func (s *netlinkSync) Daemons() ([]SyncDaemon, error) {
	msgs, err := s.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdGetDaemon, Version: ipvsGenlVersion},
	}, s.family, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("list IPVS sync daemons: %w", err)
	}
	var out []SyncDaemon
	for _, m := range msgs {
		d, err := decodeDaemon(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *netlinkSync) Start(d SyncDaemon) error {
	return s.do(SyncOp{Kind: StartDaemon, Daemon: d})
}

func (s *netlinkSync) Stop(st SyncState) error {
	return s.do(SyncOp{Kind: StopDaemon, Daemon: SyncDaemon{State: st}})
}

func (s *netlinkSync) do(op SyncOp) error {
	payload, err := encodeDaemonCmd(op)
	if err != nil {
		return err
	}
	var m genetlink.Message
	if err := m.UnmarshalBinary(payload); err != nil {
		return err
	}
	_, err = s.c.Execute(m, s.family, netlink.Request|netlink.Acknowledge)
	return explainSync(op, err)
}

// explainSync maps the kernel's answers to errors.Is-able ones an
// operator can act on.
func explainSync(op SyncOp, err error) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		errors.As(oe.Err, &errno)
	}
	switch {
	case errno == syscall.EEXIST:
		return fmt.Errorf("%s: a %s sync daemon already runs: %w", op, op.Daemon.State, os.ErrExist)
	case errno == syscall.ESRCH:
		return fmt.Errorf("%s: no %s sync daemon runs: %w", op, op.Daemon.State, os.ErrNotExist)
	case errno == syscall.ENODEV:
		return fmt.Errorf("%s: no interface %q in this network namespace: %w", op, op.Daemon.Interface, err)
	case errno == syscall.EINVAL && op.Kind == StartDaemon:
		return fmt.Errorf("%s: the kernel refused it (a service with destinations of another address family makes sync impossible): %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// procSysctls is /proc/sys/net/ipv4/vs of the caller's network namespace.
type procSysctls struct{ dir string }

// OpenSysctls returns this namespace's net.ipv4.vs settings; they exist
// once the ip_vs module is loaded.
func OpenSysctls() Sysctls { return procSysctls{dir: "/proc/sys/net/ipv4/vs"} }

func (p procSysctls) path(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/.") {
		return "", fmt.Errorf("bad sysctl name %q", name)
	}
	return filepath.Join(p.dir, name), nil
}

func (p procSysctls) Get(name string) (string, error) {
	path, err := p.path(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read net.ipv4.vs.%s: %w", name, err)
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

func (p procSysctls) Set(name, value string) error {
	path, err := p.path(name)
	if err != nil {
		return err
	}
	// /proc/sys files exist only as the kernel made them: no O_CREAT.
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("set net.ipv4.vs.%s: %w", name, err)
	}
	_, werr := f.WriteString(value + "\n")
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("set net.ipv4.vs.%s = %s: %w", name, value, err)
	}
	return nil
}
