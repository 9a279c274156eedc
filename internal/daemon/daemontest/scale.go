package daemontest

import (
	"fmt"
	"net/netip"
	"strings"
)

// Scale is a large configuration for reload tests and benchmarks: VIPs
// addresses, each with Ports TCP virtual services of Reals real servers,
// the VIPs held by VRRP instances of at most 250 addresses each (an
// advert carries at most 255). Reals have no health check (always up,
// so the size measured is the daemon's, not the checkers') unless Check
// says one.
type Scale struct {
	VIPs, Ports, Reals int
	// Interface carries the VRRP instances.
	Interface string
	// Advert is the instances' advert_interval ("100ms" when empty).
	Advert string
	// Extra goes into the director block (status_socket, metrics_listen).
	Extra string
	// Check, if set, goes into every virtual_server block (a
	// health_check block).
	Check string
}

// vipsPerInstance keeps each instance's advert under 255 addresses.
const vipsPerInstance = 250

// Services is the number of virtual services; Dests the number of
// destinations.
func (s Scale) Services() int { return s.VIPs * s.Ports }

// Dests is the number of destinations.
func (s Scale) Dests() int { return s.Services() * s.Reals }

// VIP is the i-th virtual address, in 198.18.0.0/15 (benchmarking).
func (s Scale) VIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
}

// Real is the j-th real server of VIP i (every port of a VIP goes to the
// same servers), in 10.0.0.0/8; the last byte is never 0 (a destination
// ending in .0 is refused by some kernels).
func (s Scale) Real(i, j int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(1 + j)})
}

// Port is the p-th port of each VIP.
func (s Scale) Port(p int) int { return 1000 + p }

// Config renders the file; weight gives each real's weight (nil: 1), by
// VIP, port and real index.
func (s Scale) Config(weight func(vip, port, real int) int) string {
	if weight == nil {
		weight = func(int, int, int) int { return 1 }
	}
	advert := s.Advert
	if advert == "" {
		advert = "100ms"
	}
	var b strings.Builder
	b.Grow(s.Dests() * 40)
	fmt.Fprintf(&b, "director {\n  router_id = \"scale\"\n  %s\n}\n", s.Extra)
	for first := 0; first < s.VIPs; first += vipsPerInstance {
		n := first / vipsPerInstance
		fmt.Fprintf(&b, "vrrp_instance \"v%d\" {\n  interface = %q\n  virtual_router_id = %d\n  priority = 150\n  advert_interval = %q\n  virtual_ips = [",
			n, s.Interface, 1+n, advert)
		for i := first; i < min(first+vipsPerInstance, s.VIPs); i++ {
			if i > first {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", s.VIP(i).String()+"/32")
		}
		b.WriteString("]\n}\n")
	}
	for i := range s.VIPs {
		for p := range s.Ports {
			fmt.Fprintf(&b, "virtual_server \"s%d_%d\" {\n  address = %q\n  port = %d\n  protocol = \"tcp\"\n  scheduler = \"wrr\"\n  forwarding = \"dr\"\n",
				i, p, s.VIP(i), s.Port(p))
			if s.Check != "" {
				fmt.Fprintf(&b, "  %s\n", s.Check)
			}
			for j := range s.Reals {
				fmt.Fprintf(&b, "  real_server %q { weight = %d }\n", s.Real(i, j), weight(i, p, j))
			}
			b.WriteString("}\n")
		}
	}
	return b.String()
}
