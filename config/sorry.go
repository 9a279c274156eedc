package config

import "net/netip"

// sorryServer resolves sorry_server and the sorry_server_* attributes that
// qualify it. They are flat attributes, named after keepalived's keywords,
// rather than a block: the plain `sorry_server = "ADDR"` of earlier
// configurations keeps its meaning, and an HCL name cannot be both an
// attribute and a block.
func (r *resolver) sorryServer(b blk, rv *rawVirtualServer, vs *VirtualServer) {
	if rv.SorryServer == nil {
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"sorry_server_inhibit", rv.SorryInhibit != nil},
			{"sorry_server_forwarding", rv.SorryForwarding != nil},
			{"sorry_server_keep_reals", rv.SorryKeepReals != nil},
		} {
			if o.set {
				b.errorf(o.name, "%s applies only with sorry_server", o.name)
			}
		}
		return
	}
	vs.SorryInhibit = deref(rv.SorryInhibit, false)
	vs.SorryKeepReals = deref(rv.SorryKeepReals, false)
	vs.SorryForwarding = b.enum("sorry_server_forwarding", rv.SorryForwarding, vs.Forwarding, ForwardDR, ForwardNAT, ForwardTUN)
	vs.SorryServer = r.sorryAddr(b, *rv.SorryServer, vs)
}

// sorryAddr parses "ADDR" or "ADDR:PORT"; the port defaults to the
// service's.
func (r *resolver) sorryAddr(b blk, s string, vs *VirtualServer) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, err2 := netip.ParseAddr(s)
		if err2 != nil || a.Zone() != "" {
			b.errorf("sorry_server", "sorry_server must be ADDR or ADDR:PORT, not %q", s)
			return netip.AddrPort{}
		}
		ap = netip.AddrPortFrom(a, vs.Port)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if ap.Addr().Is6() != vs.IsIPv6() {
		b.errorf("sorry_server", "sorry_server %s is not in the service's address family", ap.Addr())
	}
	if vs.FWMark == 0 && vs.SorryForwarding != ForwardNAT && ap.Port() != vs.Port {
		name := "sorry_server"
		if b.attr("sorry_server_forwarding") != nil {
			name = "sorry_server_forwarding"
		}
		b.errorf(name, "with %s forwarding the sorry server's port must be the service's (%d), not %d: the kernel cannot rewrite it", vs.SorryForwarding, vs.Port, ap.Port())
	}
	return ap
}
