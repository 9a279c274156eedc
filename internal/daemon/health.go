package daemon

import (
	"fmt"
	"net/netip"

	"directord/config"
	"directord/healthcheck"
	"directord/internal/proc"
)

// WatchID names a real server of a virtual server: "web/192.168.11.12:80".
func WatchID(vs *config.VirtualServer, rs *config.RealServer) string {
	// Not fmt.Sprintf: it is made for every real at every reload (tens
	// of thousands), twice.
	return vs.Name + "/" + rs.Endpoint().String()
}

// HealthWatches lists one watch per check of each real server, all under
// the real's WatchID: the monitor has it up while all are. Reals of
// several services with identical checks share one probe, since their
// Specs are equal. Exec checks run as script_user; it fails only when
// that user cannot be found.
func HealthWatches(cfg *config.Config) ([]healthcheck.Watch, error) {
	user, err := ScriptUser(cfg)
	if err != nil {
		return nil, err
	}
	// Sized once: appending 10,000 watches copied the list a dozen
	// times, megabytes of garbage at start-up.
	n := 0
	for i := range cfg.VirtualServers {
		for _, rs := range cfg.VirtualServers[i].RealServers {
			n += len(rs.HealthChecks)
		}
	}
	out := make([]healthcheck.Watch, 0, n)
	// One Params per health_check block, shared by its reals' Specs;
	// the tcp checks, which have none, share one empty one (never nil:
	// a field read through a nil one would panic).
	shared := map[*config.HealthCheck]*healthcheck.Params{}
	none := &healthcheck.Params{}
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			for _, hc := range rs.HealthChecks {
				p := shared[hc]
				if p == nil {
					p = none
					if hc.Type != config.CheckTCP {
						p = checkParams(cfg, hc, user)
					}
					shared[hc] = p
				}
				out = append(out, healthcheck.Watch{ID: WatchID(vs, rs), Spec: healthSpec(vs, rs, hc, p)})
			}
		}
	}
	return out, nil
}

// weight tells the reconciler the weight an up real's dynamic exec check
// asked for; ok is false for every other real (the configured weight).
func (d *Daemon) weight(id string) (uint32, bool) {
	w, ok := d.monitor.Weight(id)
	return uint32(w), ok
}

// ScriptUser is whom hooks, track scripts and exec checks run as: nil
// (the daemon, root) unless script_user names a user. A user that has
// gone since the file was loaded is an error, never a silent root.
func ScriptUser(cfg *config.Config) (*proc.User, error) {
	if cfg.Director.ScriptUser == "" {
		return nil, nil
	}
	u, err := proc.LookupUser(cfg.Director.ScriptUser)
	if err != nil {
		return nil, fmt.Errorf("script_user %q: %w", cfg.Director.ScriptUser, err)
	}
	return u, nil
}

func healthSpec(vs *config.VirtualServer, rs *config.RealServer, hc *config.HealthCheck, p *healthcheck.Params) healthcheck.Spec {
	addr, port := rs.Address, rs.Port
	if hc.ConnectAddress.IsValid() {
		addr = hc.ConnectAddress
	}
	if hc.ThroughVIP {
		// To the VIP, steered to this real by its mark.
		addr, port = vs.Address, vs.Port
	}
	if hc.ConnectPort != 0 {
		port = hc.ConnectPort
	}
	if hc.Type == config.CheckICMP {
		// No port (in Target or Real): the reals of one host under
		// several services are one probe.
		port = 0
	}
	s := healthcheck.Spec{
		Type:       hc.Type,
		Target:     netip.AddrPortFrom(addr, port),
		Real:       rs.Endpoint(),
		Bind:       hc.BindAddress,
		Interval:   hc.Interval.D(),
		Timeout:    hc.Timeout.D(),
		RetryDelay: hc.RetryDelay.D(),
		Rise:       hc.Rise,
		Fall:       hc.Fall,
		InitialUp:  hc.InitialUp,
		Params:     p,
	}
	if hc.Type == config.CheckICMP {
		s.Real = netip.AddrPortFrom(rs.Address, 0)
	}
	if hc.ThroughVIP {
		s.Mark = rs.ThroughVIPMark
	}
	return s
}

// checkParams are hc's type settings: the same for every real hc checks.
// An smtp check says the router_id in HELO unless helo_name is set, and
// an exec check runs as user.
func checkParams(cfg *config.Config, hc *config.HealthCheck, user *proc.User) *healthcheck.Params {
	p := &healthcheck.Params{
		Path:               hc.Path,
		Method:             hc.Method,
		Host:               hc.Host,
		BodyRegex:          hc.BodyRegex,
		BodyDigest:         hc.BodyDigest,
		TLSServerName:      hc.TLSServerName,
		CAFile:             hc.CAFile,
		InsecureSkipVerify: hc.InsecureSkipVerify,
		Command:            hc.Command,
		DynamicWeight:      hc.DynamicWeight,
		PayloadHex:         hc.Payload,
		RequireReply:       hc.RequireReply,
		ReplyHex:           hc.ReplyHex,
		ReplyRegex:         hc.ReplyRegex,
		HeloName:           hc.HeloName,
		QueryName:          hc.QueryName,
		QueryType:          hc.QueryType,
		Rcode:              hc.Rcode,
		Answer:             hc.Answer,
		Count:              hc.Count,
	}
	if hc.Type == config.CheckSMTP && p.HeloName == "" {
		p.HeloName = cfg.Director.RouterID
	}
	if hc.Type == config.CheckExec {
		p.User = user
	}
	for _, r := range hc.Status {
		p.Status = append(p.Status, healthcheck.StatusRange{Lo: r.Lo, Hi: r.Hi})
	}
	return p
}
