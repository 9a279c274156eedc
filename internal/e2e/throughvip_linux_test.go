package e2e

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"directord/internal/lab"
	"directord/internal/labnet"
)

// Checks through the VIP on real kernels: the seed's DR pair with every
// HTTP check through_vip, rs3 reached by tunnel (ipip) instead of direct
// routing, and rs2's VIP taken off its lo. rs2 still answers on its own
// address (a plain check would call it up), but both directors, the
// master holding the VIP and the backup without it, show it down at
// weight 0 in ipvsadm, while rs1 and rs3 stay up through the same VIP.
// With the VIP back on rs2's lo it comes back on both; rs3 with its
// tunnel down is down the same way, and back with it. ipvsadm shows one
// fwmark service per real, the backup's routing has a rule and route per
// real, the master has accept_local on; a stopped director leaves
// neither rule nor accept_local behind.
func TestChecksThroughTheVIP(t *testing.T) {
	bin, done := guestBinary(t)
	if done {
		return
	}
	dirs, reals, _ := lab.Seed()
	l, err := lab.Build(bin, "tvip", dirs, reals)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rs2 := l.Reals[1]
	vipOnLo := func(verb string) {
		t.Helper()
		if out, err := rs2.NS.Run("ip", "addr", verb, lab.VIP.String()+"/32", "dev", "lo"); err != nil {
			t.Fatalf("ip addr %s on rs2: %v %s", verb, err, out)
		}
	}
	vipOnLo("del")
	if v, _ := l.Hosts["lb1"].NS.Run("sysctl", "-n", "net.ipv4.conf.eth0.accept_local"); strings.TrimSpace(v) != "0" {
		t.Fatalf("lb1 eth0 accept_local = %q before the start, want 0", v)
	}
	// rs3 takes the VIP's packets out of an ipip tunnel (the VIP stays on
	// its lo); their outer source is the director, hence rp_filter off.
	rs3 := l.Reals[2]
	tunnel := func(state string) {
		t.Helper()
		if out, err := rs3.NS.Run("ip", "link", "set", "tunl0", state); err != nil {
			t.Fatalf("tunl0 %s on rs3: %v %s", state, err, out)
		}
	}
	tunnel("up")
	for _, k := range []string{"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/tunl0/rp_filter"} {
		if err := rs3.NS.Sysctl(k, "0"); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	start := func(name string, prio int) *lab.Director {
		d, err := l.NewDirectorWith(name, prio, dir, func(socket string) string {
			cfg := lab.DirectordConfig(name, prio, socket, lab.DefaultSettings, reals)
			cfg = strings.Replace(cfg, "  health_check \"http\" {\n", "  health_check \"http\" {\n    through_vip = true\n", 1)
			// A /32 VIP, as the seed has it: not a secondary of the
			// director's subnet, so its local route would make it the
			// source of a check sent to it.
			cfg = strings.Replace(cfg, `virtual_ips       = ["192.168.11.100/24"]`, `virtual_ips       = ["192.168.11.100/32"]`, 1)
			return strings.Replace(cfg, "real_server \"192.168.11.14\" {\n", "real_server \"192.168.11.14\" {\n    forwarding = \"tun\"\n", 1)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s:\n%s", name, d.Log())
			}
			d.Kill()
		})
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	lb1, lb2 := start("lb1", 150), start("lb2", 100)
	waitFor(t, "lb1 master", 5*time.Second, func() bool { return lb1.State("web") == "MASTER" })
	lbs := []*labnet.NS{lb1.Host.NS, lb2.Host.NS}

	for _, ns := range lbs {
		waitVIPWeight(t, ns, "192.168.11.12", 2)
		waitVIPWeight(t, ns, "192.168.11.14", 6)
		waitVIPWeight(t, ns, "192.168.11.13", 0)
	}
	// The master's checks pass through the VIP it holds: well past
	// fall × interval + timeout (500 ms), rs1 and rs3 are still at full
	// weight on lb1, and lb1 still master.
	time.Sleep(1500 * time.Millisecond)
	out, _ := lb1.Host.NS.Run("ipvsadm", "-Ln", "-t", lab.VIP.String()+":80")
	for addr, w := range map[string]string{"192.168.11.12": "2", "192.168.11.14": "6"} {
		m := regexp.MustCompile(`(?m)^\s+->\s+` + regexp.QuoteMeta(addr) + `:80\s+(?:Route|Tunnel)\s+(\d+)\s`).FindStringSubmatch(out)
		if m == nil || m[1] != w {
			t.Fatalf("lb1 (master) after 1.5 s: %s is not at weight %s, its check through the VIP fails:\n%s", addr, w, out)
		}
	}
	if st := lb1.State("web"); st != "MASTER" {
		t.Fatalf("lb1 is %s, want MASTER: the master's checks were not tested", st)
	}
	// rs2's own address answers: only the VIP is missing.
	ownAddressAnswers(t, lb1, "192.168.11.13")
	out, _ = lb1.Host.NS.Run("ipvsadm", "-Ln")
	t.Logf("lb1 (master), rs2 without the VIP on lo:\n%s", out)
	if n := len(regexp.MustCompile(`(?m)^FWM\s+\d+ rr ops\s*\n\s+-> 192\.168\.11\.1[23]:0\s+Route\s+1\s`).FindAllString(out, -1)); n != 2 {
		t.Errorf("ipvsadm shows %d one-real fwmark probe services by direct routing, want 2 (rs1, rs2)", n)
	}
	if !regexp.MustCompile(`(?m)^FWM\s+\d+ rr ops\s*\n\s+-> 192\.168\.11\.14:0\s+Tunnel\s+1\s`).MatchString(out) {
		t.Errorf("ipvsadm shows no probe service for rs3 by tunnel")
	}
	rules, _ := lb2.Host.NS.Run("ip", "rule")
	t.Logf("lb2 (backup) ip rule:\n%s", rules)
	marks := regexp.MustCompile(`(?m)^1000:\s+from all fwmark (0x[0-9a-f]+) lookup (\d+)`).FindAllStringSubmatch(rules, -1)
	if len(marks) != 3 {
		t.Fatalf("lb2 has %d through-VIP rules, want 3", len(marks))
	}
	routes, _ := lb2.Host.NS.Run("ip", "route", "show", "table", marks[0][2])
	t.Logf("lb2 ip route show table %s: %s", marks[0][2], routes)
	if !regexp.MustCompile(`^192\.168\.11\.100 via 192\.168\.11\.1[234] dev eth0 onlink`).MatchString(routes) {
		t.Errorf("table %s does not route the VIP through a real: %q", marks[0][2], routes)
	}
	if v, _ := lb1.Host.NS.Run("sysctl", "-n", "net.ipv4.conf.eth0.accept_local"); strings.TrimSpace(v) != "1" {
		t.Errorf("lb1 eth0 accept_local = %q, want 1", v)
	}
	if doc, err := lb1.Status(); err == nil {
		for _, rs := range doc.RealServers {
			t.Logf("lb1 status: %s %s up=%v %+v", rs.RealServer, rs.Check, rs.Up, rs.Last)
		}
	}

	vipOnLo("add")
	for _, ns := range lbs {
		waitVIPWeight(t, ns, "192.168.11.13", 4)
	}
	out, _ = lb1.Host.NS.Run("ipvsadm", "-Ln")
	t.Logf("lb1 with the VIP back on rs2's lo:\n%s", out)

	tunnel("down")
	for _, ns := range lbs {
		waitVIPWeight(t, ns, "192.168.11.14", 0)
	}
	ownAddressAnswers(t, lb1, "192.168.11.14")
	tunnel("up")
	for _, ns := range lbs {
		waitVIPWeight(t, ns, "192.168.11.14", 6)
	}

	if err := lb1.Term(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rules, _ := lb1.Host.NS.Run("ip", "rule"); strings.Contains(rules, "fwmark") {
		t.Errorf("lb1 stopped, its rules are left:\n%s", rules)
	}
	if v, _ := lb1.Host.NS.Run("sysctl", "-n", "net.ipv4.conf.eth0.accept_local"); strings.TrimSpace(v) != "0" {
		t.Errorf("lb1 stopped, eth0 accept_local = %q, want 0 as it was", v)
	}
}

// waitVIPWeight waits until ipvsadm shows the real at addr with weight
// want in the VIP's service (the probe services list every real too).
func waitVIPWeight(t *testing.T, ns *labnet.NS, addr string, want int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s+->\s+` + regexp.QuoteMeta(addr) + `:80\s+(?:Route|Tunnel)\s+(\d+)\s`)
	var out string
	if !poll(10*time.Second, func() bool {
		out, _ = ns.Run("ipvsadm", "-Ln", "-t", lab.VIP.String()+":80")
		m := re.FindStringSubmatch(out)
		return m != nil && m[1] == strconv.Itoa(want)
	}) {
		t.Fatalf("%s: %s never had weight %d:\n%s", ns.Name, addr, want, out)
	}
}

// ownAddressAnswers fails unless the real at addr answers HTTP on its own
// address, from d's namespace.
func ownAddressAnswers(t *testing.T, d *lab.Director, addr string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: d.Host.Dial}, Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("%s's own address does not answer: %v", addr, err)
	}
	resp.Body.Close()
}
