package daemon_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/vrrp/vrrptest"
)

// A real with two checks, through the running daemon (fakes of VRRP and
// IPVS, real probes on the loopback): down while one fails, at weight 0
// in the table, the status naming both checks with each one's result;
// up at its weight once both pass.
func TestSeveralChecksInStatusAndTable(t *testing.T) {
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() {
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	port := func(a string) uint16 { return netip.MustParseAddrPort(a).Port() }
	src := fmt.Sprintf(`vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  advert_interval = "100ms"
  virtual_ips = ["192.0.2.100"]
}
virtual_server "web" {
  address = "192.0.2.100"
  port = 80
  scheduler = "wrr"
  health_check "tcp" {
    connect_address = "127.0.0.1"
    connect_port = %d
    interval = "50ms"
    timeout = "40ms"
    rise = 1
    fall = 1
  }
  health_check "tcp" {
    connect_address = "127.0.0.1"
    connect_port = %d
    interval = "50ms"
    timeout = "40ms"
    rise = 1
    fall = 1
  }
  real_server "192.0.2.10" { weight = 7 }
}`, port(live.Addr().String()), port(closedAddr))
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	d := daemontest.Start(t, src, host)
	doc := d.Wait(t, 5*time.Second, func(doc daemon.StatusDoc) bool {
		rs := doc.RealServers[0]
		return len(rs.Probes) == 2 && rs.Probes[0].Checks > 0 && rs.Probes[1].Checks > 0 && !rs.Up
	})
	rs := doc.RealServers[0]
	if rs.Check != "tcp+tcp" || rs.Last == nil || rs.Last.Reason != "refused" {
		t.Errorf("real %+v, want check tcp+tcp down as the refused one says", rs)
	}
	if p := rs.Probes; !p[0].Up || p[0].Last.Reason != "connected" || p[1].Up || p[1].Last.Reason != "refused" {
		t.Errorf("probes %+v, want the first up (connected), the second down (refused)", p)
	}
	weight := func() uint32 {
		for _, e := range d.Kernel.Table() {
			for _, dst := range e.Dests {
				return dst.Weight
			}
		}
		return 999
	}
	if w := weight(); w != 0 {
		t.Errorf("weight %d in the table with one check down, want 0", w)
	}
	l2, err := net.Listen("tcp", closedAddr)
	if err != nil {
		t.Fatalf("the closed port was taken meanwhile: %v", err)
	}
	defer l2.Close()
	go func() {
		for {
			c, err := l2.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	d.Wait(t, 5*time.Second, func(doc daemon.StatusDoc) bool { return doc.RealServers[0].Up })
	deadline := time.Now().Add(2 * time.Second)
	for weight() != 7 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w := weight(); w != 7 {
		t.Errorf("weight %d with both checks up, want 7", w)
	}
}
