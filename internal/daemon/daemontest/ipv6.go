package daemontest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/testenv"
	"directord/lvs"
	"directord/vrrp/vrrptest"
)

// The IPv6 director's addresses, as its configuration declares them.
const (
	VIP6  = "2001:db8::100"
	Live6 = "2001:db8::10" // real server whose check passes
	Dead6 = "2001:db8::11" // real server whose check is refused
)

// IPv6 is a running IPv6-only director and where its checks go.
type IPv6 struct {
	*Daemon
	// LiveTarget is the HTTP server on [::1] that Live6's check
	// reaches; DeadTarget a closed port on [::1], Dead6's.
	LiveTarget, DeadTarget netip.AddrPort
}

// StartIPv6 runs an IPv6-only director: instance "web6" on eth0 (link-local
// fe80::1) holding VIP6, and virtual_server "web6", tcp [VIP6]:80, with
// Live6 (an http check, connect_address ::1, answered) and Dead6 (a tcp
// check to a closed port of ::1). director is put in the director block
// (metrics_listen, say). It returns once the instance is master, both
// reals have been probed (Live6 up, Dead6 down) and the IPVS table shows
// Dead6 at weight 0. Without an IPv6 loopback the test is skipped.
func StartIPv6(tb testing.TB, director string) *IPv6 {
	tb.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	testenv.Require(tb, err == nil, "no IPv6 loopback here: %v", err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener = l
	srv.Start()
	tb.Cleanup(srv.Close)
	closed, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &IPv6{
		LiveTarget: netip.MustParseAddrPort(l.Addr().String()),
		DeadTarget: netip.MustParseAddrPort(closed.Addr().String()),
	}
	closed.Close()
	src := fmt.Sprintf(`director {
  router_id = "lb6"
  %[1]s
}
vrrp_instance "web6" {
  interface = "eth0"
  virtual_router_id = 61
  priority = 150
  advert_interval = "100ms"
  virtual_ips = [%[2]q]
}
virtual_server "web6" {
  address = %[2]q
  port = 80
  scheduler = "wrr"
  real_server %[3]q {
    health_check "http" {
      connect_address = "::1"
      connect_port = %[5]d
      interval = "50ms"
      timeout = "40ms"
      rise = 1
      fall = 1
    }
  }
  real_server %[4]q {
    health_check "tcp" {
      connect_address = "::1"
      connect_port = %[6]d
      interval = "50ms"
      timeout = "40ms"
      rise = 1
      fall = 1
    }
  }
}
`, director, VIP6, Live6, Dead6, c.LiveTarget.Port(), c.DeadTarget.Port())
	host := vrrptest.NewLAN(1).AddHost("lb6", "eth0", netip.MustParsePrefix("fe80::1/64"))
	c.Daemon = Start(tb, src, host)
	c.Wait(tb, 5*time.Second, settled)
	return c
}

// settled: master, both reals probed, one of them down, and the
// reconciler has caught up with it. It reads no address, so a rendering
// bug fails the test's own assertions, not this wait.
func settled(doc daemon.StatusDoc) bool {
	if len(doc.VRRP.Instances) != 1 || doc.VRRP.Instances[0].State != "MASTER" {
		return false
	}
	probed, down := 0, 0
	for _, rs := range doc.RealServers {
		if rs.Checks > 0 {
			probed++
		}
		if !rs.Up {
			down++
		}
	}
	if probed != 2 || down != 1 || doc.IPVS == nil || len(doc.IPVS.Table) != 1 {
		return false
	}
	return slices.ContainsFunc(doc.IPVS.Table[0].Dests, func(d lvs.DestStats) bool { return d.Weight == 0 })
}
