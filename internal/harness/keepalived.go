package harness

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"directord/internal/lab"
	"directord/internal/labnet"
)

// Keepalived is Debian's keepalived running in a namespace: the reference
// VRRP peer directord must interoperate with.
type Keepalived struct {
	*lab.Keepalived
}

// NewKeepalived prepares keepalived in ns.
func NewKeepalived(tb testing.TB, ns *labnet.NS, name string) *Keepalived {
	tb.Helper()
	k := &Keepalived{Keepalived: &lab.Keepalived{}}
	k.Keepalived.Host = &lab.Host{Name: name, NS: ns}
	k.Keepalived.Dir = tb.TempDir()
	tb.Cleanup(func() {
		k.Kill()
		if tb.Failed() && k.Process != nil {
			tb.Logf("log of keepalived %s:\n%s", name, k.Log())
		}
	})
	return k
}

// KeepalivedInstance is what an interop test varies.
type KeepalivedInstance struct {
	VRID     int
	Priority int
	Version  int
	Interval string // keepalived's advert_int, in seconds: "1", "0.1"
	Password string // v2 PASS, if set
	Src      netip.Addr
	Peers    []netip.Addr // unicast, if set
	// VIPs are keepalived's virtual_ipaddress lines; VIP/24 when empty.
	VIPs []string
}

// WriteConfig renders one vrrp_instance "web" holding VIP.
func (k *Keepalived) WriteConfig(tb testing.TB, in KeepalivedInstance) {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  script_user root\n}\n", k.Host.Name)
	fmt.Fprintf(&b, "vrrp_instance web {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  version %d\n  advert_int %s\n",
		in.VRID, in.Priority, in.Version, in.Interval)
	if in.Password != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", in.Password)
	}
	if len(in.Peers) > 0 {
		fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n", in.Src)
		for _, p := range in.Peers {
			fmt.Fprintf(&b, "    %s\n", p)
		}
		b.WriteString("  }\n")
	}
	vips := in.VIPs
	if len(vips) == 0 {
		vips = []string{VIP.String() + "/24"}
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", strings.Join(vips, "\n    "))
	lk, err := lab.NewKeepalived(k.Host, k.Dir, b.String())
	if err != nil {
		tb.Fatal(err)
	}
	k.Keepalived = lk
}

// Start runs keepalived.
func (k *Keepalived) Start(tb testing.TB) {
	tb.Helper()
	if err := k.Keepalived.Start(); err != nil {
		tb.Fatal(err)
	}
}

// Kill is kill -9 of keepalived and its children.
func (k *Keepalived) Kill() {
	if k.Process != nil {
		k.Keepalived.Kill()
	}
}

// WaitState waits until keepalived has entered state.
func (k *Keepalived) WaitState(tb testing.TB, state string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for k.State() != state {
		if time.Now().After(deadline) {
			tb.Fatalf("keepalived %s is %q, not %s, after %s", k.Host.Name, k.State(), state, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
