package lab

import (
	"fmt"
	"strings"
	"time"
)

// Sync modes of connection synchronisation, as the configs below write
// them.
const (
	SyncOff    = "off"
	SyncBoth   = "both"   // master and backup daemons on both directors
	SyncFollow = "follow" // the daemon of the VRRP role, keepalived's way
)

// EchoService is the long-lived connection scenario: the echo service on
// the real servers behind the VIP, in DR or NAT, optionally persistent,
// with connection sync in one of the modes.
type EchoService struct {
	NAT         bool
	Persistence time.Duration
	Sync        string
	// PreemptDelay is the VRRP instances' preempt_delay.
	PreemptDelay time.Duration
}

// VIP is the service's address in the layout.
func (e EchoService) VIP() string {
	if e.NAT {
		return NATVIP.String()
	}
	return VIP.String()
}

// syncIface is where the sync daemons multicast: the LAN for DR, the
// inside network for NAT.
func (e EchoService) syncIface() string {
	if e.NAT {
		return "eth1"
	}
	return "eth0"
}

// EchoDirectordConfig renders a director's HCL for the scenario.
func EchoDirectordConfig(name string, priority int, socket string, s Settings, e EchoService, reals []RealSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "director {\n  router_id = %q\n  status_socket = %q\n  log_format = \"json\"\n}\n", name, socket)
	instance := func(n, ifname string, vrid int, vip string) {
		fmt.Fprintf(&b, `vrrp_instance %q {
  interface         = %q
  virtual_router_id = %d
  priority          = %d
  advert_interval   = %q
  preempt_delay     = %q
  virtual_ips       = ["%s/24"]
}
`, n, ifname, vrid, priority, s.Advert, e.PreemptDelay, vip)
	}
	instance("web", "eth0", 51, e.VIP())
	if e.NAT {
		instance("gateway", "eth1", 52, NATGateway.String())
		b.WriteString("vrrp_sync_group \"nat\" {\n  instances = [\"web\", \"gateway\"]\n}\n")
	}
	fwd := "dr"
	if e.NAT {
		fwd = "nat"
	}
	fmt.Fprintf(&b, `virtual_server "echo" {
  address    = %q
  port       = %d
  scheduler  = "wrr"
  forwarding = %q
`, e.VIP(), EchoPort, fwd)
	if e.Persistence > 0 {
		fmt.Fprintf(&b, "  persistence_timeout = %q\n", e.Persistence)
	}
	fmt.Fprintf(&b, "  health_check \"tcp\" {\n    interval = %q\n    timeout = %q\n    rise = %d\n    fall = %d\n  }\n",
		s.CheckInterval, s.CheckTimeout, s.Rise, s.Fall)
	for _, r := range reals {
		fmt.Fprintf(&b, "  real_server %q {\n    weight = %d\n  }\n", r.Addr, r.Weight)
	}
	b.WriteString("}\n")
	switch e.Sync {
	case SyncBoth:
		fmt.Fprintf(&b, "ipvs {\n  sync_daemon {\n    interface = %q\n    sync_id = 51\n  }\n}\n", e.syncIface())
	case SyncFollow:
		fmt.Fprintf(&b, "ipvs {\n  sync_daemon {\n    interface = %q\n    vrrp_instance = \"web\"\n  }\n}\n", e.syncIface())
	}
	return b.String()
}

// EchoKeepalivedConfig renders the same director for keepalived; with
// sync on it is keepalived's lvs_sync_daemon following the instance.
func EchoKeepalivedConfig(name string, priority int, s Settings, e EchoService, reals []RealSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n", name)
	if e.Sync != SyncOff && e.Sync != "" {
		fmt.Fprintf(&b, "  lvs_sync_daemon %s web id 51\n", e.syncIface())
	}
	b.WriteString("}\n")
	instance := func(n, ifname string, vrid int, vip string) {
		fmt.Fprintf(&b, `vrrp_instance %s {
  state BACKUP
  interface %s
  virtual_router_id %d
  priority %d
  version 3
  advert_int %g
  preempt_delay %g
  virtual_ipaddress {
    %s/24
  }
}
`, n, ifname, vrid, priority, s.Advert.Seconds(), e.PreemptDelay.Seconds(), vip)
	}
	instance("web", "eth0", 51, e.VIP())
	if e.NAT {
		instance("gateway", "eth1", 52, NATGateway.String())
		b.WriteString("vrrp_sync_group nat {\n  group {\n    web\n    gateway\n  }\n}\n")
	}
	kind := "DR"
	if e.NAT {
		kind = "NAT"
	}
	fmt.Fprintf(&b, "virtual_server %s %d {\n  delay_loop %g\n  lb_algo wrr\n  lb_kind %s\n  protocol TCP\n",
		e.VIP(), EchoPort, s.CheckInterval.Seconds(), kind)
	if e.Persistence > 0 {
		fmt.Fprintf(&b, "  persistence_timeout %d\n", int(e.Persistence.Seconds()))
	}
	for _, r := range reals {
		fmt.Fprintf(&b, `  real_server %s %d {
    weight %d
    TCP_CHECK {
      connect_timeout %g
      retry %d
      delay_before_retry %g
    }
  }
`, r.Addr, EchoPort, r.Weight, s.CheckTimeout.Seconds(), s.Fall-1, s.CheckInterval.Seconds())
	}
	b.WriteString("}\n")
	return b.String()
}
