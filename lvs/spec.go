package lvs

import "time"

// Spec is what the reconciler keeps the kernel's table equal to: the
// virtual services, in the kernel's own terms, and the table's settings.
// The daemon makes it from the configuration (its one translation); lvs
// knows nothing of the configuration file.
type Spec struct {
	Services []VirtualService
	// Timeouts are the connection timeouts; a zero one leaves the
	// kernel's.
	Timeouts Timeouts
	// DriftCheck is how often the table is read back to repair changes
	// made by hand.
	DriftCheck time.Duration
	// Probes are the services that steer checks through the VIP.
	Probes []Probe
	// Owns, if set, claims services the spec does not declare: those
	// in the kernel that it accepts are deleted (the probe services a
	// killed daemon left, by their mark range).
	Owns func(ServiceKey) bool
}

// Probe is a one-real fwmark service: a packet the director itself sends
// with socket mark Mark, to any address, goes to Dest alone. IPVS
// schedules locally sent packets in its LOCAL_OUT hook, before the local
// table would deliver a packet for a VIP this director holds, and direct
// routing or a tunnel keeps the VIP as the destination: so a check
// through the VIP reaches its real server on the master as well as on the
// backup. A probe is in the table whatever the real's health, since its
// check must reach a failed real to see it recover.
type Probe struct {
	Mark uint32
	// Dest is the real as the probe reaches it: its address and
	// forwarding method (direct routing or tunnel). Port and weight are
	// the probe's own (0 and 1).
	Dest Destination
}

// Timeouts are ipvsadm --set's tcp, tcpfin and udp.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// VirtualService is one declared service: the kernel's service, its
// reals, and what happens when they fail.
type VirtualService struct {
	Name    string
	Service Service
	Reals   []Real
	// OnFailure says what a failed real becomes.
	OnFailure OnFailure
	// Quorum is the sum of the weights of the reals that must be up;
	// below quorum − Hysteresis it is lost, at quorum + Hysteresis it is
	// back (keepalived's rule).
	Quorum, Hysteresis int
	// Sorry, if set, is the sorry server: what the service falls back
	// to while quorum is lost.
	Sorry *Sorry
}

// Sorry is a sorry server (keepalived's sorry_server) and how it takes
// over.
type Sorry struct {
	// Dest is the sorry server as the kernel has it while in use.
	Dest Destination
	// Inhibit keeps it in the table at weight 0 while quorum holds
	// (keepalived's sorry_server_inhibit) instead of leaving it out, so
	// its connections from the last outage drain rather than break.
	Inhibit bool
	// KeepReals leaves the reals that are still up in the table beside
	// it while quorum is lost. keepalived has no such option: it treats
	// them as failed (removed, or weight 0 under inhibit_on_failure), so
	// all new connections go to the sorry server.
	KeepReals bool
}

// Real is a real server: its destination as the kernel has it when up,
// and the name its health is asked by.
type Real struct {
	Dest  Destination
	Check string
}

// OnFailure is what a failed real becomes.
type OnFailure int

// What a failed real becomes.
const (
	// WeightZero keeps it at weight 0 (keepalived's
	// inhibit_on_failure): established connections live on, new ones
	// go elsewhere.
	WeightZero OnFailure = iota
	// Remove deletes it from the table.
	Remove
)
