// Package labnet builds throwaway network topologies out of named
// Linux network namespaces (ip-netns(8)), veth pairs and a bridge, for the
// tests and for `directord lab`.
//
// Every Net has its own name prefix carrying the creating process's pid, so
// parallel runs never collide, and Close removes everything it made: the
// processes inside each namespace, then the namespaces, which takes the
// veths with them. New also sweeps namespaces left by a process that no
// longer exists (a test binary killed by a timeout). The bridge lives in a
// namespace of its own, the "switch", so nothing ever touches the host's
// own interfaces.
package labnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	netnsDir   = "/run/netns"
	namePrefix = "dd-"
)

// Net is one topology. It is safe for concurrent use.
type Net struct {
	prefix string
	sw     *NS

	mu     sync.Mutex
	nss    []*NS
	ports  int
	closed bool
}

// NS is one named network namespace.
type NS struct {
	// Name is the namespace's full name, as `ip netns` shows it.
	Name   string
	handle netns.NsHandle
}

// Bridge is a Linux bridge in the topology's switch namespace.
type Bridge struct {
	Name string
	net  *Net
}

// Port is one end of a veth pair in a namespace, plugged into a bridge.
type Port struct {
	NS     *NS
	IfName string
	MAC    net.HardwareAddr
	// SwitchSide is the other end's name, inside the switch namespace.
	SwitchSide string
	bridge     *Bridge
}

// New creates an empty topology whose namespaces are named
// "dd-<pid>-<random>-<short name>". tag, if not empty, is added to the
// prefix to tell users what made them (for example "lab").
func New(tag string) (*Net, error) {
	if err := SweepStale(); err != nil {
		return nil, err
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	n := &Net{prefix: fmt.Sprintf("%s%d-%s%s-", namePrefix, os.Getpid(), tag, hex.EncodeToString(rnd[:]))}
	sw, err := n.AddNS("sw")
	if err != nil {
		return nil, err
	}
	n.sw = sw
	return n, nil
}

// Prefix is the name prefix shared by every namespace of n.
func (n *Net) Prefix() string { return n.prefix }

// Namespaces lists the namespaces created so far, the switch first.
func (n *Net) Namespaces() []*NS {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*NS(nil), n.nss...)
}

// AddNS creates a namespace with its loopback up.
func (n *Net) AddNS(short string) (*NS, error) {
	name := n.prefix + short
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		_ = deleteNS(name)
		return nil, fmt.Errorf("open namespace %s: %w", name, err)
	}
	ns := &NS{Name: name, handle: h}
	n.mu.Lock()
	n.nss = append(n.nss, ns)
	n.mu.Unlock()
	err = ns.Netlink(func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: bring lo up: %w", name, err)
	}
	return ns, nil
}

// AddBridge creates a bridge in the switch namespace.
func (n *Net) AddBridge(name string) (*Bridge, error) {
	err := n.sw.Netlink(func(h *netlink.Handle) error {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := h.LinkAdd(br); err != nil {
			return err
		}
		return h.LinkSetUp(br)
	})
	if err != nil {
		return nil, fmt.Errorf("add bridge %s: %w", name, err)
	}
	return &Bridge{Name: name, net: n}, nil
}

// Connect plugs ns into br with a veth pair whose namespace end is ifname,
// brings both ends up and adds addrs to ifname.
func (n *Net) Connect(ns *NS, br *Bridge, ifname string, addrs ...netip.Prefix) (*Port, error) {
	n.mu.Lock()
	n.ports++
	swName := "p" + strconv.Itoa(n.ports)
	n.mu.Unlock()
	p := &Port{NS: ns, IfName: ifname, SwitchSide: swName, bridge: br}
	err := n.sw.Netlink(func(h *netlink.Handle) error {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: swName},
			PeerName:      ifname,
			PeerNamespace: netlink.NsFd(ns.handle),
		}
		if err := h.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth: %w", err)
		}
		l, err := h.LinkByName(swName)
		if err != nil {
			return err
		}
		brl, err := h.LinkByName(br.Name)
		if err != nil {
			return err
		}
		if err := h.LinkSetMaster(l, brl); err != nil {
			return fmt.Errorf("plug into %s: %w", br.Name, err)
		}
		return h.LinkSetUp(l)
	})
	if err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", ns.Name, br.Name, err)
	}
	err = ns.Netlink(func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		p.MAC = l.Attrs().HardwareAddr
		for _, a := range addrs {
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: prefixToIPNet(a)}); err != nil {
				return fmt.Errorf("add %s: %w", a, err)
			}
		}
		return h.LinkSetUp(l)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: set up %s: %w", ns.Name, ifname, err)
	}
	return p, nil
}

// SetLink sets the switch side of the port up or down. Down is a pulled
// cable: no frame passes and the namespace side loses its carrier.
func (p *Port) SetLink(up bool) error {
	return p.bridge.net.sw.Netlink(func(h *netlink.Handle) error {
		l, err := h.LinkByName(p.SwitchSide)
		if err != nil {
			return err
		}
		if up {
			return h.LinkSetUp(l)
		}
		return h.LinkSetDown(l)
	})
}

// Isolate unplugs the port from its bridge (or plugs it back) while every
// link stays up: the namespace keeps its carrier but reaches nobody, as
// behind a failed switch. This is how a split brain is made.
func (p *Port) Isolate(isolated bool) error {
	return p.bridge.net.sw.Netlink(func(h *netlink.Handle) error {
		l, err := h.LinkByName(p.SwitchSide)
		if err != nil {
			return err
		}
		if isolated {
			return h.LinkSetNoMaster(l)
		}
		brl, err := h.LinkByName(p.bridge.Name)
		if err != nil {
			return err
		}
		return h.LinkSetMaster(l, brl)
	})
}

// Do runs fn on an OS thread switched into ns. Sockets fn opens stay in ns
// after it returns; goroutines fn starts do not run in ns.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns.handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", ns.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in ns: keep it locked so the runtime
		// destroys it when this goroutine ends.
		return errors.Join(ferr, fmt.Errorf("leave %s: %w", ns.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Netlink runs fn with a netlink handle bound to ns.
func (ns *NS) Netlink(fn func(*netlink.Handle) error) error {
	h, err := netlink.NewHandleAt(ns.handle, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", ns.Name, err)
	}
	defer h.Close()
	return fn(h)
}

// Command prepares a command that runs inside ns (through ip netns exec,
// which also gives it the namespace's view of /sys).
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append([]string{"netns", "exec", ns.Name, name}, args...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	// The program is exec'd in place of ip, so Process is the program and
	// a signal sent to it is not lost on a wrapper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Run runs a command in ns and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	out, err := ns.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Sysctl writes a /proc/sys value, such as "net/ipv4/conf/all/arp_ignore",
// inside ns.
func (ns *NS) Sysctl(key, value string) error {
	return ns.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
}

// Close kills every process left in the topology's namespaces and deletes
// them. It is safe to call more than once.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	nss := n.nss
	n.mu.Unlock()
	var errs []error
	// The switch goes last: removing it first would leave the other ends
	// of the veths dangling for a moment, which is harmless but noisy.
	for i := len(nss) - 1; i >= 0; i-- {
		ns := nss[i]
		killIn(filepath.Join(netnsDir, ns.Name))
		ns.handle.Close()
		if err := deleteNS(ns.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SweepStale removes namespaces whose creating process is gone.
func SweepStale() error {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		pid, ok := ownerPID(e.Name())
		if !ok || processExists(pid) {
			continue
		}
		killIn(filepath.Join(netnsDir, e.Name()))
		if err := deleteNS(e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	pidStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	return pid, err == nil && pid > 0
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func deleteNS(name string) error {
	out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip netns delete %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// killIn SIGKILLs every process whose network namespace is the one bound
// at path, and waits briefly for them to go.
func killIn(path string) {
	pids := PIDsIn(path)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for processExists(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// PIDsIn lists the processes living in the namespace bound at path.
func PIDsIn(path string) []int {
	var target syscall.Stat_t
	if err := syscall.Stat(path, &target); err != nil {
		return nil
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	var pids []int
	for _, p := range procs {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || st.Ino != target.Ino || st.Dev != target.Dev {
			continue
		}
		pid, err := strconv.Atoi(strings.Split(p, "/")[2])
		if err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
