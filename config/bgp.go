package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults of the bgp block: BGP's own hold time (RFC 4271 suggests 90 s;
// directors usually run lower, or BFD), the standard port for peers, no
// listening (directord connects out, and a router or a local BIRD/FRR
// may own port 179), the VIPs on lo, and a drain long enough for a
// router to move its flows before the director stops.
const (
	DefaultBGPHoldTime   = 90 * time.Second
	DefaultBGPPort       = 179
	DefaultBGPListenPort = 0
	DefaultBGPDrainTime  = 5 * time.Second
	AnnounceBGP          = "bgp"
	// BFD (RFC 5880) at FRR's defaults, 300 ms × 3: a router learns of a
	// lost director in under a second. GoBGP's own default, 1 s × 3, is
	// no faster than a 3 s hold time.
	DefaultBFDInterval   = 300 * time.Millisecond
	DefaultBFDMultiplier = 3
)

// BGP is the bgp block: directord speaks BGP (through GoBGP) to the
// routers and announces each announce = "bgp" virtual server's address
// while that service has quorum here.
type BGP struct {
	ASN      uint32     `json:"asn"`
	RouterID netip.Addr `json:"router_id"`
	HoldTime Duration   `json:"hold_time"`
	// ListenPort is where routers may connect; 0 means directord only
	// connects out.
	ListenPort int `json:"listen_port"`
	// VIPInterface holds every announced address on every director (lo
	// or a dummy), so that IPVS sees the packets routed to it.
	VIPInterface string    `json:"vip_interface"`
	DrainTime    Duration  `json:"drain_time"`
	Peers        []BGPPeer `json:"peers"`
}

// BGPPeer is one router.
type BGPPeer struct {
	Address  netip.Addr `json:"address"`
	ASN      uint32     `json:"asn"`
	Port     uint16     `json:"port"`
	Password string     `json:"-"`
	// Multihop is the TTL of an eBGP session to a router more than one
	// hop away; 0 for a directly connected one.
	Multihop uint8 `json:"multihop,omitempty"`
	// BFD runs a single-hop BFD session (RFC 5881) beside the BGP one:
	// the router drops the director's routes when BFDMultiplier packets
	// in a row, sent every BFDInterval, are missed.
	BFD           bool     `json:"bfd,omitempty"`
	BFDInterval   Duration `json:"bfd_interval,omitempty"`
	BFDMultiplier int      `json:"bfd_multiplier,omitempty"`
}

type rawBGP struct {
	ASN          *int       `hcl:"asn,optional"`
	RouterID     *string    `hcl:"router_id,optional"`
	HoldTime     *string    `hcl:"hold_time,optional"`
	ListenPort   *int       `hcl:"listen_port,optional"`
	VIPInterface *string    `hcl:"vip_interface,optional"`
	DrainTime    *string    `hcl:"drain_time,optional"`
	Peers        []*rawPeer `hcl:"peer,block"`
	Body         hcl.Body   `hcl:",body"`
	DefRange     hcl.Range  `hcl:",def_range"`
}

type rawPeer struct {
	Address   string    `hcl:"address,label"`
	ASN       *int      `hcl:"asn,optional"`
	Port      *int      `hcl:"port,optional"`
	Password  *string   `hcl:"password,optional"`
	Multihop  *int      `hcl:"multihop,optional"`
	BFD       *bool     `hcl:"bfd,optional"`
	BFDInt    *string   `hcl:"bfd_interval,optional"`
	BFDMult   *int      `hcl:"bfd_multiplier,optional"`
	Body      hcl.Body  `hcl:",body"`
	DefRange  hcl.Range `hcl:",def_range"`
	NameRange hcl.Range `hcl:"address,label_range"`
}

// maxASN is the largest four-octet AS number (RFC 6793); 0 and 23456
// (AS_TRANS) are not an AS a speaker may use.
const maxASN = 1<<32 - 1

func (r *resolver) bgp(rb *rawBGP, d Director) *BGP {
	if rb == nil {
		return nil
	}
	b := r.block(rb.Body, rb.DefRange)
	g := &BGP{HoldTime: Duration(DefaultBGPHoldTime), ListenPort: DefaultBGPListenPort, VIPInterface: "lo", DrainTime: Duration(DefaultBGPDrainTime)}
	if b.required("asn", rb.ASN != nil) {
		g.ASN = asn(b, "asn", *rb.ASN)
	}
	// The router ID is an IPv4 address (RFC 6286 relaxes it to any
	// four octets, written the same way); director.router_id serves when
	// it is one.
	rid, _ := netip.ParseAddr(d.RouterID)
	if rb.RouterID != nil {
		rid, _ = b.addr("router_id", *rb.RouterID, b.where("router_id"))
	}
	switch {
	case rid.Is4() && !rid.IsUnspecified():
		g.RouterID = rid
	case rb.RouterID != nil:
		b.errorf("router_id", "router_id must be an IPv4 address, not %s", *rb.RouterID)
	default:
		b.errorf("router_id", "missing router_id: director.router_id (%q) is not an IPv4 address, and BGP needs one", d.RouterID)
	}
	g.HoldTime = Duration(b.duration("hold_time", rb.HoldTime, DefaultBGPHoldTime))
	// RFC 4271 allows 0 (no keepalives), but GoBGP takes 0 as "its
	// default", 90 s: refused rather than silently changed.
	if h := g.HoldTime.D(); h < 3*time.Second || h%time.Second != 0 || h > 65535*time.Second {
		b.errorf("hold_time", "hold_time must be whole seconds from 3s to 65535s, not %s", h)
	}
	g.ListenPort = b.intIn("listen_port", rb.ListenPort, DefaultBGPListenPort, 0, 65535)
	if rb.VIPInterface != nil {
		g.VIPInterface = b.ifname("vip_interface", *rb.VIPInterface)
	}
	g.DrainTime = Duration(b.duration("drain_time", rb.DrainTime, DefaultBGPDrainTime))
	seen := map[netip.Addr]bool{}
	for _, rp := range rb.Peers {
		p, ok := r.bgpPeer(rp)
		if !ok {
			continue
		}
		if seen[p.Address] {
			r.errAt(rp.NameRange, "peer %s is declared twice", p.Address)
			continue
		}
		seen[p.Address] = true
		g.Peers = append(g.Peers, p)
	}
	if len(rb.Peers) == 0 {
		r.errAt(rb.DefRange, "a bgp block needs at least one peer \"ADDRESS\" { asn = … }")
	}
	return g
}

func (r *resolver) bgpPeer(rp *rawPeer) (BGPPeer, bool) {
	b := r.block(rp.Body, rp.DefRange)
	a, err := netip.ParseAddr(rp.Address)
	if err != nil {
		r.errAt(rp.NameRange, "peer %q is not an IP address", rp.Address)
		return BGPPeer{}, false
	}
	p := BGPPeer{Address: a.Unmap(), Port: DefaultBGPPort}
	if b.required("asn", rp.ASN != nil) {
		p.ASN = asn(b, "asn", *rp.ASN)
	}
	p.Port = uint16(b.intIn("port", rp.Port, DefaultBGPPort, 1, 65535))
	if rp.Password != nil {
		p.Password = *rp.Password
	}
	p.Multihop = uint8(b.intIn("multihop", rp.Multihop, 0, 0, 255))
	p.BFD = deref(rp.BFD, false)
	if !p.BFD {
		if rp.BFDInt != nil {
			b.errorf("bfd_interval", "bfd_interval needs bfd = true")
		}
		if rp.BFDMult != nil {
			b.errorf("bfd_multiplier", "bfd_multiplier needs bfd = true")
		}
		return p, true
	}
	if p.Multihop > 0 {
		b.errorf("bfd", "bfd needs a directly connected peer (multihop = 0): GoBGP runs single-hop BFD (RFC 5881) only, and a session to a router further away would never come up")
	}
	// BFD intervals are whole microseconds on the wire; under 10 ms a
	// Go speaker's timers would be its own false alarms.
	iv := b.duration("bfd_interval", rp.BFDInt, DefaultBFDInterval)
	if iv < 10*time.Millisecond || iv > time.Minute {
		b.errorf("bfd_interval", "bfd_interval must be from 10ms to 1m, not %s", iv)
	}
	p.BFDInterval = Duration(iv.Truncate(time.Microsecond))
	p.BFDMultiplier = b.intIn("bfd_multiplier", rp.BFDMult, DefaultBFDMultiplier, 1, 255)
	return p, true
}

func asn(b blk, name string, v int) uint32 {
	if v < 1 || v > maxASN || v == 23456 {
		b.errorf(name, "%s must be an AS number from 1 to %d (not 23456, AS_TRANS), not %d", name, maxASN, v)
		return 0
	}
	return uint32(v)
}

// Announcement is what announce, communities and med say, on a
// virtual_server or a vrrp_instance.
type Announcement struct {
	// Announce is "bgp" when the address is announced to the bgp block's
	// peers; Communities (RFC 1997, as 32-bit values) and MED go with it.
	Announce    string   `json:"announce,omitempty"`
	Communities []uint32 `json:"communities,omitempty"`
	MED         *uint32  `json:"med,omitempty"`
}

// announce reads a virtual server's announce, communities and med.
func (r *resolver) announce(b blk, rv *rawVirtualServer, vs *VirtualServer) {
	vs.Announcement = r.announcement(b, rv.Announce, rv.Communities, rv.MED)
	if vs.Announce != "" && vs.FWMark != 0 {
		b.errorf("announce", "a fwmark virtual server has no address to announce: announce the addresses its mark selects in an address virtual server, or not at all")
	}
}

func (r *resolver) announcement(b blk, announce *string, communities *[]string, med *int) Announcement {
	var a Announcement
	if announce == nil {
		if communities != nil || med != nil {
			b.errorf("communities", "communities and med need announce = \"bgp\"")
		}
		return a
	}
	if *announce != AnnounceBGP {
		b.errorf("announce", "announce must be \"bgp\", not %q", *announce)
		return a
	}
	a.Announce = AnnounceBGP
	if communities != nil {
		for i, c := range *communities {
			v, err := ParseCommunity(c)
			if err != nil {
				r.errAt(b.elem("communities", i), "communities: %v", err)
				continue
			}
			a.Communities = append(a.Communities, v)
		}
	}
	if med != nil {
		if *med < 0 || *med > maxASN {
			b.errorf("med", "med must be from 0 to %d, not %d", maxASN, *med)
		} else {
			m := uint32(*med)
			a.MED = &m
		}
	}
	return a
}

// ParseCommunity reads an RFC 1997 community, "ASN:VALUE" with two
// 16-bit numbers, or one of its well-known names.
func ParseCommunity(s string) (uint32, error) {
	switch strings.ToLower(s) {
	case "no-export":
		return 0xFFFFFF01, nil
	case "no-advertise":
		return 0xFFFFFF02, nil
	case "no-export-subconfed", "local-as":
		return 0xFFFFFF03, nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(hi, 10, 16)
	v, err2 := strconv.ParseUint(lo, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not a community (ASN:VALUE, each 0 to 65535, or no-export, no-advertise, local-as)", s)
	}
	return uint32(a)<<16 | uint32(v), nil
}

// crossBGP checks what involves the bgp block and the virtual servers
// together: announce needs the block and a peer of the address's family
// (GoBGP's next hop self is the session's own address), virtual servers
// that share an address announce it with the same attributes; an address
// a vrrp_instance holds is announced only by its master.
func (r *resolver) crossBGP(raws []*rawVirtualServer, rawIns []*rawInstance, cfg *Config) {
	// Who announced each address first, and with what: one route has one
	// set of attributes.
	type first struct {
		who string
		a   Announcement
	}
	firsts := map[netip.Addr]first{}
	check := func(b blk, who string, addr netip.Addr, a Announcement) {
		if !slices.ContainsFunc(cfg.BGP.Peers, func(p BGPPeer) bool { return p.Address.Is4() == addr.Is4() }) {
			b.errorf("announce", "no %s peer in the bgp block to announce %s to", map[bool]string{true: "IPv4", false: "IPv6"}[addr.Is4()], addr)
		}
		f, ok := firsts[addr]
		if !ok {
			firsts[addr] = first{who, a}
			return
		}
		if fmt.Sprint(sorted(f.a.Communities), derefOr(f.a.MED)) != fmt.Sprint(sorted(a.Communities), derefOr(a.MED)) {
			b.errorf("announce", "%s announces %s too, with other communities or med: one route has one set", f.who, addr)
		}
	}
	const noBlock = "announce = \"bgp\" needs a bgp { asn = …, peer \"ADDRESS\" { … } } block"
	byService := map[netip.Addr]bool{}
	for _, vs := range cfg.VirtualServers {
		if vs.Announce == AnnounceBGP && vs.FWMark == 0 {
			byService[vs.Address] = true
		}
	}
	vrrpVIPs := map[netip.Addr]string{}
	for k := range cfg.Instances {
		in := &cfg.Instances[k]
		b := r.block(rawIns[k].Body, rawIns[k].DefRange)
		if in.Announce == AnnounceBGP && cfg.BGP == nil {
			b.errorf("announce", noBlock)
		}
		for _, v := range in.VirtualIPs {
			a := v.Prefix.Addr()
			vrrpVIPs[a] = in.Name
			if in.Announce != AnnounceBGP || cfg.BGP == nil || a.IsLinkLocalUnicast() {
				continue
			}
			check(b, fmt.Sprintf("vrrp_instance %q", in.Name), a, in.Announcement)
			if !byService[a] {
				in.Announced = append(in.Announced, a)
			}
		}
	}
	sloppyWarned := map[string]bool{}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		if vs.Announce != AnnounceBGP || vs.FWMark != 0 {
			continue // a fwmark one was refused already
		}
		b := r.block(raws[i].Body, raws[i].DefRange)
		if cfg.BGP == nil {
			b.errorf("announce", noBlock)
			continue
		}
		vs.AnnounceInstance = vrrpVIPs[vs.Address]
		if vs.AnnounceInstance == "" {
			r.ecmpWarnings(b, raws[i], vs, cfg, sloppyWarned)
		}
		check(b, fmt.Sprintf("virtual_server %q", vs.Name), vs.Address, vs.Announcement)
	}
}

// ecmpWarnings: an address every director announces is spread over them
// by the routers' ECMP, and a flow moves to another director when one
// is lost or added; it keeps its real server only if every director picks
// it the same way and takes it mid-stream. sloppy records, by protocol,
// whether the sloppy_* warning was given already (one setting for all).
func (r *resolver) ecmpWarnings(b blk, raw *rawVirtualServer, vs *VirtualServer, cfg *Config, sloppy map[string]bool) {
	if vs.Scheduler != "mh" && vs.Scheduler != "sh" {
		b.warnf("scheduler", `announced with ECMP, scheduler %q picks reals differently on each director: a flow that moves to another director reaches another real and is reset (use scheduler = "mh" with scheduler_flags = ["mh-port"])`, vs.Scheduler)
	}
	sysctl := map[string]*bool{"tcp": cfg.IPVS.Sysctl.SloppyTCP, "sctp": cfg.IPVS.Sysctl.SloppySCTP}
	if v, ok := sysctl[vs.Protocol]; ok && (v == nil || !*v) && !sloppy[vs.Protocol] {
		sloppy[vs.Protocol] = true
		b.warnf("announce", "announced with ECMP, but ipvs { sysctl { sloppy_%s = true } } is not set: a director that receives a flow mid-stream resets it", vs.Protocol)
	}
	if vs.PersistenceTimeout > 0 {
		b.warnf("persistence_timeout", "announced with ECMP, persistence_timeout keeps a client on its real through one director's templates only, and the routers spread its flows over every director (mh without mh-port hashes the client's address the same on all)")
	}
	if vs.OnFailure == OnFailureRemove && (vs.Scheduler == "mh" || vs.Scheduler == "sh") {
		b.warnf("on_failure", `announced with ECMP, on_failure = "remove" puts a recovered real back in another place in the kernel's list of reals, and %s fills its table in that order: directors that saw different failures would pick different reals (the default, weight 0, keeps the order)`, vs.Scheduler)
	}
	var weighted []string
	for _, rs := range vs.RealServers {
		if dynamicWeight(rs) {
			weighted = append(weighted, rs.Address.String())
		}
	}
	if len(weighted) > 0 {
		b.warnf("announce", "announced with ECMP, but exec checks with dynamic_weight set the weights of %s: each director sets them from its own checks, and directors with different weights pick different reals", strings.Join(weighted, ", "))
	}
	for k, rs := range vs.RealServers {
		if rs.Forwarding != ForwardNAT {
			continue
		}
		// Reals inherit the service's forwarding: the warning goes where
		// NAT is written.
		at := b
		if k < len(raw.RealServers) && raw.RealServers[k].Forwarding != nil {
			at = r.block(raw.RealServers[k].Body, raw.RealServers[k].DefRange)
		}
		at.warnf("forwarding", "announced with ECMP, real %s is behind NAT: its replies go back through its gateway, not through the director that forwarded the request, so ECMP over several directors breaks its connections (use dr or tun)", rs.Address)
	}
}

func dynamicWeight(rs RealServer) bool {
	return slices.ContainsFunc(rs.HealthChecks, func(h *HealthCheck) bool { return h.DynamicWeight })
}

func sorted(cs []uint32) []uint32 { return slices.Sorted(slices.Values(cs)) }

func derefOr(p *uint32) any {
	if p == nil {
		return "none"
	}
	return *p
}
