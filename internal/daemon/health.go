package daemon

import (
	"fmt"
	"net/netip"

	"directord/config"
	"directord/healthcheck"
)

// WatchID names a real server of a virtual server: "web/192.168.11.12:80".
func WatchID(vs *config.VirtualServer, rs *config.RealServer) string {
	return fmt.Sprintf("%s/%s", vs.Name, rs.Endpoint())
}

// HealthWatches lists one watch per real server that has a check. Reals
// of several services with identical checks share one probe, since their
// Specs are equal.
func HealthWatches(cfg *config.Config) []healthcheck.Watch {
	var out []healthcheck.Watch
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			if rs.HealthCheck == nil {
				continue
			}
			out = append(out, healthcheck.Watch{ID: WatchID(vs, rs), Spec: healthSpec(rs)})
		}
	}
	return out
}

func healthSpec(rs *config.RealServer) healthcheck.Spec {
	hc := rs.HealthCheck
	addr, port := rs.Address, rs.Port
	if hc.ConnectAddress.IsValid() {
		addr = hc.ConnectAddress
	}
	if hc.ConnectPort != 0 {
		port = hc.ConnectPort
	}
	s := healthcheck.Spec{
		Type:               hc.Type,
		Target:             netip.AddrPortFrom(addr, port),
		Real:               rs.Endpoint(),
		Bind:               hc.BindAddress,
		Interval:           hc.Interval.D(),
		Timeout:            hc.Timeout.D(),
		RetryDelay:         hc.RetryDelay.D(),
		Rise:               hc.Rise,
		Fall:               hc.Fall,
		InitialUp:          hc.InitialUp,
		Path:               hc.Path,
		Method:             hc.Method,
		Host:               hc.Host,
		BodyRegex:          hc.BodyRegex,
		BodyDigest:         hc.BodyDigest,
		TLSServerName:      hc.TLSServerName,
		CAFile:             hc.CAFile,
		InsecureSkipVerify: hc.InsecureSkipVerify,
		Command:            hc.Command,
	}
	for _, r := range hc.Status {
		s.Status = append(s.Status, healthcheck.StatusRange{Lo: r.Lo, Hi: r.Hi})
	}
	return s
}
