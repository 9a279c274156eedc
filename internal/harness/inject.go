package harness

import (
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/net/ipv4"

	"directord/internal/labnet"
)

// SendIPv4 sends payload as an IP packet of protocol proto from ns with a
// header we choose entirely (TTL included), out of the interface ifname:
// the way to hand-craft packets a correct router would never send.
func SendIPv4(ns *labnet.NS, ifname string, proto, ttl int, src, dst netip.Addr, payload []byte) error {
	return ns.Do(func() error {
		c, err := net.ListenPacket("ip4:"+strconv.Itoa(proto), "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		rc, err := ipv4.NewRawConn(c)
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if dst.IsMulticast() {
			if err := rc.SetMulticastInterface(ifi); err != nil {
				return err
			}
		}
		h := &ipv4.Header{
			Version: ipv4.Version, Len: ipv4.HeaderLen, TOS: 0xc0,
			TotalLen: ipv4.HeaderLen + len(payload), TTL: ttl, Protocol: proto,
			Src: src.AsSlice(), Dst: dst.AsSlice(),
		}
		return rc.WriteTo(h, payload, &ipv4.ControlMessage{IfIndex: ifi.Index})
	})
}
