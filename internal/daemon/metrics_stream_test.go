package daemon

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cloudflare/ipvs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"directord/lvs"
)

// The streamed families read as client_golang would write them: the same
// families, types, help, label names and values (escaped), and values,
// whatever the order of the series.
func TestStreamedFamiliesMatchClientGolang(t *testing.T) {
	seven := 7
	doc := &StatusDoc{
		RealServers: []RealServerStatus{
			{VirtualServer: "web", RealServer: "10.0.0.2:80", Up: true, Weight: 2, EffectiveWeight: 2},
			{VirtualServer: `odd "name" \ here`, RealServer: "[2001:db8::2]:80", Weight: 1, RuntimeWeight: &seven, Drained: true},
		},
		IPVS: &IPVSStatus{
			Services: []lvs.ServiceState{{Name: "web", QuorumLost: true}},
			Table: []lvs.ServiceStats{{Name: "tcp 10.0.0.100:80",
				Stats: ipvs.Stats{Connections: 12, IncomingPackets: 34, OutgoingPackets: 56, IncomingBytes: 1 << 40, OutgoingBytes: 78},
				Dests: []lvs.DestStats{{Name: "10.0.0.2:80", Weight: 2, ActiveConns: 3, InactiveConns: 4,
					Stats: ipvs.Stats{Connections: 9, IncomingBytes: 10, OutgoingBytes: 11}}}}},
		},
	}
	var got bytes.Buffer
	w := bufio.NewWriter(&got)
	writeStreamed(w, doc)
	w.Flush()

	// The same series through client_golang.
	reg := prometheus.NewRegistry()
	for _, f := range streamed {
		typ := prometheus.GaugeValue
		if f.typ == "counter" {
			typ = prometheus.CounterValue
		}
		desc := prometheus.NewDesc(f.name, f.help, f.labels, nil)
		var ms []prometheus.Metric
		f.write(doc, func(v float64, values ...string) {
			ms = append(ms, prometheus.MustNewConstMetric(desc, typ, v, values...))
		})
		reg.MustRegister(constCollector{desc, ms})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := expfmt.NewEncoder(&want, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	parse := func(name string, b []byte) map[string]*dto.MetricFamily {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", name, err, b)
		}
		for _, f := range fams {
			slices.SortFunc(f.Metric, func(a, b *dto.Metric) int { return strings.Compare(a.String(), b.String()) })
		}
		return fams
	}
	g, wnt := parse("the streamed output", got.Bytes()), parse("client_golang's", want.Bytes())
	if len(g) != len(streamed) || len(g) != len(wnt) {
		t.Fatalf("%d families streamed, %d from client_golang, want %d", len(g), len(wnt), len(streamed))
	}
	for name, f := range wnt {
		if !proto.Equal(f, g[name]) {
			t.Errorf("family %s:\nstreamed        %v\nclient_golang's %v", name, g[name], f)
		}
	}
	if !strings.Contains(got.String(), `virtual_server="odd \"name\" \\ here"`) {
		t.Errorf("a label value's quote and backslash are not escaped:\n%s", got.String())
	}
}

type constCollector struct {
	desc *prometheus.Desc
	ms   []prometheus.Metric
}

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.ms {
		ch <- m
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip": true, "gzip;q=0.5": true,
		"gzip;q=0": false, "gzip; q=0.0": false, "identity": false, "x-gzip": false,
	} {
		r, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
		r.Header.Set("Accept-Encoding", h)
		if got := acceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", h, got, want)
		}
	}
}
