package daemon_test

// The shipped scrape job and rules on a real Prometheus server scraping
// two running directors: promtool's unit tests feed the rules series
// with the labels the README says the job gives them; this checks that
// the job really gives them (honor_labels keeps directord's `instance`,
// the relabelling makes `director`), and that the split-brain rule sees
// two masters across directors.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/internal/testenv"
	"directord/vrrp/vrrptest"
)

// promSample is one element of an instant query's result.
type promSample struct {
	Metric map[string]string `json:"metric"`
}

// promQuery runs an instant query on the server at base.
func promQuery(ctx context.Context, base, q string) ([]promSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, body.Error)
	}
	return body.Data.Result, nil
}

// addrOn is a free TCP address on ip (any 127/8 address is loopback).
func addrOn(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startPrometheus runs a Prometheus server with the shipped scrape job
// and rules, targets replaced by targets and intervals shortened to 1 s.
// It returns the server's base URL.
func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	bin := testenv.RequireCommand(t, "prometheus")
	var cfg map[string]any
	readYAML(t, scrapeFile, &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []string{rules}
	job := cfg["scrape_configs"].([]any)[0].(map[string]any)
	static := job["static_configs"].([]any)[0].(map[string]any)
	static["targets"] = targets
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	listen := addrOn(t, "127.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus config:\n%s\nprometheus log:\n%s", b, logs.String())
		}
	})
	return "http://" + listen
}

// waitQuery polls q until ok accepts its result, and returns it.
func waitQuery(t *testing.T, base, q string, timeout time.Duration, ok func([]promSample) bool) []promSample {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		res, err := promQuery(ctx, base, q)
		cancel()
		if err == nil && ok(res) {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never as wanted within %s: %v %+v", q, timeout, err, res)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

const pairConfig = `director {
  metrics_listen = %q
}
vrrp_instance "web" {
  interface = "eth0"
  virtual_router_id = 51
  priority = %d
  advert_interval = "100ms"
  virtual_ips = ["10.0.0.100/32"]
}
`

func TestPrometheusSeesSplitBrain(t *testing.T) {
	testenv.RequireCommand(t, "prometheus")
	// Two directors on one simulated LAN, their metrics on two loopback
	// addresses: the job's relabelling names each by its host.
	lan := vrrptest.NewLAN(1)
	h1 := lan.AddHost("lb1", "eth0", netip.MustParsePrefix("10.0.0.1/24"))
	h2 := lan.AddHost("lb2", "eth0", netip.MustParsePrefix("10.0.0.2/24"))
	a1, a2 := addrOn(t, "127.0.0.2"), addrOn(t, "127.0.0.3")
	lb1 := daemontest.Start(t, fmt.Sprintf(pairConfig, a1, 150), h1)
	lb2 := daemontest.Start(t, fmt.Sprintf(pairConfig, a2, 100), h2)
	state := func(want string) func(daemon.StatusDoc) bool {
		return func(doc daemon.StatusDoc) bool {
			return len(doc.VRRP.Instances) == 1 && doc.VRRP.Instances[0].State == want
		}
	}
	lb1.Wait(t, 5*time.Second, state("MASTER"))
	lb2.Wait(t, 5*time.Second, state("BACKUP"))
	base := startPrometheus(t, a1, a2)

	masters := waitQuery(t, base, `directord_vrrp_state{state="MASTER"}`, 30*time.Second,
		func(r []promSample) bool { return len(r) == 2 })
	directors := map[string]bool{}
	for _, s := range masters {
		if s.Metric["instance"] != "web" || s.Metric["cluster"] != "web" || s.Metric["job"] != "directord" {
			t.Errorf("scraped labels %v: want instance web (directord's, kept by honor_labels), cluster web, job directord", s.Metric)
		}
		directors[s.Metric["director"]] = true
	}
	if !directors["127.0.0.2"] || !directors["127.0.0.3"] {
		t.Errorf("director labels %v, want 127.0.0.2 and 127.0.0.3 (the targets' hosts)", directors)
	}
	// One master: the no-master rule's sum is 1, no VRRP alert pending.
	waitQuery(t, base, `sum by (vrid) (directord_vrrp_state{state="MASTER"} * ignoring (state, vrid, family, interface, version) group_left (vrid, family, interface) directord_vrrp_instance_info) == 1`,
		10*time.Second, func(r []promSample) bool { return len(r) == 1 && r[0].Metric["vrid"] == "51" })
	// An evaluation made before both targets were scraped may have seen
	// no master and left a pending alert; the next ones clear it, and
	// three more seconds (evaluations) raise none.
	vrrpAlerts := `ALERTS{alertname=~"DirectordSplitBrain|DirectordNoMaster"}`
	waitQuery(t, base, vrrpAlerts, 10*time.Second, func(r []promSample) bool { return len(r) == 0 })
	time.Sleep(3 * time.Second)
	if res, err := promQuery(t.Context(), base, vrrpAlerts); err != nil || len(res) != 0 {
		t.Errorf("with one master: VRRP alerts %+v (%v), want none", res, err)
	}

	// The directors stop hearing each other: lb2 takes over, lb1 stays.
	lan.Partition([]*vrrptest.Host{h1}, []*vrrptest.Host{h2})
	lb2.Wait(t, 5*time.Second, state("MASTER"))
	lb1.Wait(t, time.Second, state("MASTER"))
	res := waitQuery(t, base, `ALERTS{alertname="DirectordSplitBrain"}`, 30*time.Second,
		func(r []promSample) bool { return len(r) == 1 })
	got := res[0].Metric
	for k, want := range map[string]string{"vrid": "51", "family": "ipv4", "interface": "eth0", "cluster": "web",
		"severity": "critical", "alertstate": "pending"} {
		if got[k] != want {
			t.Errorf("split-brain alert label %s = %q, want %q (alert %v)", k, got[k], want, got)
		}
	}
	t.Logf("split brain seen by Prometheus: %v", got)
}
