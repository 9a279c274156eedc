package lvs_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"directord/config"
	"directord/internal/uml"
	"directord/internal/vmtest"
	"directord/lvs"
)

// TestKernel runs inside the User-Mode Linux guest, which has IPVS; each
// subtest starts from an empty table.
func TestKernel(t *testing.T) {
	if vmtest.RunInGuest(t) {
		return
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"every scheduler", testSchedulers},
		{"forwarding, protocols, fwmark, persistence", testAttributes},
		{"health flip: weight_zero vs remove", testHealthFlip},
		{"sorry server and quorum with hysteresis", testSorryQuorum},
		{"sorry server beside the reals still up", testSorryKeepReals},
		{"reload updates in place", testReload},
		{"adoption writes nothing", testAdoption},
		{"drift is repaired", testDrift},
		{"foreign service is untouched", testForeign},
		{"batched writes report each error", testBatchErrors},
		{"ipvs timeouts", testTimeouts},
	} {
		ipvsadm(t, "-C")
		t.Run(tc.name, tc.fn)
	}
}

func testSchedulers(t *testing.T) {
	var b strings.Builder
	for i, s := range config.Schedulers {
		fmt.Fprintf(&b, "virtual_server %q {\n  address = \"10.0.0.100\"\n  port = %d\n  scheduler = %q\n  real_server \"10.0.0.1\" {}\n}\n", s, 1000+i, s)
	}
	g := start(t, b.String())
	out := listing(t)
	for i, s := range config.Schedulers {
		line := fmt.Sprintf(`^TCP\s+10\.0\.0\.100:%d %s\b`, 1000+i, s)
		if s == "twos" {
			// This guest kernel (6.1) predates ip_vs_twos (6.3): the
			// write fails with a message saying so, and nothing else.
			if regexp.MustCompile(`(?m)` + line).MatchString(out) {
				t.Errorf("twos exists in this kernel after all")
			}
			st, _, _ := g.r.Stats(context.Background())
			if !strings.Contains(st.LastError, `scheduler "twos" is not available in this kernel (module ip_vs_twos)`) {
				t.Errorf("last error %q", st.LastError)
			}
			continue
		}
		mustMatch(t, out, line)
	}
}

func testAttributes(t *testing.T) {
	src := `
virtual_server "dr" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wrr"
  persistence_timeout = "300s"
  persistence_netmask = "255.255.255.0"
  real_server "10.0.0.1" { weight = 2 }
  real_server "10.0.0.2" {
    forwarding = "tun"
    upper_threshold = 100
    lower_threshold = 10
  }
}
virtual_server "nat-udp" {
  address = "10.0.0.100"
  port = 53
  protocol = "udp"
  forwarding = "nat"
  scheduler = "rr"
  scheduler_flags = ["one-packet"]
  real_server "10.0.1.1" { port = 5353 }
}
virtual_server "sctp" {
  address = "10.0.0.100"
  port = 3868
  protocol = "sctp"
  scheduler = "sh"
  scheduler_flags = ["sh-port", "sh-fallback"]
  real_server "10.0.0.3" {}
}
virtual_server "fw" {
  fwmark = 7
  scheduler = "lc"
  persistence_timeout = "60s"
  real_server "10.0.0.4" {}
}
virtual_server "v6" {
  address = "2001:db8::100"
  port = 443
  scheduler = "mh"
  scheduler_flags = ["mh-port"]
  real_server "2001:db8::1" {}
}
`
	g := start(t, src)
	mustMatch(t, listing(t),
		`^TCP\s+10\.0\.0\.100:80 wrr persistent 300 mask 255\.255\.255\.0$`,
		`^\s+-> 10\.0\.0\.1:80\s+Route\s+2\s`,
		`^\s+-> 10\.0\.0\.2:80\s+Tunnel\s+1\s`,
		`^UDP\s+10\.0\.0\.100:53 rr ops$`,
		`^\s+-> 10\.0\.1\.1:5353\s+Masq\s+1\s`,
		`^SCTP\s+10\.0\.0\.100:3868 sh \(sh-fallback,sh-port\)$`,
		`^FWM\s+7 lc persistent 60$`,
		`^\s+-> 10\.0\.0\.4:0\s+Route\s+1\s`,
		`^TCP\s+\[2001:db8::100\]:443 mh \(mh-port\)$`,
		`^\s+-> \[2001:db8::1\]:443\s+Route\s+1\s`,
	)
	thresholds := ipvsadm(t, "-Ln", "--thresholds")
	mustMatch(t, thresholds, `^\s+-> 10\.0\.0\.2:80\s+100\s+10\s`)
	// What we read back is exactly what we wrote: a pass from a fresh
	// read is empty.
	g.k.take()
	if ops := g.flip(t, "none", true); len(ops) != 0 {
		t.Errorf("a pass after start wrote %s", kinds(ops))
	}
}

func testHealthFlip(t *testing.T) {
	g := start(t, `
virtual_server "inhibit" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wrr"
  real_server "10.0.0.12" { weight = 2 }
  real_server "10.0.0.13" { weight = 4 }
}
virtual_server "remove" {
  address = "10.0.0.100"
  port = 81
  on_failure = "remove"
  real_server "10.0.0.22" { weight = 2 }
  real_server "10.0.0.23" { weight = 4 }
}`)
	g.k.take()
	if ops := g.flip(t, "10.0.0.12", false); kinds(ops) != "update-dest" || ops[0].Dest.Weight != 0 {
		t.Fatalf("weight_zero flip wrote %s", kinds(ops))
	}
	mustMatch(t, listing(t), `^\s+-> 10\.0\.0\.12:80\s+Route\s+0\s`)
	if ops := g.flip(t, "10.0.0.22", false); kinds(ops) != "delete-dest" {
		t.Fatalf("remove flip wrote %s", kinds(ops))
	}
	if strings.Contains(listing(t), "10.0.0.22:81") {
		t.Error("removed real still listed")
	}
	if ops := g.flip(t, "10.0.0.12", true); kinds(ops) != "update-dest" || ops[0].Dest.Weight != 2 {
		t.Fatalf("recovery wrote %s", kinds(ops))
	}
	if ops := g.flip(t, "10.0.0.22", true); kinds(ops) != "create-dest" {
		t.Fatalf("recovery under remove wrote %s", kinds(ops))
	}
	mustMatch(t, listing(t), `^\s+-> 10\.0\.0\.12:80\s+Route\s+2\s`, `^\s+-> 10\.0\.0\.22:81\s+Route\s+2\s`)
	if ops := g.flip(t, "10.0.0.99", true); len(ops) != 0 {
		t.Fatalf("a no-op pass wrote %s", kinds(ops))
	}
}

func testSorryQuorum(t *testing.T) {
	g := start(t, `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  quorum = 3
  hysteresis = 1
  sorry_server = "10.0.0.99"
  real_server "10.0.0.1" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {}
  real_server "10.0.0.4" {}
}`)
	sorry := func() bool { return strings.Contains(listing(t), "10.0.0.99:80") }
	// writes are the flip's, in plan order: the failed real and the one
	// still up go to weight 0 as the sorry server comes in, and back.
	steps := []struct {
		addr   string
		up     bool
		sorry  bool
		writes string
	}{
		{"10.0.0.1", false, false, "update-dest"},                                                // 3 alive
		{"10.0.0.2", false, false, "update-dest"},                                                // 2: not below quorum − hysteresis
		{"10.0.0.3", false, true, "create-dest,update-dest,update-dest"},                         // 1: lost
		{"10.0.0.3", true, true, ""},                                                             // 2: not yet quorum + hysteresis
		{"10.0.0.2", true, true, ""},                                                             // 3: still below 4
		{"10.0.0.1", true, false, "update-dest,update-dest,update-dest,update-dest,delete-dest"}, // 4: regained
	}
	g.k.take() // start-up's
	for i, s := range steps {
		ops := g.flip(t, s.addr, s.up)
		if got := sorry(); got != s.sorry {
			t.Fatalf("step %d: sorry server listed %v, want %v\n%s", i, got, s.sorry, listing(t))
		}
		if got := kinds(ops); got != s.writes {
			t.Errorf("step %d: writes %s, want %s", i, got, s.writes)
		}
	}
	mustMatch(t, listing(t), `-> 10\.0\.0\.4:80\s+Route\s+1\s`)
}

// sorry_server_keep_reals, the opt-in to directord's old behaviour: losing
// quorum adds the sorry server and leaves the real still up at its weight;
// the flips write only the failed real and the sorry server.
func testSorryKeepReals(t *testing.T) {
	g := start(t, `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  quorum = 2
  sorry_server = "10.0.0.99"
  sorry_server_keep_reals = true
  real_server "10.0.0.1" {}
  real_server "10.0.0.2" {}
  real_server "10.0.0.3" {}
}`)
	g.k.take()
	g.flip(t, "10.0.0.1", false)
	if ops := g.flip(t, "10.0.0.2", false); kinds(ops) != "create-dest,update-dest" {
		t.Errorf("losing quorum wrote %v", ops)
	}
	mustMatch(t, listing(t), `-> 10\.0\.0\.3:80\s+Route\s+1\s`, `-> 10\.0\.0\.99:80\s+Route\s+1\s`, `-> 10\.0\.0\.2:80\s+Route\s+0\s`)
	if ops := g.flip(t, "10.0.0.2", true); kinds(ops) != "update-dest,delete-dest" {
		t.Errorf("regaining quorum wrote %v", ops)
	}
	if out := listing(t); strings.Contains(out, "10.0.0.99") {
		t.Errorf("sorry server left after quorum came back:\n%s", out)
	}
}

func testReload(t *testing.T) {
	g := start(t, `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wrr"
  real_server "10.0.0.1" { weight = 2 }
  real_server "10.0.0.2" { weight = 4 }
  real_server "10.0.0.3" {}
}
virtual_server "old" {
  address = "10.0.0.100"
  port = 8000
  real_server "10.0.0.1" {}
}`)
	g.k.take()
	next := parse(t, `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wlc"
  persistence_timeout = "120s"
  real_server "10.0.0.1" { weight = 5 }
  real_server "10.0.0.2" {
    weight = 4
    forwarding = "tun"
  }
  real_server "10.0.0.4" {}
}
virtual_server "new" {
  address = "10.0.0.100"
  port = 443
  real_server "10.0.0.1" {}
}`)
	if err := g.r.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	want := "create-service,update-service,create-dest,create-dest,update-dest,update-dest,delete-dest,delete-service"
	if got := kinds(g.k.take()); got != want {
		t.Fatalf("reload wrote %s\nwant %s", got, want)
	}
	mustMatch(t, listing(t),
		`^TCP\s+10\.0\.0\.100:80 wlc persistent 120$`,
		`^\s+-> 10\.0\.0\.1:80\s+Route\s+5\s`,
		`^\s+-> 10\.0\.0\.2:80\s+Tunnel\s+4\s`,
		`^\s+-> 10\.0\.0\.4:80\s+Route\s+1\s`,
		`^TCP\s+10\.0\.0\.100:443 wlc$`)
	if out := listing(t); strings.Contains(out, ":8000") || strings.Contains(out, "10.0.0.3:80") {
		t.Errorf("removed entries still listed:\n%s", out)
	}
}

func testAdoption(t *testing.T) {
	src := `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wrr"
  persistence_timeout = "300s"
  real_server "10.0.0.12" { weight = 2 }
  real_server "10.0.0.13" { weight = 4 }
}
virtual_server "fw" {
  fwmark = 3
  real_server "10.0.0.14" {}
}`
	first := start(t, src)
	first.cancel()
	before := listing(t)
	// A new daemon, as after kill -9 and restart: it must write nothing.
	second := start(t, src)
	if ops := second.k.take(); len(ops) != 0 {
		t.Fatalf("adoption wrote %s", kinds(ops))
	}
	if after := listing(t); after != before {
		t.Errorf("table changed on adoption:\n%s\nwas\n%s", after, before)
	}
}

func testDrift(t *testing.T) {
	g := start(t, `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  scheduler = "wrr"
  real_server "10.0.0.12" { weight = 2 }
  real_server "10.0.0.13" { weight = 4 }
}
ipvs {
  drift_check = "1s"
}`)
	ipvsadm(t, "-e", "-t", "10.0.0.100:80", "-r", "10.0.0.12:80", "-g", "-w", "9")
	ipvsadm(t, "-d", "-t", "10.0.0.100:80", "-r", "10.0.0.13:80")
	ipvsadm(t, "-E", "-t", "10.0.0.100:80", "-s", "rr")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := listing(t)
		if regexp.MustCompile(`(?m)^\s+-> 10\.0\.0\.12:80\s+Route\s+2\s`).MatchString(out) &&
			regexp.MustCompile(`(?m)^\s+-> 10\.0\.0\.13:80\s+Route\s+4\s`).MatchString(out) &&
			strings.Contains(out, "10.0.0.100:80 wrr") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drift not repaired:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, _, _ := g.r.Stats(context.Background())
	if st.DriftRepairs != 3 || st.DriftChecks == 0 {
		t.Errorf("stats %+v, want 3 repairs", st)
	}
}

func testForeign(t *testing.T) {
	ipvsadm(t, "-A", "-t", "10.0.0.100:8080", "-s", "rr")
	ipvsadm(t, "-a", "-t", "10.0.0.100:8080", "-r", "10.0.0.50:8080", "-m", "-w", "3")
	before := ipvsadm(t, "-Ln", "-t", "10.0.0.100:8080")
	g := start(t, `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  real_server "10.0.0.12" {}
}
ipvs {
  drift_check = "1s"
}`)
	if err := g.r.Reload(context.Background(), parse(t, `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  real_server "10.0.0.13" {}
}
ipvs {
  drift_check = "1s"
}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // through a drift check
	for _, op := range g.k.take() {
		if op.Service.Port == 8080 {
			t.Fatalf("wrote to the foreign service: %s", op)
		}
	}
	if after := ipvsadm(t, "-Ln", "-t", "10.0.0.100:8080"); after != before {
		t.Errorf("foreign service changed:\n%s\nwas\n%s", after, before)
	}
}

// More writes than one batch holds, with one bad write in the middle:
// exactly that one fails, the rest land.
func testBatchErrors(t *testing.T) {
	k, err := lvs.OpenKernel()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	s := lvs.Service{ServiceKey: lvs.ServiceKey{Family: ipvs.INET, Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80},
		Scheduler: "rr", Netmask: netmask.MaskFrom(32, 32)}
	ops := []lvs.Op{{Kind: lvs.CreateService, Service: s}}
	for i := range 600 {
		d := lvs.Destination{DestKey: lvs.DestKey{Addr: netip.AddrFrom4([4]byte{10, 1, byte(i / 200), byte(i%200 + 1)}), Port: 80},
			Family: ipvs.INET, Forward: ipvs.DirectRoute, Weight: 1}
		ops = append(ops, lvs.Op{Kind: lvs.CreateDest, Service: s, Dest: d})
	}
	ops[300] = lvs.Op{Kind: lvs.DeleteDest, Service: s, Dest: lvs.Destination{DestKey: lvs.DestKey{Addr: netip.MustParseAddr("10.9.9.9"), Port: 80}, Family: ipvs.INET}}
	errs := k.Write(ops)
	for i, err := range errs {
		if (err != nil) != (i == 300) {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	tbl, err := k.Read()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tbl[s.ServiceKey].Dests); n != 599 {
		t.Fatalf("%d destinations, want 599", n)
	}
}

func testTimeouts(t *testing.T) {
	src := `
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  real_server "10.0.0.12" {}
}
ipvs {
  tcp_timeout = "900s"
  udp_timeout = "60s"
}`
	g := start(t, src)
	mustMatch(t, ipvsadm(t, "-Ln", "--timeout"), `Timeout \(tcp tcpfin udp\): 900 \d+ 60`)
	g.cancel()
	// Already right: a restart does not set them again.
	start(t, src)
}

func TestNoIPVSHere(t *testing.T) {
	if uml.InGuest() {
		return
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS")
	}
	_, err := lvs.OpenKernel()
	if !errors.Is(err, lvs.ErrNoIPVS) || !strings.Contains(err.Error(), "modprobe ip_vs") {
		t.Fatalf("OpenKernel without IPVS = %v", err)
	}
}
