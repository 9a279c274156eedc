package lvs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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

// stopAckWait bounds the wait for the acknowledgement of a stop; see
// Stop.
const stopAckWait = 250 * time.Millisecond

// Stop stops a daemon. The kernel acknowledges a stop except when the
// daemon's thread had not yet run: kthread_stop then returns -EINTR,
// which netlink_rcv_skb takes for "restart" and answers with nothing, so
// a plain request would wait for ever (seen in the 6.1 guest for a stop
// within a millisecond of the start, as a flapping VRRP instance makes).
// The stop is sent on a connection of its own, waits stopAckWait at most
// (the kernel handles the request inside sendmsg, so a coming ack is
// already queued when the wait starts), and then asks the kernel whether
// the daemon is gone.
func (s *netlinkSync) Stop(st SyncState) error {
	op := SyncOp{Kind: StopDaemon, Daemon: SyncDaemon{State: st}}
	m, err := daemonMessage(op)
	if err != nil {
		return err
	}
	c, err := genetlink.Dial(nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(stopAckWait)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, err = c.Execute(m, s.family, netlink.Request|netlink.Acknowledge)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return explainSync(op, err)
	}
	ds, lerr := s.Daemons()
	if lerr != nil {
		return fmt.Errorf("%s: no answer, and %w", op, lerr)
	}
	if _, running := findDaemon(ds, st); running {
		return fmt.Errorf("%s: no answer from the kernel within %s and the daemon still runs", op, stopAckWait)
	}
	return nil
}

func daemonMessage(op SyncOp) (genetlink.Message, error) {
	var m genetlink.Message
	payload, err := encodeDaemonCmd(op)
	if err != nil {
		return m, err
	}
	return m, m.UnmarshalBinary(payload)
}

func (s *netlinkSync) do(op SyncOp) error {
	m, err := daemonMessage(op)
	if err != nil {
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
