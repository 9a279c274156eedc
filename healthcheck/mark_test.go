package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"directord/internal/netnstest"
)

// A probe with a mark carries it from its first packet: in a namespace
// where a policy rule sends marked packets to an unreachable route, every
// socket-based check type with the mark says unreachable, and the same
// check without it reaches the server. (Through-VIP checks depend on it:
// the mark is what steers them to one real server.)
func TestMarkSteersEveryProbeType(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"cli": "10.77.0.1/24", "srv": "10.77.0.2/24"})
	err := lan.Hosts["srv"].NS.Do(func() error {
		ln, err := net.Listen("tcp4", "10.77.0.2:7000")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n220 ok\r\n"))
				c.Close()
			}
		}()
		pc, err := net.ListenPacket("udp4", "10.77.0.2:7000")
		if err != nil {
			return err
		}
		udpEcho(t, pc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cli := lan.Hosts["cli"].NS
	for _, args := range [][]string{
		{"rule", "add", "fwmark", "0x44", "table", "144"},
		{"route", "add", "unreachable", "10.77.0.2", "table", "144"},
	} {
		if out, err := cli.Run("ip", args...); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	target := addrPort(t, "10.77.0.2:7000")
	// http dials in the transport's own goroutine, outside the namespace;
	// it shares dial with tcp and smtp.
	for _, typ := range []string{TypeTCP, TypeSMTP, TypeUDP, TypeDNS} {
		for _, mark := range []uint32{0, 0x44} {
			s := Spec{Type: typ, Target: target, Real: target, Mark: mark, Timeout: time.Second, Params: &Params{PayloadHex: "70696e67", RequireReply: true}}
			c, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			var r Result
			err = cli.Do(func() error {
				ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
				defer cancel()
				r = c.Check(ctx)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case mark != 0 && r.Reason != "unreachable":
				t.Errorf("%s with mark %#x: %+v, want unreachable (the mark was not on the socket)", typ, mark, r)
			case mark == 0 && r.Reason == "unreachable":
				t.Errorf("%s without a mark: %+v, want it to reach the server", typ, r)
			}
		}
	}
}

// A marked probe leaves from the address this host uses towards its real
// server, not from whatever the route to its target would pick: on the
// director holding a /32 VIP, the VIP's own local route would make the
// VIP the source. An explicit bind_address wins.
func TestMarkedProbeSource(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"cli": "10.77.0.1/24"})
	cli := lan.Hosts["cli"].NS
	if out, err := cli.Run("ip", "addr", "add", "10.77.0.100/32", "dev", "eth0"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	real := netip.MustParseAddr("10.77.0.2")
	err := cli.Do(func() error {
		for _, c := range []struct {
			o    origin
			want string
		}{
			{origin{mark: 0x44, real: real}, "10.77.0.1:0"},
			{origin{mark: 0x44, real: real, bind: netip.MustParseAddr("10.77.0.100")}, "10.77.0.100:0"},
			{origin{real: real}, "<nil>"},
		} {
			d, err := c.o.dialer("tcp")
			if err != nil {
				return err
			}
			if got := fmt.Sprint(d.LocalAddr); got != c.want {
				t.Errorf("%+v: binds %s, want %s", c.o, got, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
