package daemon

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"directord/healthcheck"
	"directord/lvs"
	"directord/vrrp"
)

// metrics holds the Prometheus registry. Health check latencies are
// observed as they happen; everything else is read at scrape time from
// the status document, so metrics and the status API never disagree:
// the subsystems' own counters, and the kernel's IPVS table from the
// snapshot they share (at most a second old, one dump for every scrape
// and status request of that second, made off the reconciler's
// goroutine so that no health flip's write waits behind a scrape).
type metrics struct {
	d       *Daemon
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
	results *prometheus.CounterVec
	// checks holds each check type's series of latency and results
	// (type → *checkSeries): WithLabelValues hashes its labels and takes
	// the vector's lock, twice a probe, at thousands of probes a second.
	checks sync.Map
	descs  map[string]*prometheus.Desc
}

type checkSeries struct {
	latency  prometheus.Observer
	up, down prometheus.Counter
}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		d:   d,
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "directord_healthcheck_duration_seconds",
			Help:    "Time a health check probe took, by check type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"type"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "directord_healthcheck_results_total",
			Help: "Health check probe results, by check type and result.",
		}, []string{"type", "result"}),
		descs: map[string]*prometheus.Desc{},
	}
	desc := func(name, help string, labels ...string) {
		m.descs[name] = prometheus.NewDesc(name, help, labels, nil)
	}
	desc("directord_build_info", "Always 1; the version label says which directord runs.", "version")
	desc("directord_reloads_total", "Configuration reloads, by result.", "result")
	// A counter says a reload failed at some time; this says whether the
	// daemon runs the file on disk now, which is what an alert needs (a
	// failed reload followed by a good one is nothing to wake up for).
	desc("directord_config_last_reload_successful", "0 while the last reload failed (the daemon runs the previous configuration, not the file on disk), else 1.")
	desc("directord_vrrp_state", "1 for the state each VRRP instance is in, 0 for the others.", "instance", "state")
	// The protocol identity of an instance, to be joined with its state:
	// two directors' instances are the same virtual router when their
	// VRID, family and LAN agree, whatever each calls it, so a split
	// brain can only be seen across directors by these labels.
	desc("directord_vrrp_instance_info", "Always 1; labels say which virtual router an instance is (VRID, address family, interface, VRRP version).", "instance", "interface", "vrid", "family", "version")
	desc("directord_vrrp_priority", "Effective VRRP priority (configured plus tracking).", "instance")
	desc("directord_vrrp_configured_priority", "Configured VRRP priority.", "instance")
	desc("directord_vrrp_transitions_total", "VRRP state transitions, by state entered.", "instance", "state")
	desc("directord_vrrp_adverts_sent_total", "VRRP advertisements sent.", "instance")
	desc("directord_vrrp_advert_send_errors_total", "VRRP advertisements the kernel refused to send; three in a row put the instance in FAULT.", "instance")
	desc("directord_vrrp_adverts_received_total", "VRRP advertisements received and accepted.", "instance")
	desc("directord_vrrp_adverts_dropped_total", "VRRP packets dropped, by reason (RFC 9568 section 7.1).", "instance", "reason")
	desc("directord_vrrp_vips_restored_total", "VIPs removed by someone else while master and put back.", "instance")
	desc("directord_vrrp_garps_sent_total", "Gratuitous ARP packets sent.", "instance")
	desc("directord_ipvs_writes_total", "IPVS netlink writes made by the reconciler.")
	desc("directord_ipvs_write_errors_total", "IPVS netlink writes that failed.")
	desc("directord_ipvs_drift_repairs_total", "IPVS writes that repaired changes made by hand.")
	desc("directord_bgp_session_established", "1 while the BGP session with a router is established.", "peer")
	desc("directord_bgp_announced", "1 for each prefix announced to the routers now.", "prefix")
	desc("directord_ipvs_sync_daemon_running", "1 while the kernel runs the IPVS connection-sync daemon of a role (master, backup).", "role", "interface", "sync_id")
	desc("directord_ipvs_sync_daemon_wanted", "1 when the configuration (and, when following VRRP, the role) asks for the sync daemon of a role.", "role")
	desc("directord_ipvs_sync_daemon_changes_total", "Sync daemons started and stopped by directord.", "change")
	desc("directord_ipvs_sync_errors_total", "Failed attempts to apply the sync daemons or net.ipv4.vs settings.")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.latency, m.results, m,
	)
	return m
}

func (m *metrics) observeCheck(s healthcheck.Spec, r healthcheck.Result) {
	cs := m.checkSeries(s.Type)
	cs.latency.Observe(r.Latency.Seconds())
	if r.Up {
		cs.up.Inc()
	} else {
		cs.down.Inc()
	}
}

// checkSeries returns a check type's series, made on its first probe.
func (m *metrics) checkSeries(typ string) *checkSeries {
	if cs, ok := m.checks.Load(typ); ok {
		return cs.(*checkSeries)
	}
	cs, _ := m.checks.LoadOrStore(typ, &checkSeries{
		latency: m.latency.WithLabelValues(typ),
		up:      m.results.WithLabelValues(typ, "up"),
		down:    m.results.WithLabelValues(typ, "down"),
	})
	return cs.(*checkSeries)
}

// staticMetrics are the families metrics.Collect gives; the others of
// descs are the status document's (docMetrics).
var staticMetrics = []string{"directord_build_info", "directord_reloads_total", "directord_config_last_reload_successful"}

// Describe sends the descriptions of Collect's metrics.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, name := range staticMetrics {
		ch <- m.descs[name]
	}
}

// Collect gives the metrics that need no status document.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	emit := func(name string, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(m.descs[name], t, v, labels...)
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	emit("directord_build_info", gauge, 1, m.d.opts.Version)
	emit("directord_reloads_total", counter, float64(m.d.reloadsOK.Load()), "success")
	emit("directord_reloads_total", counter, float64(m.d.reloadsFailed.Load()), "failure")
	lastOK := 1.0
	if r := m.d.lastReload.Load(); r != nil && !r.OK {
		lastOK = 0
	}
	emit("directord_config_last_reload_successful", gauge, lastOK)
}

// docMetrics are the families of one scrape's status document with a
// series per VRRP instance, BGP peer or sync daemon: few. (The ones with
// a series per real server, service or destination are streamed: see
// streamed.) It describes nothing: an unchecked collector, made anew
// for each scrape.
type docMetrics struct {
	m   *metrics
	doc *StatusDoc
}

func (docMetrics) Describe(chan<- *prometheus.Desc) {}

func (c docMetrics) Collect(ch chan<- prometheus.Metric) {
	emit := func(name string, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.m.descs[name], t, v, labels...)
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	doc := c.doc
	for _, in := range doc.VRRP.Instances {
		for _, s := range []vrrp.State{vrrp.Initialize, vrrp.Backup, vrrp.Master, vrrp.Fault} {
			v := 0.0
			if in.State == s.String() {
				v = 1
			}
			emit("directord_vrrp_state", gauge, v, in.Name, s.String())
			emit("directord_vrrp_transitions_total", counter, float64(in.TransitionCounts[s.String()]), in.Name, s.String())
		}
		emit("directord_vrrp_instance_info", gauge, 1, in.Name, in.Interface, strconv.Itoa(int(in.VRID)), instanceFamily(in), strconv.Itoa(in.Version))
		emit("directord_vrrp_priority", gauge, float64(in.EffectivePriority), in.Name)
		emit("directord_vrrp_configured_priority", gauge, float64(in.Priority), in.Name)
		emit("directord_vrrp_adverts_sent_total", counter, float64(in.AdvertsSent), in.Name)
		emit("directord_vrrp_advert_send_errors_total", counter, float64(in.SendErrors), in.Name)
		emit("directord_vrrp_adverts_received_total", counter, float64(in.AdvertsReceived), in.Name)
		for reason, n := range in.Drops {
			emit("directord_vrrp_adverts_dropped_total", counter, float64(n), in.Name, string(reason))
		}
		emit("directord_vrrp_vips_restored_total", counter, float64(in.VIPsRestored), in.Name)
		emit("directord_vrrp_garps_sent_total", counter, float64(in.GARPsSent), in.Name)
	}
	if b := doc.BGP; b != nil {
		for _, p := range b.Peers {
			v := 0.0
			if p.State == "established" {
				v = 1
			}
			emit("directord_bgp_session_established", gauge, v, p.Address.String())
		}
		for _, r := range b.Announced {
			prefix, _, _ := strings.Cut(r, " ")
			emit("directord_bgp_announced", gauge, 1, prefix)
		}
	}
	if doc.IPVS == nil {
		return
	}
	if sy := doc.IPVS.Sync; sy != nil {
		collectSync(emit, sy)
	}
	st := doc.IPVS.Reconciler
	emit("directord_ipvs_writes_total", counter, float64(st.Writes))
	emit("directord_ipvs_write_errors_total", counter, float64(st.WriteErrors))
	emit("directord_ipvs_drift_repairs_total", counter, float64(st.DriftRepairs))
}

// instanceFamily is "ipv4" or "ipv6", from the instance's VIPs (one
// family per instance): a VRID names one virtual router per family on a
// LAN (RFC 9568: the families are domains of their own), so the
// split-brain alert groups by it.
func instanceFamily(in vrrp.InstanceStatus) string {
	if len(in.VIPs) > 0 {
		if p, err := netip.ParsePrefix(in.VIPs[0]); err == nil && vrrp.FamilyOf(p.Addr()) == vrrp.IPv6 {
			return "ipv6"
		}
	}
	return "ipv4"
}

func collectSync(emit func(string, prometheus.ValueType, float64, ...string), sy *lvs.SyncStatus) {
	for _, st := range []lvs.SyncState{lvs.SyncMaster, lvs.SyncBackup} {
		wanted := 0.0
		for _, w := range sy.Wanted {
			if w.State == st {
				wanted = 1
			}
		}
		emit("directord_ipvs_sync_daemon_wanted", prometheus.GaugeValue, wanted, st.String())
	}
	for _, d := range sy.Running {
		emit("directord_ipvs_sync_daemon_running", prometheus.GaugeValue, 1, d.State.String(), d.Interface, strconv.Itoa(int(d.SyncID)))
	}
	emit("directord_ipvs_sync_daemon_changes_total", prometheus.CounterValue, float64(sy.Starts), "start")
	emit("directord_ipvs_sync_daemon_changes_total", prometheus.CounterValue, float64(sy.Stops), "stop")
	emit("directord_ipvs_sync_errors_total", prometheus.CounterValue, float64(sy.Errors))
}

// ServeHTTP serves a scrape: the registry's families (the Go runtime,
// the checks' latencies and results, and the status document's few),
// then the streamed ones, in the text format, gzipped when the scraper
// takes it (Prometheus does).
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	gatherers := prometheus.Gatherers{m.reg}
	// Without a document (the daemon is stopping) the scrape has the
	// registry's families alone.
	var doc *StatusDoc
	if st, err := m.d.status(ctx, false); err == nil {
		doc = &st
		reg := prometheus.NewRegistry()
		reg.MustRegister(docMetrics{m: m, doc: doc})
		gatherers = append(gatherers, reg)
	}
	mfs, err := gatherers.Gather()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		// The fastest level: a third of the default's memory (its
		// tables), on a page that compresses well anyway.
		gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer gz.Close()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 32<<10)
	defer bw.Flush()
	enc := expfmt.NewEncoder(bw, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return
		}
	}
	if doc != nil {
		writeStreamed(bw, doc)
	}
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip
// (and not with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if f, err := strconv.ParseFloat(q, 64); ok && err == nil && f == 0 {
			return false
		}
		return true
	}
	return false
}

// serveMetrics serves /metrics on addr.
func (d *Daemon) serveMetrics(addr string) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", limitInFlight(d.metrics, maxScrapes, scrapeQueue))
	srv := newServer(mux, serverIdleTimeout)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics listener stopped", "err", err)
		}
	}()
	return srv, nil
}
