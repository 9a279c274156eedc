package doctor

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// iptHost has no nft, and iptables-save output per tool.
type iptHost struct {
	fakeHost
	saves map[string]string
	asked []string
}

func (h *iptHost) Ruleset() ([]byte, error) {
	return nil, fmt.Errorf("nft: %w", exec.ErrNotFound)
}

func (h *iptHost) IPTables(tool Tool) (string, error) {
	h.asked = append(h.asked, tool.Name)
	return h.saves[tool.Name], nil
}

// Where nft is not installed, iptables-nft's rules are read with
// iptables-nft-save (Debian's default iptables), and no "nftables not
// read" warning hides them.
func TestIPTablesWithoutNft(t *testing.T) {
	vrrp := Probe{What: "vrrp", Proto: 112, Dst: netip.MustParseAddr("224.0.0.18")}
	h := &iptHost{saves: map[string]string{
		"iptables-nft-save": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p 112 -j DROP\nCOMMIT\n",
	}}
	fs := firewalls(h, []Probe{vrrp})
	if len(fs) != 1 || fs[0].Status != Fail || !strings.Contains(fs[0].Fix, "iptables-nft -I INPUT -p vrrp -d 224.0.0.18 -j ACCEPT") {
		t.Fatalf("findings %+v", fs)
	}
	if want := "iptables-legacy-save ip6tables-legacy-save iptables-nft-save ip6tables-nft-save"; strings.Join(h.asked, " ") != want {
		t.Errorf("asked %v, want %s", h.asked, want)
	}
}

// iptables-save output of any shape is read without a panic and every
// probe gets an answer, whatever jumps the chains make.
func FuzzParseIPT(f *testing.F) {
	f.Add("*filter\n:INPUT DROP [0:0]\n:A - [0:0]\n-A INPUT -j A\n-A A -j INPUT\n-A A ! -p tcp -m multiport --dports 1:2,3 -j DROP\nCOMMIT\n")
	f.Add("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"a \\\" b\" -d ff02::12/128 -g INPUT\n")
	f.Add("*nat\n:PREROUTING ACCEPT\n-A PREROUTING -j DNAT\n")
	probes := []Probe{
		{What: "vrrp", Proto: 112, Dst: netip.MustParseAddr("224.0.0.18")},
		{What: "web", Proto: 6, Dst: netip.MustParseAddr("10.0.0.1"), Port: 80},
	}
	f.Fuzz(func(t *testing.T, save string) {
		tab, err := parseIPT(save)
		if err != nil {
			return
		}
		for _, p := range probes {
			if v, why := tab.input(p); v != passes && why == "" {
				t.Errorf("%v without a reason", v)
			}
		}
	})
}
