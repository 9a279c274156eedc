package lab

import (
	"fmt"
	"strings"
	"time"
)

// Settings are the protocol timings of a lab's directors.
type Settings struct {
	Advert        time.Duration // VRRP advert interval
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	Rise, Fall    int
}

// DefaultSettings are quick enough to watch, slow enough to follow.
var DefaultSettings = Settings{
	Advert:        100 * time.Millisecond,
	CheckInterval: 200 * time.Millisecond,
	CheckTimeout:  100 * time.Millisecond,
	Rise:          2,
	Fall:          2,
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

virtual_server "web" {
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
`, name, name, socket, priority, s.Advert, VIP, VIP.String(), s.CheckInterval, s.CheckTimeout, s.Rise, s.Fall)
	for _, r := range reals {
		fmt.Fprintf(&b, "\n  real_server %q {\n    weight = %d\n  }\n", r.Addr, r.Weight)
	}
	b.WriteString("}\n")
	return b.String()
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
virtual_server %s 80 {
  delay_loop %g
  lb_algo wrr
  lb_kind DR
  protocol TCP
`, name, priority, s.Advert.Seconds(), VIP, VIP, s.CheckInterval.Seconds())
	for _, r := range reals {
		fmt.Fprintf(&b, `  real_server %s 80 {
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
`, r.Addr, r.Weight, s.CheckTimeout.Seconds(), s.Fall-1, s.CheckInterval.Seconds())
	}
	b.WriteString("}\n")
	return b.String()
}
