package config

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
