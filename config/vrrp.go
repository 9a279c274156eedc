package config

import (
	"directord/internal/proc"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// VRRP defaults, following keepalived except where the issue decided
// otherwise (version 3 rather than keepalived's 2).
const (
	DefaultPriority       = 100
	DefaultVersion        = 3
	DefaultAdvertInterval = time.Second
	DefaultGARPDelay      = 5 * time.Second
	DefaultGARPRepeat     = 5
	DefaultNotifyTimeout  = 5 * time.Second
	maxPreemptDelay       = 1000 * time.Second
)

// maxVIPs is the most addresses one VRRP advert can carry.
const maxVIPs = 255

func (r *resolver) instance(ri *rawInstance) VRRPInstance {
	b := r.block(ri.Body, ri.DefRange)
	in := VRRPInstance{
		Name:            ri.Name,
		UnicastPeers:    []netip.Addr{},
		VirtualIPs:      []VIP{},
		TrackInterfaces: []TrackInterface{},
		TrackScripts:    []TrackScript{},
		TrackFiles:      []TrackFile{},
	}
	if ri.Name == "" {
		r.errAt(ri.NameRange, "a vrrp_instance needs a non-empty name")
	}
	if b.required("interface", ri.Interface != nil) {
		in.Interface = b.ifname("interface", *ri.Interface)
	}
	if b.required("virtual_router_id", ri.VRID != nil) {
		in.VRID = uint8(b.intIn("virtual_router_id", ri.VRID, 0, 1, 255))
	}
	in.Priority = uint8(b.intIn("priority", ri.Priority, DefaultPriority, 1, 255))
	in.Version = DefaultVersion
	if ri.Version != nil {
		if *ri.Version != 2 && *ri.Version != 3 {
			b.errorf("version", "version must be 2 or 3, not %d", *ri.Version)
		} else {
			in.Version = *ri.Version
		}
	}
	in.AdvertInterval = Duration(r.advertInterval(b, ri.AdvertInterval, in.Version))
	in.Preempt = deref(ri.Preempt, true)
	in.Announcement = r.announcement(b, ri.Announce, ri.Communities, ri.MED)
	in.PreemptDelay = Duration(b.duration("preempt_delay", ri.PreemptDelay, 0))
	if in.PreemptDelay.D() > maxPreemptDelay {
		b.errorf("preempt_delay", "preempt_delay must be at most %s", maxPreemptDelay)
	}
	if !in.Preempt && ri.PreemptDelay != nil {
		r.warnAt(b.where("preempt_delay"), "preempt_delay has no effect with preempt = false")
	}

	if b.required("virtual_ips", ri.VirtualIPs != nil) {
		if len(*ri.VirtualIPs) == 0 {
			b.errorf("virtual_ips", "virtual_ips must list at least one address")
		}
		// An advert counts its addresses in one byte (RFC 9568 §5.2.5):
		// an instance with more could never advertise.
		if n := len(*ri.VirtualIPs); n > maxVIPs {
			r.errAt(b.elem("virtual_ips", maxVIPs), "virtual_ips lists %d addresses; an advert carries at most %d (split them over several instances)", n, maxVIPs)
		}
		seen := map[netip.Addr]bool{}
		for i, s := range *ri.VirtualIPs {
			v, ok := r.vip(b, i, s, in.Interface)
			if !ok {
				continue
			}
			if seen[v.Prefix.Addr()] {
				r.errAt(b.elem("virtual_ips", i), "virtual IP %s is listed twice", v.Prefix.Addr())
				continue
			}
			seen[v.Prefix.Addr()] = true
			in.VirtualIPs = append(in.VirtualIPs, v)
		}
		r.vipFamily(b, &in)
	}

	if ri.UnicastSrc != nil {
		if a, ok := b.addr("unicast_src", *ri.UnicastSrc, b.where("unicast_src")); ok {
			if len(in.VirtualIPs) > 0 && a.Is6() != in.VirtualIPs[0].Prefix.Addr().Is6() {
				b.errorf("unicast_src", "unicast_src %s is not of the family of the virtual IPs (%s): an instance runs over one", a, familyName(in.VirtualIPs[0].Prefix.Addr()))
			}
			in.UnicastSrc = a
		}
	}
	if ri.UnicastPeers != nil {
		seen := map[netip.Addr]bool{}
		for i, s := range *ri.UnicastPeers {
			a, ok := b.addr("unicast_peers", s, b.elem("unicast_peers", i))
			switch {
			case !ok:
			case len(in.VirtualIPs) > 0 && a.Is6() != in.VirtualIPs[0].Prefix.Addr().Is6():
				r.errAt(b.elem("unicast_peers", i), "unicast peer %s is not of the family of the virtual IPs (%s): an instance runs over one", a, familyName(in.VirtualIPs[0].Prefix.Addr()))
			case a == in.UnicastSrc:
				r.errAt(b.elem("unicast_peers", i), "unicast peer %s is our own unicast_src", a)
			case a.Is6() && !a.IsLinkLocalUnicast() && !in.UnicastSrc.IsValid():
				// Adverts would leave from the link-local address, and a
				// peer that lists this director's global one (as this
				// list does the peer's) drops them: two masters.
				r.errAt(b.elem("unicast_peers", i), "unicast peer %s is not link-local: set unicast_src to this director's address of that family, or list link-local peers (IPv6 adverts leave from the link-local address otherwise, and the peer would drop them)", a)
			case seen[a]:
				r.errAt(b.elem("unicast_peers", i), "unicast peer %s is listed twice", a)
			default:
				seen[a] = true
				in.UnicastPeers = append(in.UnicastPeers, a)
			}
		}
	}

	if ri.Auth != nil {
		in.Auth = r.auth(ri.Auth, in.Version)
	}
	in.TrackInterfaces = r.trackInterfaces(ri.TrackInterfaces)
	in.TrackScripts = r.trackScripts(ri.TrackScripts)
	in.TrackFiles = r.trackFiles(ri.TrackFiles)
	in.GARP = r.garp(ri.GARP)
	in.Notify = r.notify(ri.Notify)
	return in
}

// advertInterval applies RFC 9568 §5.2.7 (12 bits of centiseconds) for v3
// and RFC 3768 §5.3.7 (8 bits of seconds) for v2.
func (r *resolver) advertInterval(b blk, p *string, version int) time.Duration {
	d := b.duration("advert_interval", p, DefaultAdvertInterval)
	if version == 2 {
		if d%time.Second != 0 || d < time.Second || d > 255*time.Second {
			b.errorf("advert_interval", "VRRPv2 advert_interval must be whole seconds from 1s to 255s, not %s", d)
			return DefaultAdvertInterval
		}
		return d
	}
	if d%(10*time.Millisecond) != 0 || d < 10*time.Millisecond || d > 40950*time.Millisecond {
		b.errorf("advert_interval", "VRRPv3 advert_interval must be 10ms to 40.95s in steps of 10ms, not %s", d)
		return DefaultAdvertInterval
	}
	return d
}

// vip parses keepalived's virtual_ipaddress form:
// "ADDR[/LEN] [dev IFACE] [label LABEL]". An address without a length is
// a /32, as in keepalived.
func (r *resolver) vip(b blk, i int, s, iface string) (VIP, bool) {
	rng := b.elem("virtual_ips", i)
	f := strings.Fields(s)
	if len(f) == 0 {
		r.errAt(rng, "empty virtual IP")
		return VIP{}, false
	}
	var v VIP
	var err error
	if strings.Contains(f[0], "/") {
		v.Prefix, err = netip.ParsePrefix(f[0])
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(f[0])
		v.Prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if err != nil {
		r.errAt(rng, "%q is not an address or CIDR prefix", f[0])
		return VIP{}, false
	}
	if a := v.Prefix.Addr(); a.Zone() != "" || a.Is4In6() {
		r.errAt(rng, "virtual IP %s: write the address without a zone or IPv4 mapping", a)
		return VIP{}, false
	}
	for rest := f[1:]; len(rest) > 0; rest = rest[2:] {
		if len(rest) < 2 {
			r.errAt(rng, "%q needs a value", rest[0])
			return VIP{}, false
		}
		switch rest[0] {
		case "dev":
			v.Dev = rest[1]
		case "label":
			v.Label = rest[1]
		default:
			r.errAt(rng, "unknown virtual IP option %q (expected dev or label)", rest[0])
			return VIP{}, false
		}
	}
	dev := v.Dev
	if dev == "" {
		dev = iface
	}
	if v.Label != "" && v.Prefix.Addr().Is6() {
		r.errAt(rng, "label %q: address labels are IPv4's; remove it from the IPv6 address", v.Label)
		return VIP{}, false
	}
	if v.Label != "" && (len(v.Label) > 15 || !strings.HasPrefix(v.Label, dev)) {
		r.errAt(rng, "label %q must start with the device name %q and be at most 15 characters (a kernel rule)", v.Label, dev)
		return VIP{}, false
	}
	return v, true
}

func (r *resolver) auth(ra *rawAuth, version int) *Auth {
	b := r.block(ra.Body, ra.DefRange)
	if version != 2 {
		r.errAt(ra.DefRange, "authentication exists only in VRRPv2 (RFC 9568 removed it); set version = 2 or remove the block")
		return nil
	}
	a := &Auth{}
	if b.required("type", ra.Type != nil) {
		switch strings.ToLower(*ra.Type) {
		case "pass":
			a.Type = "pass"
		case "ah":
			b.errorf("type", "authentication type \"ah\" is not supported; use \"pass\"")
		default:
			b.errorf("type", "authentication type must be \"pass\", not %q", *ra.Type)
		}
	}
	if b.required("password", ra.Password != nil) {
		a.Password = *ra.Password
		if len(a.Password) == 0 || len(a.Password) > 8 {
			b.errorf("password", "password must be 1 to 8 bytes: VRRPv2 carries 8 bytes of authentication data")
		}
	}
	return a
}

func (r *resolver) trackInterfaces(raw []*rawTrackInterface) []TrackInterface {
	out := []TrackInterface{}
	seen := map[string]bool{}
	for _, rt := range raw {
		b := r.block(rt.Body, rt.DefRange)
		if seen[rt.Name] {
			r.errAt(rt.NameRange, "track_interface %q is declared twice", rt.Name)
			continue
		}
		seen[rt.Name] = true
		if rt.Name == "" || len(rt.Name) > 15 {
			r.errAt(rt.NameRange, "%q is not a valid interface name", rt.Name)
		}
		out = append(out, TrackInterface{Name: rt.Name, Weight: b.intIn("weight", rt.Weight, 0, -254, 254)})
	}
	return out
}

func (r *resolver) trackScripts(raw []*rawTrackScript) []TrackScript {
	out := []TrackScript{}
	seen := map[string]bool{}
	for _, rt := range raw {
		b := r.block(rt.Body, rt.DefRange)
		if seen[rt.Name] {
			r.errAt(rt.NameRange, "track_script %q is declared twice", rt.Name)
			continue
		}
		seen[rt.Name] = true
		ts := TrackScript{Name: rt.Name}
		if b.required("command", rt.Command != nil) {
			ts.Command = b.argv("command", rt.Command)
		}
		ts.Interval = Duration(b.duration("interval", rt.Interval, time.Second))
		if ts.Interval <= 0 {
			b.errorf("interval", "interval must be positive")
		}
		ts.Timeout = Duration(b.duration("timeout", rt.Timeout, min(ts.Interval.D(), proc.MaxTimeout)))
		switch {
		case ts.Timeout <= 0 || ts.Timeout > ts.Interval:
			b.errorf("timeout", "timeout must be positive and at most the interval (%s)", ts.Interval)
		case ts.Timeout.D() > proc.MaxTimeout:
			b.errorf("timeout", "timeout must be at most %s: nothing the daemon runs may hang on longer", proc.MaxTimeout)
		}
		ts.Rise = b.intIn("rise", rt.Rise, 1, 1, 1000)
		ts.Fall = b.intIn("fall", rt.Fall, 1, 1, 1000)
		ts.Weight = b.intIn("weight", rt.Weight, 0, -254, 254)
		out = append(out, ts)
	}
	return out
}

func (r *resolver) trackFiles(raw []*rawTrackFile) []TrackFile {
	out := []TrackFile{}
	seen := map[string]bool{}
	for _, rt := range raw {
		b := r.block(rt.Body, rt.DefRange)
		if !filepath.IsAbs(rt.Path) {
			r.errAt(rt.PathRange, "track_file path %q must be absolute", rt.Path)
		}
		if seen[rt.Path] {
			r.errAt(rt.PathRange, "track_file %q is declared twice", rt.Path)
			continue
		}
		seen[rt.Path] = true
		out = append(out, TrackFile{Path: rt.Path, Weight: b.intIn("weight", rt.Weight, 1, -254, 254)})
	}
	return out
}

func (r *resolver) garp(rg *rawGARP) GARP {
	g := GARP{Delay: Duration(DefaultGARPDelay), Repeat: DefaultGARPRepeat, RefreshRepeat: 1}
	if rg == nil {
		return g
	}
	b := r.block(rg.Body, rg.DefRange)
	g.Delay = Duration(b.duration("delay", rg.Delay, DefaultGARPDelay))
	g.Repeat = b.intIn("repeat", rg.Repeat, DefaultGARPRepeat, 1, 100)
	g.Interval = Duration(b.duration("interval", rg.Interval, 0))
	g.Refresh = Duration(b.duration("refresh", rg.Refresh, 0))
	g.RefreshRepeat = b.intIn("refresh_repeat", rg.RefreshRepeat, 1, 1, 100)
	return g
}

func (r *resolver) notify(rn *rawNotify) Notify {
	n := Notify{Timeout: Duration(DefaultNotifyTimeout)}
	if rn == nil {
		return n
	}
	b := r.block(rn.Body, rn.DefRange)
	n.Master = b.argv("master", rn.Master)
	n.Backup = b.argv("backup", rn.Backup)
	n.Fault = b.argv("fault", rn.Fault)
	n.Stop = b.argv("stop", rn.Stop)
	n.Timeout = Duration(b.duration("timeout", rn.Timeout, DefaultNotifyTimeout))
	if n.Timeout <= 0 || n.Timeout.D() > proc.MaxTimeout {
		b.errorf("timeout", "timeout must be positive and at most %s", proc.MaxTimeout)
	}
	return n
}

// crossInstances checks rules between instances: names, (interface, VRID)
// pairs and VIPs must each be unique.
func (r *resolver) crossInstances(raw []*rawInstance, ins []VRRPInstance) {
	names := map[string]bool{}
	type key struct {
		ifname string
		vrid   uint8
	}
	vrids := map[key]string{}
	vips := map[netip.Addr]string{}
	for i := range ins {
		in, ri := &ins[i], raw[i]
		b := r.block(ri.Body, ri.DefRange)
		if names[in.Name] {
			r.errAt(ri.NameRange, "vrrp_instance %q is declared twice", in.Name)
		}
		names[in.Name] = true
		if in.Interface != "" && in.VRID != 0 {
			k := key{in.Interface, in.VRID}
			if other, ok := vrids[k]; ok {
				b.errorf("virtual_router_id", "virtual_router_id %d is already used on %s by vrrp_instance %q", in.VRID, in.Interface, other)
			} else {
				vrids[k] = in.Name
			}
		}
		for j, v := range in.VirtualIPs {
			if other, ok := vips[v.Prefix.Addr()]; ok {
				r.errAt(b.elem("virtual_ips", j), "virtual IP %s is already held by vrrp_instance %q", v.Prefix.Addr(), other)
			} else {
				vips[v.Prefix.Addr()] = in.Name
			}
		}
	}
}

func (r *resolver) syncGroups(raw []*rawSyncGroup, ins []VRRPInstance) []SyncGroup {
	known := map[string]bool{}
	for _, in := range ins {
		known[in.Name] = true
	}
	member := map[string]string{}
	names := map[string]bool{}
	out := []SyncGroup{}
	for _, rg := range raw {
		b := r.block(rg.Body, rg.DefRange)
		if names[rg.Name] {
			r.errAt(rg.NameRange, "vrrp_sync_group %q is declared twice", rg.Name)
		}
		names[rg.Name] = true
		g := SyncGroup{Name: rg.Name, Instances: []string{}}
		if !b.required("instances", rg.Instances != nil) {
			continue
		}
		if len(*rg.Instances) == 0 {
			b.errorf("instances", "instances must name at least one vrrp_instance")
		}
		for i, name := range *rg.Instances {
			rng := b.elem("instances", i)
			switch {
			case !known[name]:
				r.errAt(rng, "vrrp_sync_group %q names vrrp_instance %q, which is not declared", rg.Name, name)
			case member[name] != "":
				r.errAt(rng, "vrrp_instance %q is already in vrrp_sync_group %q", name, member[name])
			default:
				member[name] = rg.Name
				g.Instances = append(g.Instances, name)
			}
		}
		out = append(out, g)
	}
	return out
}

// vipFamily holds an instance to one address family, as keepalived does:
// an advert carries addresses of the family of the IP packet it travels
// in. A mixed list is refused at the first address of the other family.
// Over IPv6 the version is 3 (RFC 3768 is IPv4 only), and RFC 9568
// §5.2.9 asks for a link-local first address, which keepalived only
// warns about, and so does this.
func (r *resolver) vipFamily(b blk, in *VRRPInstance) {
	if len(in.VirtualIPs) == 0 {
		return
	}
	first := in.VirtualIPs[0].Prefix.Addr()
	for i, v := range in.VirtualIPs {
		if v.Prefix.Addr().Is6() != first.Is6() {
			r.errAt(b.elem("virtual_ips", i), "virtual IP %s is %s but the first, %s, is %s: an instance runs over one address family; put the %s addresses in a second vrrp_instance and both instances in a vrrp_sync_group",
				v.Prefix.Addr(), familyName(v.Prefix.Addr()), first, familyName(first), familyName(v.Prefix.Addr()))
			return
		}
	}
	if !first.Is6() {
		return
	}
	if in.Version == 2 {
		b.errorf("version", "VRRPv2 runs over IPv4 only (RFC 3768): IPv6 virtual IPs need version = 3")
	}
	if !first.IsLinkLocalUnicast() {
		r.warnAt(b.elem("virtual_ips", 0), "the first IPv6 virtual IP, %s, is not link-local: RFC 9568 §5.2.9 asks for a link-local address first (keepalived warns too); routers on the LAN learn the virtual router's address from it", first)
	}
}

func familyName(a netip.Addr) string {
	if a.Is6() {
		return "IPv6"
	}
	return "IPv4"
}
