package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"directord/config"
	"directord/healthcheck"
	"directord/lvs"
	"directord/vrrp"
)

// StatusDoc is what GET /v1/status returns.
type StatusDoc struct {
	RouterID string    `json:"router_id"`
	Version  string    `json:"version"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	// Goroutines and OpenFDs show a leak before it hurts (the chaos
	// soak compares them at the start and the end of a long run).
	Goroutines  int                `json:"goroutines"`
	OpenFDs     int                `json:"open_fds"`
	Config      ConfigInfo         `json:"config"`
	LastReload  *ReloadResult      `json:"last_reload,omitempty"`
	Reloads     ReloadCounts       `json:"reloads"`
	VRRP        vrrp.Status        `json:"vrrp"`
	RealServers []RealServerStatus `json:"real_servers"`
	IPVS        *IPVSStatus        `json:"ipvs,omitempty"`
	BGP         *BGPStatus         `json:"bgp,omitempty"`
}

// ConfigInfo identifies the running configuration.
type ConfigInfo struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ReloadCounts counts reloads by outcome.
type ReloadCounts struct {
	Succeeded uint64 `json:"succeeded"`
	Failed    uint64 `json:"failed"`
}

// RealServerStatus is one real server of one virtual server.
type RealServerStatus struct {
	VirtualServer string `json:"virtual_server"`
	RealServer    string `json:"real_server"`
	Check         string `json:"check"`
	Up            bool   `json:"up"`
	// Weight is the configured weight; RuntimeWeight an operator's
	// override of it (directord weight); Drained an operator's drain,
	// Maintenance a maintenance_dir file's. EffectiveWeight is the
	// weight directord asks the kernel for: 0 while drained or down.
	Weight          int  `json:"weight"`
	RuntimeWeight   *int `json:"runtime_weight,omitempty"`
	Drained         bool `json:"drained"`
	Maintenance     bool `json:"maintenance"`
	EffectiveWeight int  `json:"effective_weight"`
	// InTable is the destination as the kernel's table has it (nil when
	// it is not there: removed on failure, or the table is unreadable).
	InTable   *DestInTable        `json:"in_table,omitempty"`
	Last      *healthcheck.Result `json:"last,omitempty"`
	LastCheck time.Time           `json:"last_check,omitzero"`
	Since     time.Time           `json:"since,omitzero"`
	Checks    uint64              `json:"checks"`
	// Probes are the real's checks one by one (Check joins their types
	// with "+", and the fields above combine them: down as a failing
	// one says).
	Probes []healthcheck.ProbeStatus `json:"probes,omitempty"`
}

// DestInTable is a real's destination as the kernel reports it.
type DestInTable struct {
	Weight        uint32 `json:"weight"`
	ActiveConns   uint32 `json:"active_connections"`
	InactiveConns uint32 `json:"inactive_connections"`
}

// IPVSStatus is the kernel's table as it reports it, and what the
// reconciler did.
type IPVSStatus struct {
	Error      string             `json:"error,omitempty"`
	Reconciler lvs.Stats          `json:"reconciler"`
	Services   []lvs.ServiceState `json:"services"`
	// Table is the kernel's table as a dump begun at TableReadAt read
	// it: at most a second old (tableMaxAge), shared with the metrics.
	Table       []lvs.ServiceStats `json:"table"`
	TableReadAt time.Time          `json:"table_read_at,omitzero"`
	// Sync is the connection synchronisation: the sync daemons and the
	// net.ipv4.vs settings.
	Sync *lvs.SyncStatus `json:"sync,omitempty"`
}

// serveStatus listens on the status socket: a unix socket for root only
// (mode 0600), since it also takes commands.
func (d *Daemon) serveStatus() (*http.Server, error) {
	path := d.config().Director.StatusSocket
	// A socket file left by a killed daemon would make listen fail; the
	// run lock, taken before, says it is not a live one.
	if err := removeStaleSocket(path); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/status", limitInFlight(http.HandlerFunc(d.handleStatus), maxScrapes, scrapeQueue))
	mux.HandleFunc("POST /v1/reload", d.handleReload)
	mux.HandleFunc("GET /v1/events", d.handleEvents)
	mux.HandleFunc("POST /v1/drain", d.handleChange)
	mux.HandleFunc("POST /v1/undrain", d.handleChange)
	mux.HandleFunc("POST /v1/weight", d.handleChange)
	mux.HandleFunc("GET /v1/real", d.handleReal)
	srv := newServer(mux, serverIdleTimeout)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("status socket stopped", "err", err)
		}
	}()
	return srv, nil
}

// serverIdleTimeout closes a client's idle keep-alive connection: a
// client that never closes its own (a new Transport per request) would
// otherwise hold a goroutine and a descriptor of the daemon's for good.
const serverIdleTimeout = 30 * time.Second

// newServer is the daemon's HTTP server for the status socket and the
// metrics: bounded header reads and idle connections.
func newServer(h http.Handler, idle time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: idle}
}

// openFDs counts this process's open file descriptors; -1 when /proc
// cannot say.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read
}

// Status gathers the status document.
func (d *Daemon) Status(ctx context.Context) (StatusDoc, error) {
	return d.status(ctx, true)
}

// status is Status; without probes, each real's Probes are left out
// (the metrics have no use for them, and at 10,000 reals they were 3 MB
// of every scrape).
func (d *Daemon) status(ctx context.Context, probes bool) (StatusDoc, error) {
	cfg := d.config()
	vs, err := d.router.Status(ctx)
	if err != nil {
		return StatusDoc{}, err
	}
	doc := StatusDoc{
		RouterID:   cfg.Director.RouterID,
		Version:    d.opts.Version,
		PID:        os.Getpid(),
		Started:    d.started,
		Goroutines: runtime.NumGoroutine(),
		OpenFDs:    openFDs(),
		Config:     ConfigInfo{Path: cfg.Path, SHA256: cfg.SHA256},
		Reloads:    ReloadCounts{Succeeded: d.reloadsOK.Load(), Failed: d.reloadsFailed.Load()},
		VRRP:       vs,
	}
	doc.LastReload = d.lastReload.Load()
	if r := d.recon.Load(); r != nil {
		// The counters and states are the reconciler's own, copied on
		// its goroutine (cheap); the table is the shared snapshot.
		is := &IPVSStatus{}
		is.Reconciler, is.Services, err = r.Stats(ctx)
		if err == nil {
			var snap *tableSnapshot
			if snap, err = d.tables.get(ctx); err == nil {
				is.Table, is.TableReadAt, err = snap.Table, snap.At, snap.Err
			}
		}
		if err != nil {
			is.Error = err.Error()
		}
		doc.IPVS = is
	}
	var table []lvs.ServiceStats
	if doc.IPVS != nil {
		table = doc.IPVS.Table
	}
	dests := indexTable(table)
	for i := range cfg.VirtualServers {
		v := &cfg.VirtualServers[i]
		for j := range v.RealServers {
			doc.RealServers = append(doc.RealServers, d.realStatus(v, &v.RealServers[j], dests, probes))
		}
	}
	if m := d.sync.Load(); m != nil {
		if doc.IPVS == nil {
			doc.IPVS = &IPVSStatus{}
		}
		st := m.Status()
		doc.IPVS.Sync = &st
	}
	doc.BGP = d.bgpStatus(ctx)
	return doc, nil
}

// realStatus is one real's health, weights and, from table, its
// destination in the kernel.
// destIndex finds a destination of the table by service and address.
type destIndex map[lvs.ServiceKey]map[lvs.DestKey]*lvs.DestStats

// indexTable indexes a table once per status: a lookup per real in the
// table itself was reals × destinations, 10⁸ steps per scrape at one
// service of 10,000 reals.
func indexTable(table []lvs.ServiceStats) destIndex {
	idx := make(destIndex, len(table))
	for i := range table {
		s := &table[i]
		m := make(map[lvs.DestKey]*lvs.DestStats, len(s.Dests))
		for j := range s.Dests {
			m[s.Dests[j].Key] = &s.Dests[j]
		}
		idx[s.Key] = m
	}
	return idx
}

func (d *Daemon) realStatus(v *config.VirtualServer, rs *config.RealServer, dests destIndex, probes bool) RealServerStatus {
	id := WatchID(v, rs)
	st := RealServerStatus{VirtualServer: v.Name, RealServer: rs.Endpoint().String(), Check: "none", Up: true, Weight: rs.Weight}
	if len(rs.HealthChecks) > 0 {
		st.Check = checkTypes(rs.HealthChecks)
		if probes {
			st.Probes = d.monitor.StatusesOf(id)
		}
		if ps, ok := d.monitor.StatusOf(id); ok {
			st.Up, st.LastCheck, st.Since, st.Checks = ps.Up, ps.LastCheck, ps.Since, ps.Checks
			if ps.Checks > 0 {
				last := ps.Last
				st.Last = &last
			}
		}
	}
	o, maint := d.runtime()[id], d.maintenance()[id]
	st.RuntimeWeight, st.Drained, st.Maintenance = o.Weight, o.Drained, maint
	if st.Up {
		st.EffectiveWeight = rs.Weight
		if w, ok := d.runtimeWeight(id); ok {
			st.EffectiveWeight = int(w)
		}
	}
	if dst := dests[ServiceFor(v).ServiceKey][lvs.DestKey{Addr: rs.Address, Port: rs.Port}]; dst != nil {
		st.InTable = &DestInTable{Weight: dst.Weight, ActiveConns: dst.ActiveConns, InactiveConns: dst.InactiveConns}
	}
	return st
}

// RealStatus is the status of one real server of one virtual server,
// named as for Drain, with its destination read from the kernel now:
// its service alone, which is cheap whatever the table's size, and
// exact, as drain --wait's polls and a change's answer need.
func (d *Daemon) RealStatus(ctx context.Context, vsName, rsName string) (RealServerStatus, error) {
	cfg := d.config()
	v, rs, err := lookupReal(cfg, vsName, rsName)
	if err != nil {
		return RealServerStatus{}, err
	}
	var table []lvs.ServiceStats
	if r := d.recon.Load(); r != nil {
		s, err := r.Service(ctx, ServiceFor(v).ServiceKey)
		if err != nil {
			return RealServerStatus{}, refuse(http.StatusServiceUnavailable, "cannot read the IPVS table: %w", err)
		}
		if s != nil {
			table = []lvs.ServiceStats{*s}
		}
	}
	return d.realStatus(v, rs, indexTable(table), true), nil
}

// readTable dumps the kernel's table for the snapshot (none without a
// reconciler: no virtual server).
func (d *Daemon) readTable(ctx context.Context) ([]lvs.ServiceStats, error) {
	if r := d.recon.Load(); r != nil {
		return r.Table(ctx)
	}
	return nil, nil
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	doc, err := d.Status(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

// handleReload reloads and answers with the result: 200 when it took,
// 422 when the file is invalid, 500 otherwise.
func (d *Daemon) handleReload(w http.ResponseWriter, r *http.Request) {
	if !d.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, ReloadResult{At: time.Now(), Error: "directord is still starting; reload once it is ready"})
		return
	}
	res := d.Reload(r.Context())
	code := http.StatusOK
	switch {
	case res.OK:
	case res.Diagnostics != "":
		code = http.StatusUnprocessableEntity
	default:
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// checkTypes names a real's checks: "http", or "http+exec" for several.
func checkTypes(hcs []*config.HealthCheck) string {
	types := make([]string, len(hcs))
	for i, hc := range hcs {
		types[i] = hc.Type
	}
	return strings.Join(types, "+")
}
