package doctor

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/arp"

	"directord/vrrp"
)

// Network listens and asks with directord's own VRRP socket and
// mdlayher/arp, on this host's interfaces.
type Network struct{}

// Listen opens directord's own VRRP socket on ifname.
func (Network) Listen(ifname string, v6 bool) (Ears, error) {
	fam := vrrp.IPv4
	if v6 {
		fam = vrrp.IPv6
	}
	own, err := ownAddrs(ifname)
	if err != nil {
		return nil, err
	}
	c, err := vrrp.NewLinuxSystem(slog.New(slog.DiscardHandler)).Listen(ifname, fam)
	if err != nil {
		return nil, err
	}
	return &ears{c: c, own: own}, nil
}

type ears struct {
	c   vrrp.PacketConn
	own map[netip.Addr]bool
}

// Collect decodes and checks adverts as the daemon does.
func (e *ears) Collect(d time.Duration) []Heard {
	// Receive blocks; closing the socket at the end of the listen
	// ends it.
	stop := time.AfterFunc(d, func() { e.c.Close() })
	defer stop.Stop()
	defer e.c.Close()
	// One per speaker and VRID: a router may run several instances.
	type key struct {
		src  netip.Addr
		vrid uint8
	}
	heard := map[key]Heard{}
	buf := make([]byte, 1500)
	for {
		r, err := e.c.Receive(buf)
		if err != nil {
			break
		}
		if e.own[r.Src] {
			continue
		}
		p, drop, _ := vrrp.Decode(r)
		if drop != "" || p == nil {
			continue
		}
		heard[key{r.Src, p.VRID}] = Heard{Src: r.Src, VRID: p.VRID, Priority: p.Priority, VIPs: slices.Clone(p.Addrs)}
	}
	out := make([]Heard, 0, len(heard))
	for _, h := range heard {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Heard) int {
		if c := a.Src.Compare(b.Src); c != 0 {
			return c
		}
		return int(a.VRID) - int(b.VRID)
	})
	return out
}

// WhoHas sends one ARP request for a and waits a second for the answer.
func (Network) WhoHas(ifname string, a netip.Addr) (net.HardwareAddr, error) {
	own, err := ownAddrs(ifname)
	if err != nil || own[a] {
		return nil, err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return nil, err
	}
	mac, err := c.Resolve(a)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, nil
	}
	return mac, err
}

// ownAddrs are the interface's addresses.
func ownAddrs(ifname string) (map[netip.Addr]bool, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	as, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	own := map[netip.Addr]bool{}
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				own[ip.Unmap()] = true
			}
		}
	}
	return own, nil
}
