package config

import (
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
)

// MaxChecksPerReal bounds the health_check blocks of one virtual_server or
// real_server: each is a probe per real, and a real is up only while all
// pass.
const MaxChecksPerReal = 16

// healthChecks resolves a block's health_check blocks. A block that does
// not resolve is left out (its error is reported), so the others are
// still checked.
func (r *resolver) healthChecks(raws []*rawHealthCheck) []*HealthCheck {
	if len(raws) > MaxChecksPerReal {
		r.errAt(raws[MaxChecksPerReal].DefRange, "at most %d health_check blocks per virtual_server or real_server", MaxChecksPerReal)
	}
	var out []*HealthCheck
	for _, rh := range raws {
		if hc := r.healthCheck(rh); hc != nil {
			out = append(out, hc)
		}
	}
	return out
}

// firstCheck is the first of checks, or nil.
func firstCheck(checks []*HealthCheck) *HealthCheck {
	if len(checks) == 0 {
		return nil
	}
	return checks[0]
}

// fieldsFor lists the attributes each check type accepts beyond the common
// timing and address ones.
var fieldsFor = map[string][]string{
	CheckTCP:   {},
	CheckHTTP:  {"path", "method", "host", "status", "body_regex", "body_digest"},
	CheckHTTPS: {"path", "method", "host", "status", "body_regex", "body_digest", "tls_server_name", "ca_file", "insecure_skip_verify"},
	CheckExec:  {"command", "dynamic_weight"},
	CheckUDP:   {"payload", "require_reply", "reply_hex", "reply_regex"},
	CheckSMTP:  {"helo_name"},
	CheckDNS:   {"query_name", "query_type", "rcode", "answer"},
	CheckICMP:  {"count"},
}

// typeSpecific lists every attribute some check type has and others not.
func typeSpecific() []string {
	var out []string
	for _, fs := range fieldsFor {
		for _, f := range fs {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// checkTypeList is the check types for an error message, in the order
// the README lists them.
func checkTypeList() string {
	var q []string
	for _, t := range []string{CheckTCP, CheckHTTP, CheckHTTPS, CheckExec, CheckUDP, CheckSMTP, CheckDNS, CheckICMP} {
		q = append(q, `"`+t+`"`)
	}
	return strings.Join(q, ", ")
}

// heloName is a host name or an address literal ("[192.0.2.1]"): nothing
// that could end the HELO line and start another command.
var heloName = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9.])?|\[[0-9A-Fa-f:.]+\])$`)

func (r *resolver) smtpFields(b blk, rh *rawHealthCheck, hc *HealthCheck) {
	if rh.HeloName == nil {
		return
	}
	if !heloName.MatchString(*rh.HeloName) {
		b.errorf("helo_name", "helo_name %q is not a host name or [address]", *rh.HeloName)
	}
	hc.HeloName = *rh.HeloName
}

// DNSQueryTypes are the query types a dns check may ask (keepalived's
// and a few more); DNSRcodes the replies it may want.
var (
	DNSQueryTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "CAA"}
	DNSRcodes     = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}
)

// dnsLabel is one label of a query name: letters, digits, hyphens and
// underscores (SRV's "_sip"), at most 63.
var dnsLabel = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)

func (r *resolver) dnsFields(b blk, rh *rawHealthCheck, hc *HealthCheck) {
	// keepalived's DNS_CHECK defaults: the root's SOA.
	hc.QueryName = deref(rh.QueryName, ".")
	if !validQueryName(hc.QueryName) {
		b.errorf("query_name", "query_name %q is not a domain name", hc.QueryName)
	}
	hc.QueryType = strings.ToUpper(deref(rh.QueryType, "SOA"))
	if !slices.Contains(DNSQueryTypes, hc.QueryType) {
		b.errorf("query_type", "query_type must be one of %s, not %q", strings.Join(DNSQueryTypes, ", "), hc.QueryType)
	}
	hc.Rcode = strings.ToUpper(deref(rh.Rcode, "NOERROR"))
	if !slices.Contains(DNSRcodes, hc.Rcode) {
		b.errorf("rcode", "rcode must be one of %s, not %q", strings.Join(DNSRcodes, ", "), hc.Rcode)
	}
	hc.Answer = strings.TrimSpace(deref(rh.Answer, ""))
	if rh.Answer != nil && hc.Answer == "" {
		b.errorf("answer", "answer must not be empty")
	}
	if hc.Answer != "" && hc.Rcode != "NOERROR" {
		b.errorf("answer", "an answer comes only with rcode NOERROR, not %s", hc.Rcode)
	}
}

func validQueryName(name string) bool {
	if name == "." {
		return true
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return false
	}
	for _, l := range strings.Split(n, ".") {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// portless reports whether a check type ignores ports: it needs no
// connect_port for a fwmark real, and refuses one.
func portless(typ string) bool { return typ == CheckExec || typ == CheckICMP }

func (r *resolver) icmpFields(b blk, rh *rawHealthCheck, hc *HealthCheck) {
	// keepalived's PING_CHECK sends one echo request.
	hc.Count = b.intIn("count", rh.Count, 1, 1, 100)
	if rh.ConnectPort != nil {
		b.errorf("connect_port", "an icmp check has no port")
	}
}

// MaxUDPPayload is the largest datagram a udp check may send (IPv4's
// limit).
const MaxUDPPayload = 65507

func (r *resolver) udpFields(b blk, rh *rawHealthCheck, hc *HealthCheck) {
	if rh.Payload != nil {
		p := strings.ToLower(strings.TrimSpace(*rh.Payload))
		if v, err := hex.DecodeString(p); err != nil {
			b.errorf("payload", "payload must be hex bytes (\"0a1b...\"): %v", err)
		} else if len(v) > MaxUDPPayload {
			b.errorf("payload", "payload is %d bytes; a datagram carries at most %d", len(v), MaxUDPPayload)
		}
		hc.Payload = p
	}
	if rh.ReplyHex != nil {
		p := strings.ToLower(strings.TrimSpace(*rh.ReplyHex))
		if v, err := hex.DecodeString(p); err != nil || len(v) == 0 {
			b.errorf("reply_hex", "reply_hex must be hex bytes the reply starts with")
		}
		hc.ReplyHex = p
	}
	if rh.ReplyRegex != nil {
		if _, err := regexp.Compile(*rh.ReplyRegex); err != nil {
			b.errorf("reply_regex", "reply_regex does not compile: %v", err)
		}
		hc.ReplyRegex = *rh.ReplyRegex
	}
	matched := rh.ReplyHex != nil || rh.ReplyRegex != nil
	hc.RequireReply = deref(rh.RequireReply, matched)
	if !hc.RequireReply && matched {
		b.errorf("require_reply", "require_reply = false contradicts reply_hex or reply_regex, which need a reply")
	}
}
