package vrrp_test

// Integration tests of address ownership and of the gratuitous ARP
// schedule.

import (
	"strings"
	"testing"
	"time"

	"directord/internal/harness"
)

// Priority 255 is the address owner (RFC 9568 §1.6): master at once, and
// its VIP is its own address, never added nor removed.
func TestAddressOwner(t *testing.T) {
	p := newPair(t)
	own := `vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  priority = 255
  advert_interval = "100ms"
  virtual_ips = ["10.9.0.2/24"]
}
`
	p.LB2.WriteConfig(t, own)
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", time.Second)
	trs := transitions(t, p.LB2, "web")
	if trs[0].To != "MASTER" || trs[0].Reason != "owner" {
		t.Errorf("the owner should start as master: %+v", trs)
	}
	p.LB2.Stop(t, time.Second)
	if !p.LB2.HasAddr(t, "10.9.0.2") {
		t.Error("stopping the owner removed its own address")
	}
}

// Priority 255 without owning the VIP is refused at start, clearly.
func TestOwnerWithoutItsAddressRefused(t *testing.T) {
	p := newPair(t)
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 255, "100ms"))
	if err := p.LB2.Process.Start(); err != nil {
		t.Fatal(err)
	}
	exit, ok := p.LB2.Wait(5 * time.Second)
	if !ok || exit == nil {
		t.Fatalf("directord should refuse to run: exit %v", exit)
	}
	if !strings.Contains(p.LB2.Log(), "priority 255 makes this router the address owner, but 10.9.0.100 is not an address of eth0") {
		t.Errorf("unclear refusal:\n%s", p.LB2.Log())
	}
	if p.LB2.HasAddr(t, harness.VIP.String()) {
		t.Error("a refused start touched the addresses")
	}
}

// garp { }: repeat packets spaced by interval on becoming master, the
// same again delay after the transition, then refresh_repeat every
// refresh while master.
func TestGARPSchedule(t *testing.T) {
	p := newPair(t)
	p.LB2.WriteConfig(t, harness.Instance("web", 51, 200, "100ms",
		"garp {", `  delay = "1s"`, "  repeat = 3", `  interval = "50ms"`, `  refresh = "700ms"`, "  refresh_repeat = 2", "}"))
	p.LB2.Start(t)
	p.LB2.WaitState(t, "web", "MASTER", 3*time.Second)
	time.Sleep(3 * time.Second)
	mac := macOf(p, p.LB2)
	var at []time.Duration
	var first time.Time
	for _, f := range p.Wire.Frames() {
		if f.Gratuitous(harness.VIP) && f.SrcMAC == mac {
			if first.IsZero() {
				first = f.At
			}
			at = append(at, f.At.Sub(first))
		}
	}
	t.Logf("gratuitous ARPs at %v", at)
	count := func(from, to time.Duration) int {
		n := 0
		for _, d := range at {
			if d >= from && d < to {
				n++
			}
		}
		return n
	}
	if n := count(0, 300*time.Millisecond); n != 3 {
		t.Errorf("%d GARPs on becoming master, want 3 (repeat)", n)
	}
	if n := count(900*time.Millisecond, 1300*time.Millisecond); n != 3 {
		t.Errorf("%d GARPs around the 1s delay, want 3", n)
	}
	if n := count(1300*time.Millisecond, 3*time.Second); n < 4 {
		t.Errorf("%d refresh GARPs in 1.7s, want two bursts of 2 every 700ms", n)
	}
	if len(at) > 1 && at[1]-at[0] < 40*time.Millisecond {
		t.Errorf("packets of a burst %s apart, want interval 50ms", at[1]-at[0])
	}
}
