// Package lab builds the seed's LVS-DR setup in network namespaces: a
// client, two directors and real servers on one bridge, VIP 192.168.11.100
// scheduled wrr, real servers prepared with `directord realserver up` and
// answering HTTP with their names. `directord lab` shows it live, and the
// end-to-end test drives it through failures.
package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"directord/internal/labnet"
)

// The seed's addresses.
var (
	VIP        = netip.MustParseAddr("192.168.11.100")
	ClientAddr = netip.MustParseAddr("192.168.11.2")
)

// HostSpec names a host and its address on the LAN.
type HostSpec struct {
	Name string
	Addr netip.Addr
}

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
	directors = []HostSpec{{"lb1", a(11)}, {"lb2", a(10)}}
	reals = []RealSpec{{HostSpec{"rs1", a(12)}, 2}, {HostSpec{"rs2", a(13)}, 4}, {HostSpec{"rs3", a(14)}, 6}}
	spare = RealSpec{HostSpec{"rs4", a(15)}, 2}
	return directors, reals, spare
}

// Host is one namespace on the LAN.
type Host struct {
	Name string
	NS   *labnet.NS
	Port *labnet.Port
	Addr netip.Addr
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
// client addresses.
func (h *Host) AddAddr(p netip.Prefix) error {
	return h.NS.Netlink(func(nh *netlink.Handle) error {
		l, err := nh.LinkByName(h.Port.IfName)
		if err != nil {
			return err
		}
		return nh.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}})
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
		n.Close()
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
	l.Client, err = l.AddHost(HostSpec{"client", ClientAddr})
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
	host := &Host{Name: h.Name, NS: ns, Port: port, Addr: h.Addr, Links: []*labnet.Port{port}}
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
	if out, err := h.NS.Run(l.Bin, "realserver", "up", "--vip", VIP.String()); err != nil {
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
		ln, err = net.Listen("tcp4", ":80")
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
