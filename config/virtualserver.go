package config

import (
	"directord/internal/proc"
	"encoding/hex"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Virtual-server and health-check defaults. Scheduler and forwarding follow
// ipvsadm (wlc, direct routing); the check timings follow HAProxy's well
// known rise 2 / fall 3, since keepalived's 60 s delay_loop is too slow to
// be a useful default.
const (
	DefaultScheduler     = "wlc"
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckTimeout  = time.Second
	DefaultCheckRise     = 2
	DefaultCheckFall     = 3
)

// Schedulers lists the IPVS schedulers directord accepts, each the suffix
// of a kernel module ip_vs_NAME.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// SchedulerFlags lists the accepted scheduler_flags.
var SchedulerFlags = []string{"sh-port", "sh-fallback", "mh-port", "mh-fallback", "one-packet"}

func (r *resolver) virtualServer(rv *rawVirtualServer) VirtualServer {
	vs, b := r.service(rv)
	reals := r.reals(&vs, len(rv.RealServers))
	for _, rr := range rv.RealServers {
		reals.add(rr)
	}
	reals.done(b)
	return vs
}

// service resolves a virtual server but for its reals.
func (r *resolver) service(rv *rawVirtualServer) (VirtualServer, blk) {
	b := r.decoded(rv.Body, rv.attrs, rv.DefRange)
	vs := VirtualServer{Name: rv.Name, SchedulerFlags: []string{}, RealServers: []RealServer{}}
	if rv.Name == "" {
		r.errAt(rv.NameRange, "a virtual_server needs a non-empty name")
	}
	r.serviceIdentity(b, rv, &vs)
	vs.Scheduler = b.enum("scheduler", rv.Scheduler, DefaultScheduler, Schedulers...)
	r.schedulerFlags(b, rv, &vs)
	vs.Forwarding = b.enum("forwarding", rv.Forwarding, ForwardDR, ForwardDR, ForwardNAT, ForwardTUN)
	vs.PersistenceTimeout = Duration(b.seconds("persistence_timeout", rv.PersistenceTimeout, 0))
	if rv.PersistenceNetmask != nil {
		if vs.PersistenceTimeout == 0 {
			b.errorf("persistence_netmask", "persistence_netmask needs persistence_timeout")
		}
		vs.PersistenceNetmask = r.netmask(b, *rv.PersistenceNetmask, vs.IsIPv6())
	}
	vs.OnFailure = b.enum("on_failure", rv.OnFailure, OnFailureWeightZero, OnFailureWeightZero, OnFailureRemove)
	vs.Quorum = b.intIn("quorum", rv.Quorum, 1, 1, 1<<30)
	vs.QuorumUp, vs.QuorumDown = b.argv("quorum_up", rv.QuorumUp), b.argv("quorum_down", rv.QuorumDown)
	vs.Hysteresis = b.intIn("hysteresis", rv.Hysteresis, 0, 0, 1<<30)
	if vs.Hysteresis >= vs.Quorum {
		b.errorf("hysteresis", "hysteresis (%d) must be less than quorum (%d), or quorum could never be lost", vs.Hysteresis, vs.Quorum)
	}
	r.sorryServer(b, rv, &vs)
	r.announce(b, rv, &vs)

	vs.HealthChecks = r.healthChecks(rv.HealthChecks)
	vs.HealthCheck = firstCheck(vs.HealthChecks)
	return vs, b
}

// realsOf resolves a virtual server's reals one by one (streamFile
// gives them as it parses them) and refuses one declared twice.
type realsOf struct {
	r    *resolver
	vs   *VirtualServer
	seen map[realKey]bool
}

type realKey struct {
	a netip.Addr
	p uint16
}

func (r *resolver) reals(vs *VirtualServer, n int) *realsOf {
	vs.RealServers = make([]RealServer, 0, n)
	return &realsOf{r: r, vs: vs, seen: make(map[realKey]bool, n)}
}

func (rs *realsOf) add(rr *rawRealServer) {
	s, ok := rs.r.realServer(rr, rs.vs)
	if !ok {
		return
	}
	k := realKey{s.Address, s.Port}
	if rs.seen[k] {
		rs.r.errAt(rr.AddressRange, "real server %s is declared twice in virtual_server %q", s.Endpoint(), rs.vs.Name)
		return
	}
	rs.seen[k] = true
	rs.vs.RealServers = append(rs.vs.RealServers, s)
}

// done checks what needs every real: b is the virtual server's block.
func (rs *realsOf) done(b blk) {
	if sorry := rs.vs.SorryServer; sorry.IsValid() && rs.seen[realKey{sorry.Addr(), sorry.Port()}] {
		b.errorf("sorry_server", "sorry_server %s is also a real server of this service", sorry)
	}
}

// serviceIdentity resolves address+port+protocol, or fwmark+family.
func (r *resolver) serviceIdentity(b blk, rv *rawVirtualServer, vs *VirtualServer) {
	if rv.FWMark != nil {
		if rv.Address != nil || rv.Port != nil || rv.Protocol != nil {
			r.errAt(b.where("fwmark"), "a virtual_server is either address + port + protocol or fwmark, not both")
		}
		vs.FWMark = uint32(b.intIn("fwmark", rv.FWMark, 0, 1, 1<<32-1))
		vs.Family = b.enum("family", rv.Family, FamilyInet, FamilyInet, FamilyInet6)
		return
	}
	if b.required("address", rv.Address != nil) {
		vs.Address, _ = b.addr("address", *rv.Address, b.where("address"))
	}
	if b.required("port", rv.Port != nil) {
		vs.Port = b.port("port", rv.Port)
	}
	vs.Protocol = b.enum("protocol", rv.Protocol, ProtoTCP, ProtoTCP, ProtoUDP, ProtoSCTP)
	vs.Family = FamilyInet
	if vs.Address.Is6() {
		vs.Family = FamilyInet6
	}
	if rv.Family != nil && *rv.Family != vs.Family {
		b.errorf("family", "family %q does not match address %s", *rv.Family, vs.Address)
	}
}

func (r *resolver) schedulerFlags(b blk, rv *rawVirtualServer, vs *VirtualServer) {
	if rv.SchedulerFlags == nil {
		return
	}
	for i, f := range *rv.SchedulerFlags {
		rng := b.elem("scheduler_flags", i)
		switch {
		case !slices.Contains(SchedulerFlags, f):
			r.errAt(rng, "unknown scheduler flag %q (known: %s)", f, strings.Join(SchedulerFlags, ", "))
		case strings.HasPrefix(f, "sh-") && vs.Scheduler != "sh", strings.HasPrefix(f, "mh-") && vs.Scheduler != "mh":
			r.errAt(rng, "scheduler flag %q needs scheduler = %q", f, f[:2])
		case f == "one-packet" && vs.FWMark == 0 && vs.Protocol != ProtoUDP:
			r.errAt(rng, "scheduler flag \"one-packet\" applies to udp or fwmark services only")
		case slices.Contains(vs.SchedulerFlags, f):
			r.errAt(rng, "scheduler flag %q is listed twice", f)
		default:
			vs.SchedulerFlags = append(vs.SchedulerFlags, f)
		}
	}
}

// netmask accepts a dotted IPv4 mask ("255.255.255.0", as ipvsadm -M and
// keepalived take it) or a prefix length.
func (r *resolver) netmask(b blk, s string, v6 bool) int {
	maxBits := 32
	if v6 {
		maxBits = 128
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(s, "/")); err == nil {
		if n < 1 || n > maxBits {
			b.errorf("persistence_netmask", "persistence_netmask must be a prefix length from 1 to %d", maxBits)
			return 0
		}
		return n
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() && !v6 {
		v := uint32(a.As4()[0])<<24 | uint32(a.As4()[1])<<16 | uint32(a.As4()[2])<<8 | uint32(a.As4()[3])
		ones := 0
		for ones < 32 && v&(1<<(31-ones)) != 0 {
			ones++
		}
		if ones > 0 && (ones == 32 || v<<ones == 0) {
			return ones
		}
	}
	b.errorf("persistence_netmask", "persistence_netmask %q is not a contiguous netmask or prefix length", s)
	return 0
}

func (r *resolver) realServer(rr *rawRealServer, vs *VirtualServer) (RealServer, bool) {
	b := r.block(rr.Body, rr.DefRange)
	rs := RealServer{Port: vs.Port}
	a, err := netip.ParseAddr(rr.Address)
	if err != nil || a.Zone() != "" {
		r.errAt(rr.AddressRange, "real_server %q is not an IP address", rr.Address)
		return rs, false
	}
	rs.Address = a.Unmap()
	if rs.Address.Is6() != vs.IsIPv6() {
		r.errAt(rr.AddressRange, "real server %s is not in the service's address family (%s)", rs.Address, vs.Family)
	}
	if rr.Port != nil {
		rs.Port = b.port("port", rr.Port)
	}
	rs.Weight = b.intIn("weight", rr.Weight, 1, 0, 65535)
	rs.Forwarding = b.enum("forwarding", rr.Forwarding, vs.Forwarding, ForwardDR, ForwardNAT, ForwardTUN)
	if vs.FWMark == 0 && rs.Forwarding != ForwardNAT && rs.Port != vs.Port {
		b.errorf("port", "with %s forwarding a real server's port must be the service's (%d): the kernel cannot rewrite it", rs.Forwarding, vs.Port)
	}
	rs.UpperThreshold = b.intIn("upper_threshold", rr.UpperThreshold, 0, 0, 1<<31-1)
	rs.LowerThreshold = b.intIn("lower_threshold", rr.LowerThreshold, 0, 0, 1<<31-1)
	rs.NotifyUp, rs.NotifyDown = b.argv("notify_up", rr.NotifyUp), b.argv("notify_down", rr.NotifyDown)
	if rs.UpperThreshold > 0 && rs.LowerThreshold > rs.UpperThreshold {
		b.errorf("lower_threshold", "lower_threshold (%d) must not exceed upper_threshold (%d)", rs.LowerThreshold, rs.UpperThreshold)
	}
	// The real's own checks replace all of the service's.
	rs.HealthChecks = vs.HealthChecks
	own := len(rr.HealthChecks) > 0
	if own {
		rs.HealthChecks = r.healthChecks(rr.HealthChecks)
	}
	rs.HealthCheck = firstCheck(rs.HealthChecks)
	for i, hc := range rs.HealthChecks {
		if hc == nil {
			continue
		}
		// A service's checks are reported at the real they fail for.
		rng, vipRng := rr.DefRange, rr.DefRange
		if own {
			rng = rr.HealthChecks[i].DefRange
			vipRng = r.decoded(rr.HealthChecks[i].Body, rr.HealthChecks[i].attrs, rng).where("through_vip")
		}
		if rs.Port == 0 && hc.ConnectPort == 0 && !portless(hc.Type) {
			r.errAt(rng, "real server %s has no port (fwmark service), so its %s check needs connect_port", rs.Address, hc.Type)
		}
		if hc.ThroughVIP {
			r.throughVIPReal(vs, &rs, vipRng)
		}
	}
	return rs, true
}

func (r *resolver) healthCheck(rh *rawHealthCheck) *HealthCheck {
	b := r.decoded(rh.Body, rh.attrs, rh.DefRange)
	allowed, ok := fieldsFor[rh.Type]
	if !ok {
		r.errAt(rh.TypeRange, "unknown health_check type %q (expected %s)", rh.Type, checkTypeList())
		return nil
	}
	for _, name := range typeSpecific() {
		if b.attr(name) != nil && !slices.Contains(allowed, name) {
			b.errorf(name, "%s does not apply to a %q check", name, rh.Type)
		}
	}
	hc := &HealthCheck{Type: rh.Type}
	hc.Interval = Duration(b.duration("interval", rh.Interval, DefaultCheckInterval))
	if hc.Interval < Duration(10*time.Millisecond) {
		b.errorf("interval", "interval must be at least 10ms")
	}
	hc.Timeout = Duration(b.duration("timeout", rh.Timeout, min(DefaultCheckTimeout, hc.Interval.D()/2)))
	// keepalived's connect_timeout may equal its delay_loop: a probe
	// then ends by the time the next is due, and never overlaps it.
	if hc.Timeout <= 0 || hc.Timeout > hc.Interval {
		b.errorf("timeout", "timeout (%s) must be positive and at most interval (%s)", hc.Timeout, hc.Interval)
	} else if rh.Type == CheckExec && hc.Timeout.D() > proc.MaxTimeout {
		b.errorf("timeout", "an exec check's timeout must be at most %s", proc.MaxTimeout)
	}
	hc.Rise = b.intIn("rise", rh.Rise, DefaultCheckRise, 1, 1000)
	hc.Fall = b.intIn("fall", rh.Fall, DefaultCheckFall, 1, 1000)
	hc.RetryDelay = Duration(b.duration("retry_delay", rh.RetryDelay, hc.Interval.D()))
	// Shorter than the timeout is keepalived's default (delay_before_retry
	// 1s, connect_timeout 5s): counted from the failed probe's start, it
	// means the retry goes as soon as the failure is known.
	if hc.RetryDelay <= 0 {
		b.errorf("retry_delay", "retry_delay must be positive")
	}
	hc.InitialUp = b.enum("initial", rh.Initial, "up", "up", "down") == "up"
	hc.ThroughVIP = deref(rh.ThroughVIP, false)
	if hc.ThroughVIP && portless(rh.Type) {
		b.errorf("through_vip", "an %s check cannot go through the VIP: it has no socket to mark (tcp, http, https, udp, smtp and dns can)", rh.Type)
	}
	if hc.ThroughVIP && rh.ConnectAddress != nil {
		b.errorf("connect_address", "connect_address contradicts through_vip, which connects to the virtual server's address")
	}
	hc.ConnectAddress = b.optAddr("connect_address", rh.ConnectAddress)
	hc.ConnectPort = b.port("connect_port", rh.ConnectPort)
	hc.BindAddress = b.optAddr("bind_address", rh.BindAddress)
	if hc.BindAddress.IsValid() && hc.ConnectAddress.IsValid() && hc.BindAddress.Is4() != hc.ConnectAddress.Is4() {
		b.errorf("bind_address", "bind_address %s and connect_address %s are of different families", hc.BindAddress, hc.ConnectAddress)
	}
	switch rh.Type {
	case CheckHTTP, CheckHTTPS:
		r.httpFields(b, rh, hc)
	case CheckUDP:
		r.udpFields(b, rh, hc)
	case CheckSMTP:
		r.smtpFields(b, rh, hc)
	case CheckDNS:
		r.dnsFields(b, rh, hc)
	case CheckICMP:
		r.icmpFields(b, rh, hc)
	case CheckExec:
		if b.required("command", rh.Command != nil) {
			hc.Command = b.argv("command", rh.Command)
		}
		hc.DynamicWeight = deref(rh.DynamicWeight, false)
	}
	return hc
}

func (r *resolver) httpFields(b blk, rh *rawHealthCheck, hc *HealthCheck) {
	hc.Path = deref(rh.Path, "/")
	if !strings.HasPrefix(hc.Path, "/") {
		b.errorf("path", "path must start with \"/\"")
	}
	hc.Method = b.enum("method", rh.Method, "GET", "GET", "HEAD")
	hc.Host = deref(rh.Host, "")
	hc.Status = []StatusRange{{200, 299}}
	if rh.Status != nil {
		hc.Status = nil
		if len(*rh.Status) == 0 {
			b.errorf("status", "status must list at least one code or range")
		}
		for i, s := range *rh.Status {
			sr, ok := parseStatus(s)
			if !ok {
				r.errAt(b.elem("status", i), "status %q is not an HTTP status code (100-599) or range like \"200-299\"", s)
				continue
			}
			hc.Status = append(hc.Status, sr)
		}
	}
	if rh.BodyRegex != nil {
		if _, err := regexp.Compile(*rh.BodyRegex); err != nil {
			b.errorf("body_regex", "body_regex does not compile: %v", err)
		}
		hc.BodyRegex = *rh.BodyRegex
	}
	if rh.BodyDigest != nil {
		d := strings.ToLower(strings.TrimSpace(*rh.BodyDigest))
		if _, err := hex.DecodeString(d); err != nil || (len(d) != 32 && len(d) != 64) {
			b.errorf("body_digest", "body_digest must be a hex MD5 (32 digits) or SHA-256 (64 digits)")
		}
		hc.BodyDigest = d
	}
	if hc.Method == "HEAD" && (rh.BodyRegex != nil || rh.BodyDigest != nil) {
		b.errorf("method", "a HEAD response has no body for body_regex or body_digest to check")
	}
	hc.TLSServerName = deref(rh.TLSServerName, "")
	hc.CAFile = deref(rh.CAFile, "")
	hc.InsecureSkipVerify = deref(rh.InsecureSkipVerify, false)
	if hc.InsecureSkipVerify && hc.CAFile != "" {
		b.errorf("insecure_skip_verify", "insecure_skip_verify and ca_file contradict each other")
	}
}

func parseStatus(s string) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return StatusRange{}, false
	}
	z := a
	if isRange {
		if z, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
			return StatusRange{}, false
		}
	}
	if a < 100 || z > 599 || a > z {
		return StatusRange{}, false
	}
	return StatusRange{a, z}, true
}

// crossVirtualServers rejects two blocks with one name or one kernel key.
func (r *resolver) crossVirtualServers(raw []*rawVirtualServer, vss []VirtualServer) {
	names := map[string]bool{}
	keys := map[string]string{}
	for i := range vss {
		vs, rv := &vss[i], raw[i]
		if names[vs.Name] {
			r.errAt(rv.NameRange, "virtual_server %q is declared twice", vs.Name)
		}
		names[vs.Name] = true
		if vs.FWMark == 0 && (!vs.Address.IsValid() || vs.Port == 0) {
			continue
		}
		k := vs.Key()
		if other, ok := keys[k]; ok {
			r.errAt(rv.DefRange, "virtual_server %q is the same service (%s) as virtual_server %q", vs.Name, k, other)
		} else {
			keys[k] = vs.Name
		}
	}
}
