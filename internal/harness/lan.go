package harness

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"directord/internal/labnet"
	"directord/internal/netnstest"
)

// Pair is the usual VRRP test bed: two directors and an observer on one
// bridge. lb1 is 10.9.0.1, lb2 is 10.9.0.2, the observer 10.9.0.9, and
// the VIP of the tests 10.9.0.100.
type Pair struct {
	LAN      *netnstest.LAN
	LB1, LB2 *Director
	Observer *labnet.NS
	Wire     *Capture // ARP and VRRP seen by the observer
}

// Test addresses.
var (
	LB1Addr = netip.MustParseAddr("10.9.0.1")
	LB2Addr = netip.MustParseAddr("10.9.0.2")
	ObsAddr = netip.MustParseAddr("10.9.0.9")
	VIP     = netip.MustParseAddr("10.9.0.100")
)

// NewPair builds the bed; the directors are prepared, not started.
func NewPair(tb testing.TB, bin string) *Pair {
	tb.Helper()
	lan := netnstest.NewLAN(tb, map[string]string{
		"lb1": LB1Addr.String() + "/24",
		"lb2": LB2Addr.String() + "/24",
		"obs": ObsAddr.String() + "/24",
	})
	p := &Pair{
		LAN:      lan,
		LB1:      NewDirector(tb, bin, "lb1", lan.Hosts["lb1"]),
		LB2:      NewDirector(tb, bin, "lb2", lan.Hosts["lb2"]),
		Observer: lan.Hosts["obs"].NS,
	}
	p.Wire = Tcpdump(tb, p.Observer, "eth0", "arp or ip proto 112")
	return p
}

// Touch makes ns resolve addr (it sends one UDP datagram to the discard
// port), so its neighbour table gets an entry that gratuitous ARP must
// then update.
func Touch(tb testing.TB, ns *labnet.NS, addr netip.Addr) {
	tb.Helper()
	err := ns.Do(func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(addr, 9).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// Neighbour is ns's neighbour entry for addr: the MAC and the state, or
// empty strings.
func Neighbour(tb testing.TB, ns *labnet.NS, addr netip.Addr) (mac, state string) {
	tb.Helper()
	out, err := ns.Run("ip", "neigh", "show", addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			mac = f[i+1]
		}
	}
	if len(f) > 0 {
		state = f[len(f)-1]
	}
	return mac, state
}

// WaitNeighbour waits until ns resolves addr to mac.
func WaitNeighbour(tb testing.TB, ns *labnet.NS, addr netip.Addr, mac string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, _ := Neighbour(tb, ns, addr)
		if got == mac {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("neighbour entry for %s is %q, want %s", addr, got, mac)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Instance renders a vrrp_instance block. Extra lines go inside it.
func Instance(name string, vrid, prio int, interval string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vrrp_instance %q {\n  interface = \"eth0\"\n  virtual_router_id = %d\n  priority = %d\n  advert_interval = %q\n  virtual_ips = [\"%s/24\"]\n",
		name, vrid, prio, interval, VIP)
	for _, e := range extra {
		b.WriteString("  " + e + "\n")
	}
	b.WriteString("}\n")
	return b.String()
}
