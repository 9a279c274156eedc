package healthcheck

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"directord/internal/netnstest"
)

// zone answers as a small authoritative server would: www A, mx MX, the
// root's SOA, NXDOMAIN for gone, SERVFAIL for broken.
func zone(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	add := func(s string) {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	switch {
	case q.Name == "www.example.test." && q.Qtype == dns.TypeA:
		add("www.example.test. 60 IN A 192.0.2.10")
		add("www.example.test. 60 IN A 192.0.2.11")
	case q.Name == "example.test." && q.Qtype == dns.TypeMX:
		add("example.test. 60 IN MX 10 Mail.Example.Test.")
	case q.Name == "." && q.Qtype == dns.TypeSOA:
		add(". 60 IN SOA ns.test. admin.test. 1 3600 600 86400 60")
	case q.Name == "wrongid.example.test.":
		m.Id++
	case q.Name == "gone.example.test.":
		m.Rcode = dns.RcodeNameError
	default:
		m.Rcode = dns.RcodeServerFailure
	}
	w.WriteMsg(m)
}

// A dns check against a miekg/dns server in another network namespace:
// keepalived's default question (. SOA) is up, the rcode and an answer
// are checked, a closed port is refused and a server that never answers
// a timeout.
func TestDNSInNamespaces(t *testing.T) {
	lan := netnstest.NewLAN(t, map[string]string{"cli": "10.77.0.1/24", "srv": "10.77.0.2/24"})
	err := lan.Hosts["srv"].NS.Do(func() error {
		pc, err := net.ListenPacket("udp4", "10.77.0.2:53")
		if err != nil {
			return err
		}
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(zone)}
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
		mute, err := net.ListenPacket("udp4", "10.77.0.2:54")
		if err != nil {
			return err
		}
		t.Cleanup(func() { mute.Close() })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := func(target string, mod func(*Spec)) Spec {
		sp := Spec{Type: TypeDNS, Target: addrPort(t, target), Timeout: 2 * time.Second, Params: &Params{}}
		mod(&sp)
		return sp
	}
	var got []Result
	err = lan.Hosts["cli"].NS.Do(func() error {
		for _, sp := range []Spec{
			s("10.77.0.2:53", func(*Spec) {}),
			s("10.77.0.2:53", func(sp *Spec) { sp.QueryName, sp.QueryType, sp.Answer = "www.example.test", "A", "192.0.2.11" }),
			s("10.77.0.2:53", func(sp *Spec) { sp.QueryName, sp.QueryType, sp.Answer = "www.example.test", "a", "192.0.2.12" }),
			s("10.77.0.2:53", func(sp *Spec) { sp.QueryName, sp.QueryType, sp.Answer = "example.test.", "MX", "10 mail.example.test" }),
			s("10.77.0.2:53", func(sp *Spec) { sp.QueryName, sp.QueryType = "gone.example.test", "A" }),
			s("10.77.0.2:53", func(sp *Spec) { sp.QueryName, sp.QueryType, sp.Rcode = "gone.example.test", "A", "NXDOMAIN" }),
			s("10.77.0.2:53", func(sp *Spec) { sp.QueryName, sp.QueryType = "broken.example.test", "TXT" }),
			s("10.77.0.2:55", func(*Spec) {}),
			s("10.77.0.2:54", func(sp *Spec) { sp.Timeout = 300 * time.Millisecond }),
			s("10.77.0.2:53", func(sp *Spec) { sp.QueryName, sp.Timeout = "wrongid.example.test", 300*time.Millisecond }),
		} {
			got = append(got, check(t, sp))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, got[0], true, "NOERROR, 1 answers")
	expect(t, got[1], true, "answer 192.0.2.11")
	expect(t, got[2], false, "no answer 192.0.2.12 among 2")
	expect(t, got[3], true, "answer 10 mail.example.test")
	expect(t, got[4], false, "rcode NXDOMAIN, want NOERROR")
	expect(t, got[5], true, "NXDOMAIN, 0 answers")
	expect(t, got[6], false, "rcode SERVFAIL, want NOERROR")
	expect(t, got[7], false, "refused")
	expect(t, got[8], false, "timeout")
	if got[8].Latency < 250*time.Millisecond || got[8].Latency > time.Second {
		t.Errorf("timeout after %s, want about 300ms", got[8].Latency)
	}
	// A reply with another ID is not the answer: it is waited past.
	expect(t, got[9], false, "timeout")
}

func TestDNSSpecRefused(t *testing.T) {
	for _, s := range []Spec{
		{Type: TypeDNS, Params: &Params{QueryType: "BOGUS"}},
		{Type: TypeDNS, Params: &Params{Rcode: "MAYBE"}},
		{Type: TypeDNS, Params: &Params{QueryName: "a..b"}},
	} {
		if _, err := New(s); err == nil {
			t.Errorf("%+v was accepted", *s.Params)
		}
	}
}
