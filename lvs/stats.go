package lvs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"github.com/cloudflare/ipvs"
)

// ServiceStats is a service as the kernel reports it, with its counters,
// for the status view and metrics (what `ipvsadm -Ln --stats --rate`
// shows).
type ServiceStats struct {
	Key       ServiceKey  `json:"-"`
	Name      string      `json:"service"`
	Scheduler string      `json:"scheduler"`
	Persist   uint32      `json:"persistence_timeout,omitempty"`
	Owned     bool        `json:"owned"`
	Stats     ipvs.Stats  `json:"stats"`
	Dests     []DestStats `json:"destinations"`
}

// DestStats is one destination with its counters.
type DestStats struct {
	Key           DestKey    `json:"-"`
	Name          string     `json:"destination"`
	Forward       string     `json:"forward"`
	Weight        uint32     `json:"weight"`
	ActiveConns   uint32     `json:"active_connections"`
	InactiveConns uint32     `json:"inactive_connections"`
	PersistConns  uint32     `json:"persistent_connections"`
	Stats         ipvs.Stats `json:"stats"`
}

// ForwardName is the forwarding method as ipvsadm prints it.
func ForwardName(f ipvs.ForwardType) string {
	switch f {
	case ipvs.Masquerade:
		return "Masq"
	case ipvs.Tunnel:
		return "Tunnel"
	case ipvs.DirectRoute:
		return "Route"
	case ipvs.Local:
		return "Local"
	}
	return strings.ToLower(f.String())
}

// readStats reads the whole table with counters from cloudflare/ipvs.
func readStats(c ipvs.Client) ([]ServiceStats, error) {
	svcs, err := c.Services()
	if isEmpty(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]ServiceStats, 0, len(svcs))
	for _, s := range svcs {
		ss, err := serviceStats(c, s)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, nil
}

// readServiceStats reads one service with counters: nil when the kernel
// has none with key.
func readServiceStats(c ipvs.Client, key ServiceKey) (*ServiceStats, error) {
	s, err := c.Service(Service{ServiceKey: key}.toIPVS())
	if isEmpty(err) || errors.Is(err, syscall.ESRCH) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ss, err := serviceStats(c, s)
	if err != nil {
		return nil, err
	}
	return &ss, nil
}

// serviceStats is s with its destinations and their counters.
func serviceStats(c ipvs.Client, s ipvs.ServiceExtended) (ServiceStats, error) {
	svc := serviceFromIPVS(s.Service)
	ss := ServiceStats{Key: svc.ServiceKey, Name: svc.ServiceKey.String(), Scheduler: svc.Scheduler,
		Persist: svc.Timeout, Stats: s.Stats64}
	dests, err := c.Destinations(s.Service)
	if err != nil && !isEmpty(err) {
		return ServiceStats{}, err
	}
	for _, d := range dests {
		dd := destFromIPVS(d.Destination)
		ss.Dests = append(ss.Dests, DestStats{Key: dd.DestKey, Name: dd.DestKey.String(), Forward: ForwardName(dd.Forward),
			Weight: dd.Weight, ActiveConns: d.ActiveConnections, InactiveConns: d.InactiveConnections,
			PersistConns: d.PersistentConnections, Stats: d.Stats64})
	}
	return ss, nil
}

// Table reads the kernel's table with counters and marks the services
// the reconciler owns (as its last pass left them). It does not run on
// the reconciler's goroutine: a dump takes tens of ms at 10,000
// services, and a health flip's write must not wait behind one, so the
// dump goes through ReadStats's own connection and the owned set comes
// from what the loop published.
func (r *Reconciler) Table(ctx context.Context) ([]ServiceStats, error) {
	if err := r.readable(ctx); err != nil {
		return nil, err
	}
	out, err := r.k.ReadStats()
	owned := r.ownedNow()
	for i := range out {
		out[i].Owned = owned[out[i].Key]
	}
	return out, err
}

// Service is Table for the service with key alone (nil when the kernel
// has none): what one real's status needs, without a dump of the
// whole table.
func (r *Reconciler) Service(ctx context.Context, key ServiceKey) (*ServiceStats, error) {
	if err := r.readable(ctx); err != nil {
		return nil, err
	}
	s, err := r.k.ReadServiceStats(key)
	if s != nil {
		s.Owned = r.ownedNow()[key]
	}
	return s, err
}

// readable says why the kernel is not to be read now: the reconciler
// stopped (its kernel is being closed) or ctx ended.
func (r *Reconciler) readable(ctx context.Context) error {
	select {
	case <-r.done:
		return errors.New("lvs: reconciler stopped")
	default:
	}
	return ctx.Err()
}

func (r *Reconciler) ownedNow() map[ServiceKey]bool {
	if p := r.ownedPub.Load(); p != nil {
		return *p
	}
	return nil
}
