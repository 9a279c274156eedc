package daemon_test

// The Grafana dashboard in dist/grafana and the metric names that it and
// the alerting rules use, against what a running daemon exports: a
// renamed or misspelled metric leaves a panel empty and an alert silent
// without any error, so only a test sees it.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/vrrp/vrrptest"
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashPanel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *dsRef      `json:"datasource"`
	Panels     []dashPanel `json:"panels"`
	Targets    []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *dsRef `json:"datasource"`
	} `json:"targets"`
}

type dashVar struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Definition string `json:"definition"`
	Datasource *dsRef `json:"datasource"`
}

type dashboardDoc struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []dashVar `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

func readDashboard(t *testing.T) dashboardDoc {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// queries lists the panels' expressions and the query variables'
// selectors (the argument of label_values), in order.
func (d dashboardDoc) queries() []query {
	var qs []query
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				qs = append(qs, query{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			qs = append(qs, query{"variable " + v.Name, m[1]})
		} else {
			qs = append(qs, query{"variable " + v.Name, v.Definition})
		}
	}
	return qs
}

// labelValues is Grafana's label_values(SELECTOR, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// What Grafana needs to import the dashboard on any Prometheus data
// source: the datasource variable used everywhere, the director and
// VRRP instance variables, and queries that use them.
func TestDashboardStructure(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q: both are needed to import it and link to it", d.UID, d.Title)
	}
	vars := map[string]dashVar{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || v.Query != "prometheus" {
		t.Errorf("datasource variable: type %q query %v, want a prometheus datasource variable", v.Type, v.Query)
	}
	for _, name := range []string{"director", "instance"} {
		v, ok := vars[name]
		if !ok || v.Type != "query" || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s: %+v, want a query variable on ${datasource}", name, v)
		}
	}
	ids := map[int]string{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("panel %q: datasource %+v, %d targets; want ${datasource} and a query", p.Title, p.Datasource, len(p.Targets))
			}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q target %s: datasource %+v, want ${datasource}", p.Title, tg.RefID, tg.Datasource)
				}
				if !strings.Contains(tg.Expr, `director=~"$director"`) {
					t.Errorf("panel %q target %s ignores the director variable: %s", p.Title, tg.RefID, tg.Expr)
				}
			}
		}
	}
	walk(d.Panels)
	usesInstance := slices.ContainsFunc(d.queries(), func(q query) bool { return strings.Contains(q.expr, `instance=~"$instance"`) })
	if !usesInstance {
		t.Error("no query uses the instance variable")
	}
	t.Logf("%d panels, %d queries", len(ids), len(d.queries()))
}

// grafanaVars are the dashboard's variables, replaced by what Grafana
// could put there, so that promtool can parse the result.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$director", ".*", "$instance", ".*")

// Every dashboard query is PromQL that Prometheus parses: each becomes a
// recording rule of a scratch file that promtool checks.
func TestDashboardQueriesParse(t *testing.T) {
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range readDashboard(t).queries() {
		expr := grafanaVars.Replace(q.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("%s: a variable the dashboard does not define: %s", q.where, q.expr)
		}
		// The expression as a JSON string is a YAML double-quoted one.
		e, _ := json.Marshal(expr)
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, e)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(promtool(t, "check", "rules", path))
}

// metricRef finds directord's metric names in PromQL.
var metricRef = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:])(directord_[a-zA-Z0-9_:]+)`)

// metricUse is a metric name as a query uses it.
type metricUse struct{ name, where string }

func metricUses(qs []query) []metricUse {
	var uses []metricUse
	for _, q := range qs {
		for _, m := range metricRef.FindAllStringSubmatch(q.expr, -1) {
			uses = append(uses, metricUse{m[1], q.where})
		}
	}
	return uses
}

// unknownMetrics says which uses name no series that families (metric
// family name to type, from a scrape) can produce: a histogram is
// queried as its _bucket, _sum and _count series, never by its own name.
func unknownMetrics(uses []metricUse, families map[string]string) []string {
	var bad []string
	for _, u := range uses {
		typ, ok := families[u.name]
		switch {
		case ok && (typ == "histogram" || typ == "summary"):
			bad = append(bad, fmt.Sprintf("%s: %s is a %s: query its _bucket, _sum or _count", u.where, u.name, typ))
		case ok:
		case strings.HasSuffix(u.name, "_bucket") && families[strings.TrimSuffix(u.name, "_bucket")] == "histogram":
		case hasHistogramSuffix(u.name, families):
		default:
			bad = append(bad, fmt.Sprintf("%s: %s is not a metric directord exports", u.where, u.name))
		}
	}
	return bad
}

func hasHistogramSuffix(name string, families map[string]string) bool {
	for _, suffix := range []string{"_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ := families[base]; typ == "histogram" || typ == "summary" {
				return true
			}
		}
	}
	return false
}

// typeLine is the exposition format's "# TYPE name type".
var typeLine = regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)

// exportedFamilies scrapes a daemon that has every kind of metric to
// show: a VRRP master, a real server up (HTTP check) and one down (TCP
// check to a closed port), an IPVS table, both sync daemons.
func exportedFamilies(t *testing.T) map[string]string {
	t.Helper()
	live := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(live.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	livePort := live.Listener.Addr().(*net.TCPAddr).Port
	addr := freeAddr(t)
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("10.0.0.1/24"))
	d := daemontest.Start(t, fmt.Sprintf(`director {
  metrics_listen = %q
}
vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  advert_interval = "100ms"
  virtual_ips = ["10.0.0.100/32"]
}
virtual_server "web" {
  address = "10.0.0.100"
  port = 80
  quorum = 1
  real_server "10.0.0.12" {
    health_check "http" {
      connect_address = "127.0.0.1"
      connect_port = %d
      interval = "50ms"
      timeout = "40ms"
    }
  }
  real_server "10.0.0.13" {
    health_check "tcp" {
      connect_address = "127.0.0.1"
      connect_port = %d
      interval = "50ms"
      timeout = "40ms"
    }
  }
}
ipvs {
  sync_daemon {
    interface = "lo"
  }
}
`, addr, livePort, closedPort), host)
	d.Wait(t, 5*time.Second, func(doc daemon.StatusDoc) bool {
		if len(doc.VRRP.Instances) != 1 || doc.VRRP.Instances[0].State != "MASTER" {
			return false
		}
		for _, rs := range doc.RealServers {
			if rs.Checks == 0 {
				return false
			}
		}
		return doc.IPVS != nil && len(doc.IPVS.Table) == 1 && doc.IPVS.Sync != nil && len(doc.IPVS.Sync.Running) > 0
	})
	families := map[string]string{}
	for _, m := range typeLine.FindAllStringSubmatch(scrape(t, addr), -1) {
		families[m[1]] = m[2]
	}
	return families
}

// Every metric the dashboard, the alerting rules and their unit tests'
// input series name is one a running daemon exports.
func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	families := exportedFamilies(t)
	dash := metricUses(readDashboard(t).queries())
	var rules []metricUse
	for _, r := range alertRules(t) {
		rules = append(rules, metricUses([]query{{"alert " + r.Alert, r.Expr}})...)
	}
	var tf ruleTestFile
	readYAML(t, rulesTestFile, &tf)
	var series []metricUse
	for _, tc := range tf.Tests {
		for _, s := range tc.InputSeries {
			series = append(series, metricUses([]query{{"rule test " + tc.Name, s.Series}})...)
		}
	}
	for _, c := range []struct {
		what string
		uses []metricUse
	}{{dashboardFile, dash}, {rulesFile, rules}, {rulesTestFile, series}} {
		if len(c.uses) == 0 {
			t.Errorf("%s: no directord metric found: the extraction is broken", c.what)
		}
		for _, msg := range unknownMetrics(c.uses, families) {
			t.Errorf("%s: %s", c.what, msg)
		}
	}
	// The check itself: a misspelled name, a histogram by its own name
	// and a counter with a histogram's suffix are caught; a histogram's
	// series are not.
	caught := unknownMetrics([]metricUse{
		{"directord_vrrp_sate", "misspelled"},
		{"directord_healthcheck_duration_seconds", "histogram"},
		{"directord_reloads_total_count", "suffix"},
	}, families)
	if len(caught) != 3 {
		t.Errorf("the name check let misspellings through: %q", caught)
	}
	if ok := unknownMetrics(metricUses([]query{{"ok", `rate(directord_healthcheck_duration_seconds_bucket[1m]) / directord_healthcheck_duration_seconds_count`}}), families); ok != nil {
		t.Errorf("the name check refuses a histogram's series: %q", ok)
	}
	var unshown []string
	for name := range families {
		if strings.HasPrefix(name, "directord_") && !slices.ContainsFunc(dash, func(u metricUse) bool {
			return u.name == name || strings.HasPrefix(u.name, name+"_")
		}) {
			unshown = append(unshown, name)
		}
	}
	slices.Sort(unshown)
	t.Logf("%d directord metric families exported; dashboard uses %d names, rules %d, rule tests %d; not on the dashboard: %q",
		countPrefix(families, "directord_"), len(dash), len(rules), len(series), unshown)
}

func countPrefix(m map[string]string, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}
