package lab

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Settings are the protocol timings of a lab's directors.
type Settings struct {
	Advert        time.Duration // VRRP advert interval
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	Rise, Fall    int
	// ExpireNodestConn sets net.ipv4.vs.expire_nodest_conn: a new
	// connection from a client port whose last connection went to a
	// real now at weight 0 is scheduled afresh instead of going to that
	// real (in DR the director never sees the real's FIN, so the old
	// entry lingers for two minutes).
	ExpireNodestConn bool
}

// DefaultSettings are quick enough to watch, slow enough to follow.
var DefaultSettings = Settings{
	Advert:        100 * time.Millisecond,
	CheckInterval: 200 * time.Millisecond,
	CheckTimeout:  100 * time.Millisecond,
	Rise:          2,
	Fall:          2,
}

// LabSettings are the lab command's: DefaultSettings with a 180 ms check
// timeout. A CI run saw all three checks of a freshly restarted director
// time out at once at 100 ms in the one-CPU guest (quorum lost, every
// request refused for a moment) although every real was healthy.
var LabSettings = DefaultSettings.checks(200*time.Millisecond, 180*time.Millisecond)

// DualStackSettings check less often: twice the checks (one per family
// and real) at DefaultSettings' pace kept the one-CPU guest so busy that
// 100 ms check timeouts fired on healthy reals.
var DualStackSettings = DefaultSettings.checks(300*time.Millisecond, 250*time.Millisecond)

// checks is s with another check interval and timeout: the variants
// differ only there, and stay in step with DefaultSettings otherwise.
func (s Settings) checks(interval, timeout time.Duration) Settings {
	s.CheckInterval, s.CheckTimeout = interval, timeout
	return s
}

// DirectordConfig renders a director's HCL: the seed's VRRP instance and
// virtual server with an HTTP check on every real.
func DirectordConfig(name string, priority int, socket string, s Settings, reals []RealSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# directord lab: director %s. Edit and reload (press r, or directord reload).
director {
  router_id     = %q
  status_socket = %q
  log_format    = "json"
}

vrrp_instance "web" {
  interface         = "eth0"
  virtual_router_id = 51
  priority          = %d
  advert_interval   = %q
  virtual_ips       = ["%s/24"]
}
`, name, name, socket, priority, s.Advert, VIP)
	if s.ExpireNodestConn {
		b.WriteString("\nipvs {\n  sysctl {\n    expire_nodest_conn = true\n  }\n}\n")
	}
	directordService(&b, "web", VIP, s, reals, func(r RealSpec) netip.Addr { return r.Addr })
	if dualStack(reals) {
		// The IPv6 service: a second instance (one address family per
		// instance, as in keepalived), synced with the first so that
		// both VIPs move together, and the same reals at their IPv6
		// addresses.
		fmt.Fprintf(&b, `
vrrp_instance "web6" {
  interface         = "eth0"
  virtual_router_id = 52
  priority          = %d
  advert_interval   = %q
  virtual_ips       = ["%s/64", "%s/64"]
}

vrrp_sync_group "site" {
  instances = ["web", "web6"]
}
`, priority, s.Advert, VIP6LinkLocal, VIP6)
		directordService(&b, "web6", VIP6, s, reals, func(r RealSpec) netip.Addr { return r.Addr6 })
	}
	return b.String()
}

// directordService renders the web service at vip over the reals at the
// addresses addr picks, with an HTTP check on every one.
func directordService(b *strings.Builder, name string, vip netip.Addr, s Settings, reals []RealSpec, addr func(RealSpec) netip.Addr) {
	fmt.Fprintf(b, `
virtual_server %q {
  address    = %q
  port       = 80
  protocol   = "tcp"
  scheduler  = "wrr"
  forwarding = "dr"

  health_check "http" {
    path     = "/"
    interval = %q
    timeout  = %q
    rise     = %d
    fall     = %d
  }
`, name, vip.String(), s.CheckInterval, s.CheckTimeout, s.Rise, s.Fall)
	for _, r := range reals {
		fmt.Fprintf(b, "\n  real_server %q {\n    weight = %d\n  }\n", addr(r), r.Weight)
	}
	b.WriteString("}\n")
}

// KeepalivedConfig renders the same director for keepalived, the
// baseline.
func KeepalivedConfig(name string, priority int, s Settings, reals []RealSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global_defs {
  router_id %s
}
vrrp_instance web {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %d
  version 3
  advert_int %g
  virtual_ipaddress {
    %s/24
  }
}
`, name, priority, s.Advert.Seconds(), VIP)
	keepalivedService(&b, VIP, s, reals, func(r RealSpec) netip.Addr { return r.Addr })
	if dualStack(reals) {
		fmt.Fprintf(&b, `vrrp_instance web6 {
  state BACKUP
  interface eth0
  virtual_router_id 52
  priority %d
  version 3
  advert_int %g
  virtual_ipaddress {
    %s/64
    %s/64 preferred_lft 0
  }
}
vrrp_sync_group site {
  group {
    web
    web6
  }
}
`, priority, s.Advert.Seconds(), VIP6LinkLocal, VIP6)
		// preferred_lft 0: keepalived deprecates only /128 VIPs by
		// default; a /64 one would become the source of its checks,
		// which the DR reals (holding the VIP) answer to themselves.
		keepalivedService(&b, VIP6, s, reals, func(r RealSpec) netip.Addr { return r.Addr6 })
	}
	return b.String()
}

// keepalivedService renders the web service at vip over the reals at
// the addresses addr picks.
func keepalivedService(b *strings.Builder, vip netip.Addr, s Settings, reals []RealSpec, addr func(RealSpec) netip.Addr) {
	fmt.Fprintf(b, `virtual_server %s 80 {
  delay_loop %g
  lb_algo wrr
  lb_kind DR
  protocol TCP
`, vip, s.CheckInterval.Seconds())
	for _, r := range reals {
		fmt.Fprintf(b, `  real_server %s 80 {
    weight %d
    HTTP_GET {
      url {
        path /
        status_code 200
      }
      connect_timeout %g
      retry %d
      delay_before_retry %g
    }
  }
`, addr(r), r.Weight, s.CheckTimeout.Seconds(), s.Fall-1, s.CheckInterval.Seconds())
	}
	b.WriteString("}\n")
}
