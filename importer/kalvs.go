package importer

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// vsMember is one service a virtual_server line stands for.
type vsMember struct {
	name  string
	addr  netip.AddrPort
	fwmrk int
}

// members reads a virtual_server's header: IP PORT, fwmark N, or group
// NAME (every member of that virtual_server_group, IP ranges expanded).
func (w *kaWriter) members(root *hclwrite.Body, n *Node) []vsMember {
	switch {
	case len(n.Args) >= 2 && n.Args[0] == "fwmark":
		m, err := strconv.Atoi(n.Args[1])
		if err != nil {
			w.drop(root, n, "fwmark is not a number")
			return nil
		}
		return []vsMember{{name: fmt.Sprintf("fwmark_%d", m), fwmrk: m}}
	case len(n.Args) >= 2 && n.Args[0] == "group":
		g := w.groups[n.Args[1]]
		if g == nil {
			w.drop(root, n, "no virtual_server_group "+n.Args[1])
			return nil
		}
		var out []vsMember
		for _, c := range g.Children {
			words := append([]string{c.Key}, c.Args...)
			for _, m := range w.members(root, &Node{Key: n.Key, Args: words, File: c.File, Line: c.Line}) {
				m.name = n.Args[1] + "_" + m.name
				out = append(out, m)
			}
		}
		return out
	case len(n.Args) >= 2:
		port, err := strconv.Atoi(n.Args[1])
		first, last, rangeOK := ipRange(n.Args[0])
		if err != nil || !rangeOK {
			w.drop(root, n, "not IP PORT")
			return nil
		}
		var out []vsMember
		for a := first; a.Compare(last) <= 0 && len(out) < 256; a = a.Next() {
			ap := netip.AddrPortFrom(a, uint16(port))
			out = append(out, vsMember{name: serviceName(&Service{Protocol: "tcp", Addr: ap}), addr: ap})
		}
		return out
	}
	w.drop(root, n, "no service address")
	return nil
}

// ipRange reads "10.0.0.1" or keepalived's "10.0.0.1-10" (the last
// byte's range).
func ipRange(s string) (netip.Addr, netip.Addr, bool) {
	base, end, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(base)
	if err != nil {
		return a, a, false
	}
	if !isRange || !a.Is4() {
		return a, a, !isRange
	}
	e, err := strconv.Atoi(end)
	b4 := a.As4()
	if err != nil || e < int(b4[3]) || e > 255 {
		return a, a, false
	}
	b4[3] = byte(e)
	return a, netip.AddrFrom4(b4), true
}

// virtualServer writes a virtual_server block per member.
func (w *kaWriter) virtualServer(root *hclwrite.Body, n *Node) {
	for _, m := range w.members(root, n) {
		root.AppendNewline()
		b := root.AppendNewBlock("virtual_server", []string{m.name}).Body()
		if m.fwmrk != 0 {
			setInt(b, "fwmark", m.fwmrk)
		} else {
			setStr(b, "address", m.addr.Addr().String())
			setInt(b, "port", int(m.addr.Port()))
		}
		w.serviceBody(b, n, m)
	}
}

// check defaults a virtual_server gives its checkers.
type checkDefaults struct {
	interval string // delay_loop
	host     string // virtualhost
	alpha    bool
	// nat: the service masquerades, so a real may have its own port;
	// port is the service's (0 for fwmark).
	nat  bool
	port int
}

func (w *kaWriter) serviceBody(b *hclwrite.Body, n *Node, m vsMember) {
	fwmark := m.fwmrk != 0
	def := checkDefaults{interval: "60s", port: int(m.addr.Port())} // keepalived's delay_loop
	inhibit := false
	var reals []*Node
	for _, c := range n.Children {
		switch c.Key {
		case "delay_loop":
			if d, ok := seconds(c); ok {
				def.interval = d
			}
		case "virtualhost":
			def.host = arg(c)
		case "alpha":
			def.alpha = true
		case "lb_algo", "lvs_sched":
			setStr(b, "scheduler", arg(c))
		case "lb_kind", "lvs_method":
			setStr(b, "forwarding", strings.ToLower(arg(c)))
			def.nat = strings.EqualFold(arg(c), "NAT")
		case "protocol":
			if fwmark {
				w.approx(b, c, "a fwmark service matches every protocol the mark is on")
				continue
			}
			setStr(b, "protocol", strings.ToLower(arg(c)))
		case "persistence_timeout":
			w.setSecs(b, "persistence_timeout", c)
		case "persistence_granularity":
			setStr(b, "persistence_netmask", arg(c))
		case "sorry_server":
			if len(c.Args) >= 2 {
				setStr(b, "sorry_server", netipJoin(c.Args[0], c.Args[1]))
			} else {
				setStr(b, "sorry_server", arg(c))
			}
		case "sorry_server_inhibit":
			setBool(b, "sorry_server_inhibit", true)
		case "sorry_server_lvs_method":
			setStr(b, "sorry_server_forwarding", strings.ToLower(arg(c)))
		case "quorum":
			w.setNum(b, "quorum", c)
		case "hysteresis":
			w.setNum(b, "hysteresis", c)
		case "quorum_up":
			setList(b, "quorum_up", argv(c.Args))
		case "quorum_down":
			setList(b, "quorum_down", argv(c.Args))
		case "inhibit_on_failure":
			inhibit = true
		case "ops":
			setList(b, "scheduler_flags", []string{"one-packet"})
		case "real_server":
			reals = append(reals, c)
		default:
			w.drop(b, c, "no directord equivalent")
		}
	}
	// keepalived removes a failed real unless inhibit_on_failure;
	// directord's default is keepalived's inhibit (weight 0).
	if !inhibit {
		setStr(b, "on_failure", "remove")
	}
	for _, r := range reals {
		w.realServer(b, r, def)
	}
}

func netipJoin(a, p string) string {
	ad, err := netip.ParseAddr(a)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		return a + ":" + p
	}
	return netip.AddrPortFrom(ad, uint16(port)).String()
}

func (w *kaWriter) realServer(vs *hclwrite.Body, n *Node, def checkDefaults) {
	if len(n.Args) < 1 {
		w.drop(vs, n, "no address")
		return
	}
	b := vs.AppendNewBlock("real_server", []string{n.Args[0]}).Body()
	if len(n.Args) >= 2 {
		p, err := strconv.Atoi(n.Args[1])
		switch {
		case err != nil || p == 0:
		case def.nat:
			setInt(b, "port", p)
		case def.port != 0 && p != def.port:
			w.approx(b, n, "port "+n.Args[1]+" left out: with dr or tun forwarding the real serves the service's port, which the kernel cannot rewrite")
		case def.port == 0:
			setInt(b, "port", p) // a fwmark service's real
		}
	}
	for _, c := range n.Children {
		switch c.Key {
		case "weight":
			w.setNum(b, "weight", c)
		case "notify_up":
			setList(b, "notify_up", argv(c.Args))
		case "notify_down":
			setList(b, "notify_down", argv(c.Args))
		case "inhibit_on_failure":
			w.approx(b, c, "directord sets on_failure per virtual_server")
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK":
			w.checker(b, c, def)
		default:
			w.drop(b, c, "no directord equivalent")
		}
	}
	w.sum.Reals++
}
