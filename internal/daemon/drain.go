package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"directord/config"
	"directord/lvs"
)

// ChangeRequest is the body of POST /v1/drain, /v1/undrain and
// /v1/weight. RealServer is the address, or address:port, as the
// configuration names the real; the address alone will do when only one
// real of the service has it. Weight is for /v1/weight: null removes the
// override, giving back the configured weight.
type ChangeRequest struct {
	VirtualServer string `json:"virtual_server"`
	RealServer    string `json:"real_server"`
	Weight        *int   `json:"weight,omitempty"`
}

// ErrorDoc is the body of a refused request.
type ErrorDoc struct {
	Error string `json:"error"`
}

// apiError is an error with the HTTP status the API answers it with,
// and the kind it is for errors.Is (kept out of the message, which says
// the same in its own words).
type apiError struct {
	code int
	kind error
	err  error
}

func (e *apiError) Error() string        { return e.err.Error() }
func (e *apiError) Unwrap() error        { return e.err }
func (e *apiError) Is(target error) bool { return e.kind != nil && target == e.kind }

func refuse(code int, format string, args ...any) error {
	return &apiError{code: code, err: fmt.Errorf(format, args...)}
}

func refuseAs(kind error, code int, format string, args ...any) error {
	return &apiError{code: code, kind: kind, err: fmt.Errorf(format, args...)}
}

// Errors of a change, for errors.Is.
var (
	ErrUnknownReal   = errors.New("unknown virtual or real server")
	ErrReloading     = errors.New("a reload is in flight")
	ErrWeightInRange = errors.New("weight out of range")
)

// lookupReal finds the real server rs ("10.0.0.2" or "10.0.0.2:80",
// "[2001:db8::2]:80") of virtual server vsName.
func lookupReal(cfg *config.Config, vsName, rs string) (*config.VirtualServer, *config.RealServer, error) {
	var vs *config.VirtualServer
	for i := range cfg.VirtualServers {
		if cfg.VirtualServers[i].Name == vsName {
			vs = &cfg.VirtualServers[i]
		}
	}
	if vs == nil {
		return nil, nil, refuseAs(ErrUnknownReal, http.StatusNotFound, "no virtual_server %q", vsName)
	}
	var match []*config.RealServer
	if ap, err := netip.ParseAddrPort(rs); err == nil {
		for j := range vs.RealServers {
			if vs.RealServers[j].Endpoint() == ap {
				match = append(match, &vs.RealServers[j])
			}
		}
	} else if a, err := netip.ParseAddr(strings.Trim(rs, "[]")); err == nil {
		for j := range vs.RealServers {
			if vs.RealServers[j].Address == a {
				match = append(match, &vs.RealServers[j])
			}
		}
	} else {
		return nil, nil, refuse(http.StatusBadRequest, "%q is not an address or address:port", rs)
	}
	switch len(match) {
	case 1:
		return vs, match[0], nil
	case 0:
		var have []string
		for j := range vs.RealServers {
			have = append(have, vs.RealServers[j].Endpoint().String())
		}
		return nil, nil, refuseAs(ErrUnknownReal, http.StatusNotFound, "virtual_server %q has no real_server %s (it has %s)",
			vsName, rs, strings.Join(have, ", "))
	}
	return nil, nil, refuse(http.StatusBadRequest, "virtual_server %q has %s on several ports: name one as address:port", vsName, rs)
}

// Drain sets a real's weight to 0 at run time: its established
// connections go on, new ones go to the others.
func (d *Daemon) Drain(ctx context.Context, vs, rs string) (RealServerStatus, error) {
	return d.change(ctx, vs, rs, "drain", func(o Override) (Override, error) {
		o.Drained = true
		return o, nil
	})
}

// Undrain ends a drain: the real gets its override or configured weight
// back (a maintenance file, if any, still drains it).
func (d *Daemon) Undrain(ctx context.Context, vs, rs string) (RealServerStatus, error) {
	return d.change(ctx, vs, rs, "undrain", func(o Override) (Override, error) {
		o.Drained = false
		return o, nil
	})
}

// SetWeight overrides a real's configured weight at run time; nil
// removes the override.
func (d *Daemon) SetWeight(ctx context.Context, vs, rs string, w *int) (RealServerStatus, error) {
	if w != nil && (*w < 0 || *w > MaxWeight) {
		return RealServerStatus{}, refuseAs(ErrWeightInRange, http.StatusBadRequest, "weight must be between 0 and %d, not %d", MaxWeight, *w)
	}
	return d.change(ctx, vs, rs, "weight", func(o Override) (Override, error) {
		o.Weight = w
		return o, nil
	})
}

// change applies one operator change: it is refused while a reload is in
// flight (the real named may be the one the reload removes), saved to
// the state file before it takes effect (a change that could not be
// saved would be undone by the next restart), then given to the
// reconciler.
func (d *Daemon) change(ctx context.Context, vsName, rsName, what string, fn func(Override) (Override, error)) (RealServerStatus, error) {
	if !d.ready.Load() {
		return RealServerStatus{}, refuse(http.StatusServiceUnavailable, "directord is still starting; try again once it is ready")
	}
	if d.reloading.Load() {
		return RealServerStatus{}, refuseAs(ErrReloading, http.StatusConflict, "a reload is in flight; try again once it is done")
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg := d.config()
	vs, rs, err := lookupReal(cfg, vsName, rsName)
	if err != nil {
		return RealServerStatus{}, err
	}
	id := WatchID(vs, rs)
	st := d.runtime()
	o, err := fn(st[id])
	if err != nil {
		return RealServerStatus{}, err
	}
	next := st.with(id, o)
	if err := saveState(d.statePath(), next); err != nil {
		return RealServerStatus{}, refuse(http.StatusInternalServerError, "%s not applied: %w", what, err)
	}
	d.state.Store(&next)
	eff := effectiveWeight(rs.Weight, o, d.maintenance()[id])
	d.log.Info("real server "+what, "real", id, "drained", o.Drained, "weight_override", weightString(o.Weight),
		"effective_weight", eff)
	d.publishDrain(what, id, eff)
	d.pushSpec(ctx, cfg)
	return d.RealStatus(ctx, vsName, rs.Endpoint().String())
}

// pushSpec gives the reconciler the table with the current overrides.
// The caller holds reloadMu.
func (d *Daemon) pushSpec(ctx context.Context, cfg *config.Config) {
	if r := d.recon.Load(); r != nil {
		if err := r.Reload(context.WithoutCancel(ctx), d.ipvsSpec(cfg)); err != nil {
			d.log.Error("IPVS: the reconciler did not take the new weights", "err", err)
		}
		// The status an operator asks for next shows this write.
		d.tables.invalidate()
	}
}

// weightString is an override for the log: the number, or "none".
func weightString(w *int) string {
	if w == nil {
		return "none"
	}
	return fmt.Sprint(*w)
}

func (d *Daemon) runtime() runtimeState {
	if p := d.state.Load(); p != nil {
		return *p
	}
	return nil
}

func (d *Daemon) maintenance() map[string]bool {
	if p := d.maint.Load(); p != nil {
		return *p
	}
	return nil
}

func (d *Daemon) statePath() string { return StatePath(d.first.Director.StatusSocket) }

// loadRuntime loads the state file at start and drops the reals the
// configuration no longer has. A file that cannot be read is logged and
// left for the next change to replace: the director starts either way.
func (d *Daemon) loadRuntime(cfg *config.Config) {
	st, err := loadState(d.statePath())
	if err != nil {
		// Kept aside, not overwritten by the next change: it may hold
		// drains an operator must put back by hand.
		bad := fmt.Sprintf("%s.bad-%d", d.statePath(), time.Now().Unix())
		if rerr := os.Rename(d.statePath(), bad); rerr == nil {
			d.log.Error("runtime state not loaded; no real is drained or reweighted by it; the file is kept", "err", err, "kept_as", bad)
		} else {
			d.log.Error("runtime state not loaded; no real is drained or reweighted by it", "err", err)
		}
		st = runtimeState{}
	}
	d.state.Store(&st)
	d.pruneRuntime(cfg)
	for id, o := range d.runtime() {
		d.log.Info("runtime override restored", "real", id, "drained", o.Drained, "weight_override", weightString(o.Weight))
	}
}

// pruneRuntime drops the overrides of reals cfg no longer declares (a
// reload removed them, or the file changed while the daemon was down).
func (d *Daemon) pruneRuntime(cfg *config.Config) {
	next, dropped := d.runtime().pruned(cfg)
	if len(dropped) == 0 {
		return
	}
	for _, id := range dropped {
		d.log.Warn("runtime override dropped: the configuration no longer has this real server", "real", id)
	}
	if err := saveState(d.statePath(), next); err != nil {
		d.log.Error("runtime state not saved", "err", err)
	}
	d.state.Store(&next)
}

// runtimeWeight is the reconciler's WeightFunc: the weight an up real
// asks for. A drain (operator or maintenance file) is 0 and an operator's
// weight replaces the configured one, both whatever an exec check's
// dynamic weight says; without either, the dynamic weight if any (ok
// false: the configured weight).
func (d *Daemon) runtimeWeight(id string) (uint32, bool) {
	o, maint := d.runtime()[id], d.maintenance()[id]
	if o.Drained || maint || o.Weight != nil {
		return uint32(effectiveWeight(0, o, maint)), true
	}
	return d.weight(id)
}

// ipvsSpec is IPVSSpec with the operators' overrides and maintenance
// drains applied.
func (d *Daemon) ipvsSpec(cfg *config.Config) lvs.Spec {
	return withOverrides(IPVSSpec(cfg), d.runtime(), d.maintenance())
}

// handleChange serves POST /v1/drain, /v1/undrain and /v1/weight.
func (d *Daemon) handleChange(w http.ResponseWriter, r *http.Request) {
	var req ChangeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, ErrorDoc{Error: "bad request body: " + err.Error()})
		return
	}
	var st RealServerStatus
	var err error
	switch r.URL.Path {
	case "/v1/drain":
		st, err = d.Drain(r.Context(), req.VirtualServer, req.RealServer)
	case "/v1/undrain":
		st, err = d.Undrain(r.Context(), req.VirtualServer, req.RealServer)
	default:
		st, err = d.SetWeight(r.Context(), req.VirtualServer, req.RealServer, req.Weight)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleReal serves GET /v1/real?virtual_server=…&real_server=…: one
// real's status with its connection counts, what drain --wait polls.
func (d *Daemon) handleReal(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st, err := d.RealStatus(r.Context(), q.Get("virtual_server"), q.Get("real_server"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var ae *apiError
	if errors.As(err, &ae) {
		code = ae.code
	}
	writeJSON(w, code, ErrorDoc{Error: err.Error()})
}
