// Package healthcheck probes real servers and decides, with rise and fall,
// which of them are up.
//
//   - A Checker is one probe against one target that honours its context's
//     deadline: tcp (connect), http and https (request, status, body),
//     udp (a datagram: an ICMP error is down, a reply may be required and
//     matched), smtp (banner, HELO, QUIT), dns (rcode, an answer), icmp (echo) and exec (a program; exit 0 is
//     up, and with dynamic weight 2–255 is up at weight status−2).
//   - A Monitor schedules probes: interval, timeout, rise/fall, retry
//     delay, an initial state, and start times spread over the first
//     interval on a grid of slots (slot in monitor.go), so that thousands
//     of checks a second cost twenty wake-ups, not thousands. It emits an
//     Event only when rise or fall says the state changed.
//   - TCP checks run on a connector (connector_linux.go): non-blocking
//     sockets in one epoll(7) instance whose descriptor the Go runtime's
//     poller watches, no goroutine per probe; half-open, as HAProxy's
//     (connect(2) with TCP_QUICKACK off, then SO_LINGER 0 and close(2):
//     the reset replaces the handshake's last ACK). The other types run
//     on worker goroutines.
//   - Identical checks (same type, target and parameters) declared under
//     several virtual servers are one probe with several subscribers
//     (keepalived issues #2111 and #2358).
//
// The rise/fall logic (state.go) is pure; the Monitor takes its clock from
// the time package, so tests run it under testing/synctest.
package healthcheck

import (
	"context"
	"crypto/sha256"
	"directord/internal/proc"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// Types of check.
const (
	TypeTCP   = "tcp"
	TypeHTTP  = "http"
	TypeHTTPS = "https"
	TypeExec  = "exec"
	TypeUDP   = "udp"
	TypeSMTP  = "smtp"
	TypeDNS   = "dns"
	TypeICMP  = "icmp"
)

// Result is the outcome of one probe.
type Result struct {
	Up bool `json:"up"`
	// Reason says why, in a few words: "connected", "refused",
	// "timeout", "status 503", "exit status 1".
	Reason  string        `json:"reason"`
	Latency time.Duration `json:"latency"`
	// Dynamic says an up result asks for Weight instead of the real's
	// configured weight: an exec check with dynamic weight that exited
	// 2–255 (keepalived's misc_dynamic).
	Dynamic bool `json:"dynamic,omitempty"`
	Weight  int  `json:"weight,omitempty"`
}

// Checker runs one probe against its target. It returns when the probe is
// done or ctx's deadline has passed, whichever comes first.
type Checker interface {
	Check(ctx context.Context) Result
}

// StatusRange is an inclusive range of accepted HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// Spec is everything that defines a probe. Specs with equal Keys are the
// same probe, whoever declared them.
type Spec struct {
	Type string
	// Target is where the probe connects (connect_address and
	// connect_port already applied).
	Target netip.AddrPort
	// Real is the real server the probe is about; exec checks get it in
	// their environment.
	Real netip.AddrPort
	Bind netip.Addr
	// Mark, if not 0, is set on the probe's socket (SO_MARK): a check
	// through the VIP has Target at the VIP, and the mark steers it to
	// Real (a one-real IPVS fwmark service and a policy route do).
	Mark uint32

	Interval, Timeout, RetryDelay time.Duration
	Rise, Fall                    int
	InitialUp                     bool

	// Params are the settings of the check types that have any (nil:
	// none, as a tcp check; the same Key as &Params{}). Its fields read
	// as the Spec's own (s.Path). One Params may be shared by the Specs
	// of every real of a health_check block, so it is read-only once
	// built: writing s.Path changes every real that shares it. A probe
	// keeps its Spec, and at 10,000 reals these 300 bytes a probe were
	// 3 MB of the daemon's heap.
	*Params
}

// Params are a check type's own settings (see Spec).
type Params struct {
	Path, Method, Host string
	Status             []StatusRange
	BodyRegex          string
	BodyDigest         string
	TLSServerName      string
	CAFile             string
	InsecureSkipVerify bool

	// PayloadHex is what a udp check sends, hex-encoded (the Spec stays
	// comparable text); RequireReply asks for an answer, ReplyHex one
	// that starts with these bytes, ReplyRegex one whose text matches.
	PayloadHex   string
	RequireReply bool
	ReplyHex     string
	ReplyRegex   string

	// HeloName is what an smtp check says in HELO.
	HeloName string

	// A dns check asks QueryName (default ".") of QueryType (default
	// SOA) and wants Rcode (default NOERROR) and, if set, an answer
	// record whose data is Answer.
	QueryName, QueryType, Rcode, Answer string

	// Count is how many echo requests an icmp check sends at most.
	Count int

	Command []string
	// DynamicWeight: an exec check's exit status 2–255 is up at weight
	// status−2, 1 is down, 0 up at the configured weight.
	DynamicWeight bool
	// User runs an exec check (nil: as the daemon).
	User *proc.User
}

// dynamic tells whether s is an exec check with dynamic weight.
func (s Spec) dynamic() bool { return s.Params != nil && s.DynamicWeight }

// Key is the probe's identity: a digest of its canonically encoded Spec
// (32 bytes, where the encoding itself is hundreds: it is kept per probe).
func (s Spec) Key() string {
	if s.Params == nil {
		s.Params = &Params{} // nil and no settings are one probe
	}
	// Encoded straight into the hash: at 10,000 reals a Marshal's copy
	// of each encoding was megabytes of garbage at every start and
	// reload.
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(s)
	return string(h.Sum(make([]byte, 0, sha256.Size)))
}

// Name is a short human name: "http 10.0.0.2:80", or for a check
// through the VIP "http 10.0.0.100:80 via 10.0.0.2".
func (s Spec) Name() string {
	if s.Mark != 0 {
		return s.Type + " " + s.Target.String() + " via " + s.Real.Addr().String()
	}
	return s.Type + " " + s.Target.String()
}

// New builds the Checker for s.
func New(s Spec) (Checker, error) {
	if s.Params == nil {
		s.Params = &Params{} // the type's defaults
	}
	switch s.Type {
	case TypeTCP:
		return &tcpChecker{target: s.Target, from: originOf(s)}, nil
	case TypeHTTP, TypeHTTPS:
		return newHTTPChecker(s)
	case TypeUDP:
		return newUDPChecker(s)
	case TypeICMP:
		return &icmpChecker{target: s.Target.Addr(), bind: s.Bind, count: s.Count}, nil
	case TypeDNS:
		return newDNSChecker(s)
	case TypeSMTP:
		return &smtpChecker{target: s.Target, from: originOf(s), helo: s.HeloName}, nil
	case TypeExec:
		return &execChecker{argv: s.Command, real: s.Real, target: s.Target, timeout: s.Timeout, user: s.User, dynamic: s.DynamicWeight}, nil
	}
	return nil, fmt.Errorf("healthcheck: unknown type %q", s.Type)
}

// timed runs a probe body and fills in the latency.
func timed(f func() Result) Result {
	start := time.Now()
	r := f()
	r.Latency = time.Since(start)
	return r
}
