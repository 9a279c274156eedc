package doctor

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// iptHost has no nft, and iptables-save output (or an error) per tool.
type iptHost struct {
	fakeHost
	saves map[string]string
	fails map[string]bool
	asked []string
}

func (h *iptHost) Ruleset() ([]byte, error) {
	return nil, fmt.Errorf("nft: %w", exec.ErrNotFound)
}

func (h *iptHost) IPTables(tool Tool) (string, error) {
	h.asked = append(h.asked, tool.Name)
	if h.fails[tool.Name] {
		return "", fmt.Errorf("%s: %w", tool.Name, exec.ErrNotFound)
	}
	return h.saves[tool.Name], nil
}

// Where nft is not installed, iptables-nft's rules are read with
// iptables-nft-save (Debian's default iptables), and no "nftables not
// read" warning hides them; with nf_tables loaded (firewalld needs no nft
// command) a warning says other nftables rules went unchecked.
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
	h.files = map[string]string{"/sys/module/nf_tables": ""}
	fs = firewalls(h, []Probe{vrrp})
	if len(fs) != 2 || fs[0].Status != Fail || fs[1].Status != Warn || !strings.Contains(fs[1].Detail, "nf_tables is loaded") {
		t.Errorf("with nf_tables loaded: %+v", fs)
	}
}

// One table that cannot be read (a legacy table in use without its tool)
// is a warning beside what the others found, not instead of it.
func TestIPTablesOneToolFails(t *testing.T) {
	vrrp := Probe{What: "vrrp", Proto: 112, Dst: netip.MustParseAddr("224.0.0.18")}
	h := &iptHost{
		saves: map[string]string{"iptables-legacy-save": "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"},
		fails: map[string]bool{"ip6tables-legacy-save": true},
	}
	fs := firewalls(h, []Probe{vrrp})
	if Worst(fs) != Fail || len(fs) != 2 || fs[0].Status != Fail || !strings.Contains(fs[1].Detail, "ip6tables-legacy-save failed") {
		t.Errorf("findings %+v", fs)
	}
}

// What may or may not match is unsure only when it could drop: a LOG
// behind a limit, or a jump to a chain that accepts, leaves the verdict
// of the rules after it whole.
func TestIPTablesUnsureOnlyWhenItCouldDrop(t *testing.T) {
	vrrp := Probe{What: "vrrp", Proto: 112, Dst: netip.MustParseAddr("224.0.0.18")}
	for _, c := range []struct {
		rules string
		want  verdict
	}{
		{"-A INPUT -m limit --limit 3/min -j LOG\n-A INPUT -p vrrp -j DROP\n", dropped},
		{":OK - [0:0]\n-A OK -j ACCEPT\n-A INPUT -s 10.0.0.0/8 -j OK\n-A INPUT -p vrrp -j DROP\n", dropped},
		{":NO - [0:0]\n-A NO -j DROP\n-A INPUT -s 10.0.0.0/8 -j NO\n-A INPUT -p vrrp -j DROP\n", mayDrop},
		{"-A INPUT -s 10.0.0.0/8 -j REJECT\n", mayDrop},
	} {
		tab, err := parseIPT("*filter\n:INPUT ACCEPT [0:0]\n" + c.rules + "COMMIT\n")
		if err != nil {
			t.Fatal(err)
		}
		if v, why := tab.input(vrrp); v != c.want {
			t.Errorf("%q: %v (%s), want %v", c.rules, v, why, c.want)
		}
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
