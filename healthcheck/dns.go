package healthcheck

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// dnsChecker asks one question over UDP, with recursion desired (as
// keepalived's DNS_CHECK), and wants the reply's rcode and, if set, an
// answer record whose data is answer.
type dnsChecker struct {
	target netip.AddrPort
	from   origin
	name   string
	qtype  uint16
	rcode  int
	answer string
}

func newDNSChecker(s Spec) (*dnsChecker, error) {
	c := &dnsChecker{target: s.Target, from: originOf(s), name: dns.Fqdn(s.QueryName), answer: s.Answer}
	if s.QueryName == "" {
		c.name = "."
	}
	if _, ok := dns.IsDomainName(c.name); !ok {
		return nil, fmt.Errorf("healthcheck: query_name %q is not a domain name", s.QueryName)
	}
	qt := s.QueryType
	if qt == "" {
		qt = "SOA"
	}
	var ok bool
	if c.qtype, ok = dns.StringToType[strings.ToUpper(qt)]; !ok {
		return nil, fmt.Errorf("healthcheck: unknown query_type %q", s.QueryType)
	}
	rc := s.Rcode
	if rc == "" {
		rc = "NOERROR"
	}
	if c.rcode, ok = dns.StringToRcode[strings.ToUpper(rc)]; !ok {
		return nil, fmt.Errorf("healthcheck: unknown rcode %q", s.Rcode)
	}
	return c, nil
}

func (c *dnsChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		m := new(dns.Msg)
		m.SetQuestion(c.name, c.qtype)
		d, err := c.from.dialer("udp")
		if err != nil {
			return Result{Reason: err.Error()}
		}
		cl := &dns.Client{Net: "udp", Dialer: d}
		r, _, err := cl.ExchangeContext(ctx, m, c.target.String())
		// Over UDP miekg/dns waits past a reply with another ID (a late
		// answer to an earlier probe): silence then is a timeout.
		switch {
		case err != nil:
			return Result{Reason: dialReason(ctx, err)}
		case r.Rcode != c.rcode:
			return Result{Reason: fmt.Sprintf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])}
		}
		if c.answer == "" {
			return Result{Up: true, Reason: fmt.Sprintf("%s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))}
		}
		for _, rr := range r.Answer {
			if rdataIs(rr, c.answer) {
				return Result{Up: true, Reason: fmt.Sprintf("%s, answer %s", dns.RcodeToString[r.Rcode], c.answer)}
			}
		}
		return Result{Reason: fmt.Sprintf("no answer %s among %d", c.answer, len(r.Answer))}
	})
}

// rdataIs reports whether rr's data, as a zone file writes it, is want:
// "192.0.2.1", "10 mail.example.com.". Case and a final dot of a name do
// not matter.
func rdataIs(rr dns.RR, want string) bool {
	data := strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
	return strings.EqualFold(strings.TrimSuffix(data, "."), strings.TrimSuffix(strings.TrimSpace(want), "."))
}
