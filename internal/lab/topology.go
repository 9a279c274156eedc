// Package lab builds the seed's LVS-DR setup in network namespaces: a
// client, two directors and real servers on one bridge, VIP 192.168.11.100
// scheduled wrr, real servers prepared with `directord realserver up` and
// answering HTTP with their names. The dual-stack layout adds IPv6 beside
// it: every host gets 2001:db8:11::<its IPv4 host number>, and the VIP
// 2001:db8:11::100 is a second service over the same real servers, in a
// second VRRP instance synced with the first. `directord lab` shows it
// live, and the end-to-end tests drive it through failures.
package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"directord/internal/labnet"
)

// The seed's addresses, and the dual-stack layout's IPv6 ones.
var (
	VIP        = netip.MustParseAddr("192.168.11.100")
	ClientAddr = netip.MustParseAddr("192.168.11.2")
	VIP6       = netip.MustParseAddr("2001:db8:11::100")
	// VIP6LinkLocal is the IPv6 instance's first VIP: RFC 9568 §5.2.9
	// wants a link-local one first, which hosts learn the router from.
	VIP6LinkLocal = netip.MustParseAddr("fe80::52")
)

// HostSpec names a host and its addresses on the LAN. Addr6 is the zero
// Addr on an IPv4-only host.
type HostSpec struct {
	Name  string
	Addr  netip.Addr
	Addr6 netip.Addr
}

// Addr6Of is the dual-stack layout's IPv6 address of the host at v4: its
// host number written the same way in 2001:db8:11::/64, so that
// 192.168.11.12 is 2001:db8:11::12 (as the VIPs .100 and ::100).
func Addr6Of(v4 netip.Addr) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("2001:db8:11::%d", v4.As4()[3]))
}

// DualStack gives every host of a layout its IPv6 address.
func DualStack(directors []HostSpec, reals []RealSpec) ([]HostSpec, []RealSpec) {
	dirs := make([]HostSpec, len(directors))
	for i, d := range directors {
		d.Addr6 = Addr6Of(d.Addr)
		dirs[i] = d
	}
	rs := make([]RealSpec, len(reals))
	for i, r := range reals {
		r.Addr6 = Addr6Of(r.Addr)
		rs[i] = r
	}
	return dirs, rs
}

// dualStack reports whether a layout's real servers have IPv6.
func dualStack(reals []RealSpec) bool { return len(reals) > 0 && reals[0].Addr6.IsValid() }

// RealSpec is a real server of the lab.
type RealSpec struct {
	HostSpec
	Weight int
}

// Seed returns the lab's default layout: the seed's directors (.11 the
// preferred master, .10 its backup) and real servers .12 weight 2 and .13
// weight 4, plus .14 weight 6 and a spare .15 weight 2 for a reload to add.
func Seed() (directors []HostSpec, reals []RealSpec, spare RealSpec) {
	a := func(last byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 168, 11, last}) }
	h := func(name string, last byte) HostSpec { return HostSpec{Name: name, Addr: a(last)} }
	directors = []HostSpec{h("lb1", 11), h("lb2", 10)}
	reals = []RealSpec{{h("rs1", 12), 2}, {h("rs2", 13), 4}, {h("rs3", 14), 6}}
	spare = RealSpec{h("rs4", 15), 2}
	return directors, reals, spare
}

// Host is one namespace on the LAN.
type Host struct {
	Name  string
	NS    *labnet.NS
	Port  *labnet.Port
	Addr  netip.Addr
	Addr6 netip.Addr // the zero Addr on an IPv4-only host
	// Links are every port of the host, Port first: cutting them all
	// takes the host off every network.
	Links []*labnet.Port
}

// SetLinks cuts (false) or restores every link of the host.
func (h *Host) SetLinks(up bool) error {
	for _, p := range h.Links {
		if err := p.SetLink(up); err != nil {
			return err
		}
	}
	return nil
}

// AddAddr adds an address to the host's first interface, such as more
// client addresses. IPv6 ones skip duplicate address detection: the lab
// made every address, and a tentative one could not be used for a second.
func (h *Host) AddAddr(p netip.Prefix) error {
	return h.NS.Netlink(func(nh *netlink.Handle) error {
		l, err := nh.LinkByName(h.Port.IfName)
		if err != nil {
			return err
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		return nh.AddrAdd(l, a)
	})
}

// Real is a real server: its HTTP server answers with its name.
type Real struct {
	Host
	Weight int

	mu   sync.Mutex
	srv  *http.Server
	echo *echoServer
}

// Lab is a built topology.
type Lab struct {
	Net    *labnet.Net
	Bridge *labnet.Bridge
	// Inside is the real servers' bridge of the NAT layout.
	Inside *labnet.Bridge
	Client *Host
	Hosts  map[string]*Host
	Reals  []*Real
	// Bin is the directord binary the lab runs.
	Bin string
}

// Build creates the namespaces, the bridge and the addresses, and
// prepares every real server with `bin realserver up`. tag goes into the
// namespace names.
func Build(bin, tag string, directors []HostSpec, reals []RealSpec) (*Lab, error) {
	n, err := labnet.New(tag)
	if err != nil {
		return nil, err
	}
	l := &Lab{Net: n, Hosts: map[string]*Host{}, Bin: bin}
	if err := l.build(directors, reals); err != nil {
		l.Close() // the reals' servers too, which hold their namespaces
		return nil, err
	}
	return l, nil
}

func (l *Lab) build(directors []HostSpec, reals []RealSpec) error {
	br, err := l.Net.AddBridge("br0")
	if err != nil {
		return err
	}
	l.Bridge = br
	client := HostSpec{Name: "client", Addr: ClientAddr}
	if dualStack(reals) {
		client.Addr6 = Addr6Of(ClientAddr)
	}
	l.Client, err = l.AddHost(client)
	if err != nil {
		return err
	}
	for _, d := range directors {
		if _, err := l.AddHost(d); err != nil {
			return err
		}
	}
	for _, r := range reals {
		if _, err := l.AddReal(r); err != nil {
			return err
		}
	}
	if dualStack(reals) {
		return l.waitIPv6()
	}
	return nil
}

// waitIPv6 waits until no host has a tentative IPv6 address: the
// link-local addresses the kernel makes are in duplicate address
// detection for a second or more after a link comes up, and adverts from
// one, or neighbour discovery through it, fail until then.
func (l *Lab) waitIPv6() error {
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range l.Hosts {
		for {
			out, err := h.NS.Run("ip", "-6", "-o", "addr", "show", "dev", h.Port.IfName, "tentative")
			if err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
			if strings.TrimSpace(out) == "" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: IPv6 addresses still tentative: %s", h.Name, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// AddHost adds a namespace with eth0 on the bridge.
func (l *Lab) AddHost(h HostSpec) (*Host, error) {
	ns, err := l.Net.AddNS(h.Name)
	if err != nil {
		return nil, err
	}
	port, err := l.Net.Connect(ns, l.Bridge, "eth0", netip.PrefixFrom(h.Addr, 24))
	if err != nil {
		return nil, err
	}
	host := &Host{Name: h.Name, NS: ns, Port: port, Addr: h.Addr, Addr6: h.Addr6, Links: []*labnet.Port{port}}
	if h.Addr6.IsValid() {
		if err := host.AddAddr(netip.PrefixFrom(h.Addr6, 64)); err != nil {
			return nil, fmt.Errorf("%s: add %s: %w", h.Name, h.Addr6, err)
		}
	}
	l.Hosts[h.Name] = host
	return host, nil
}

// AddReal adds a real server: `directord realserver up` for the VIP, and
// an HTTP server on port 80 that answers with its name.
func (l *Lab) AddReal(r RealSpec) (*Real, error) {
	h, err := l.AddHost(r.HostSpec)
	if err != nil {
		return nil, err
	}
	args := []string{"realserver", "up", "--vip", VIP.String()}
	if r.Addr6.IsValid() {
		args = append(args, "--vip", VIP6.String())
	}
	if out, err := h.NS.Run(l.Bin, args...); err != nil {
		return nil, fmt.Errorf("%s: realserver up: %w: %s", h.Name, err, out)
	}
	real := &Real{Host: *h, Weight: r.Weight}
	if err := real.StartHTTP(); err != nil {
		return nil, err
	}
	l.Reals = append(l.Reals, real)
	return real, nil
}

// StartHTTP starts the real's HTTP server on port 80 of its namespace.
func (r *Real) StartHTTP() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return nil
	}
	var ln net.Listener
	err := r.NS.Do(func() error {
		var err error
		// One socket for both families: a dual-stack lab reaches it at
		// both VIPs, an IPv4-only one at its IPv4 address.
		network := "tcp4"
		if r.Addr6.IsValid() {
			network = "tcp"
		}
		ln, err = net.Listen(network, ":80")
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: listen: %w", r.Name, err)
	}
	name := r.Name
	r.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	srv := r.srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// StopHTTP stops the real's HTTP server: its port now refuses.
func (r *Real) StopHTTP() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// Serving reports whether the HTTP server runs.
func (r *Real) Serving() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv != nil
}

// Close stops the HTTP servers and removes every namespace, which takes
// the processes in them too.
func (l *Lab) Close() error {
	for _, r := range l.Reals {
		r.StopHTTP()
		r.StopEcho()
		// realserver up's state file outlives the namespace otherwise,
		// named after an inode number a later namespace will get.
		_, _ = r.NS.Run(l.Bin, "realserver", "down")
	}
	return l.Net.Close()
}

// Dial opens a TCP connection from the client namespace; HTTP clients
// use it as their DialContext.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.NS.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	if c == nil && err == nil {
		err = errors.New("dial failed")
	}
	return c, err
}
