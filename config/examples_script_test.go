package config

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"directord/internal/testenv"
)

// The nat example's check-dns script does what its exec check needs: exit
// 0 when the real server resolves the name, 1 with the status when it
// answers SERVFAIL, 1 when nobody answers.
func TestNATExampleCheckDNS(t *testing.T) {
	testenv.RequireCommand(t, "dig")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if req.Question[0].Name == "example.com." {
			rr, _ := dns.NewRR("example.com. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeServerFailure
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	port := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := strconv.Itoa(closed.LocalAddr().(*net.UDPAddr).Port)
	closed.Close()
	run := func(name, port string) (int, string) {
		cmd := exec.Command("../examples/nat/check-dns", name)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "DIRECTORD_CHECK_ADDRESS=127.0.0.1", "DIRECTORD_CHECK_PORT=" + port}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run("example.com", port); code != 0 {
		t.Errorf("a resolving server: exit %d (%s), want 0", code, out)
	}
	if code, out := run("broken.example.com", port); code != 1 || !strings.Contains(out, "SERVFAIL") {
		t.Errorf("SERVFAIL: exit %d (%q), want 1 naming SERVFAIL", code, out)
	}
	if code, out := run("example.com", closedPort); code != 1 {
		t.Errorf("nobody answering: exit %d (%s), want 1", code, out)
	}
}
