package harness

import (
	"net/netip"
	"testing"
)

// Lines of tcpdump -e -n -tt: from TestIPv6ReceiveRules (an injected
// advert, a director's), of testdata/keepalived.txt's v2-pass, and of
// keepalived's unicast over IPv6 (vrrp/testdata/keepalived6.sh). tcpdump
// adds "(ttl N)" when the TTL or hop limit is not 255.
func TestParseFrameVRRP(t *testing.T) {
	tests := []struct {
		line               string
		src, dst           string
		version, ttl, vrid int
		prio               int
	}{
		{"1795695857.416827521 d2:ee:c6:db:f6:14 > 33:33:00:00:00:12, ethertype IPv6 (0x86dd), length 94: fe80::d0ee:c6ff:fedb:f614 > ff02::12: VRRPv3, Advertisement, (ttl 254), vrid 51, prio 254, intvl 10cs, length 40",
			"fe80::d0ee:c6ff:fedb:f614", "ff02::12", 3, 254, 51, 254},
		{"1795695857.520174108 d2:ee:c6:db:f6:15 > 33:33:00:00:00:12, ethertype IPv6 (0x86dd), length 94: fe80::d0ee:c6ff:fedb:f615 > ff02::12: VRRPv3, Advertisement, vrid 51, prio 200, intvl 10cs, length 40",
			"fe80::d0ee:c6ff:fedb:f615", "ff02::12", 3, 255, 51, 200},
		{"1795695876.000001 20:53:45:4e:44:00 > 20:52:45:43:56:00, ethertype IPv4 (0x0800), length 60: 192.168.11.11 > 224.0.0.18: VRRPv2, Advertisement, vrid 20, prio 150, authtype simple, intvl 1s, length 20",
			"192.168.11.11", "224.0.0.18", 2, 255, 20, 150},
		{"1795695672.155607 02:00:00:00:51:01 > 02:00:00:00:51:02, ethertype IPv6 (0x86dd), length 78: 2001:db8:53::1 > 2001:db8:53::2: VRRPv3, Advertisement, (ttl 64), vrid 53, prio 100, intvl 100cs, length 24",
			"2001:db8:53::1", "2001:db8:53::2", 3, 64, 53, 100},
	}
	for _, tt := range tests {
		f, ok := parseFrame(tt.line)
		if !ok || !f.VRRP {
			t.Errorf("not parsed as VRRP: %s", tt.line)
			continue
		}
		if f.Src != netip.MustParseAddr(tt.src) || f.Dst != netip.MustParseAddr(tt.dst) || f.Version != tt.version ||
			f.TTL != tt.ttl || f.VRID != tt.vrid || f.Priority != tt.prio {
			t.Errorf("%s\nparsed %+v", tt.line, f)
		}
	}
}
