package daemon

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"directord/healthcheck"
)

// Each probe result counts once under its type and result, and its
// latency once under its type, whichever goroutine reports it.
func TestObserveCheckCountsByTypeAndResult(t *testing.T) {
	m := newMetrics(&Daemon{})
	tcp, http := healthcheck.Spec{Type: "tcp"}, healthcheck.Spec{Type: "http"}
	done := make(chan struct{})
	for range 4 {
		go func() {
			for range 250 {
				m.observeCheck(tcp, healthcheck.Result{Up: true, Latency: time.Millisecond})
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	m.observeCheck(tcp, healthcheck.Result{})
	m.observeCheck(http, healthcheck.Result{})
	for _, c := range []struct {
		typ, result string
		want        float64
	}{{"tcp", "up", 1000}, {"tcp", "down", 1}, {"http", "up", 0}, {"http", "down", 1}} {
		var got dto.Metric
		if err := m.results.WithLabelValues(c.typ, c.result).Write(&got); err != nil {
			t.Fatal(err)
		}
		if got := got.GetCounter().GetValue(); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.typ, c.result, got, c.want)
		}
	}
	ch := make(chan prometheus.Metric, 10)
	m.latency.Collect(ch)
	close(ch)
	if n := len(ch); n != 2 {
		t.Errorf("%d latency series, want 2 (tcp, http)", n)
	}
}

// The cached series against WithLabelValues per probe (the reference).
func BenchmarkObserveCheck(b *testing.B) {
	m := newMetrics(&Daemon{})
	s, r := healthcheck.Spec{Type: "tcp"}, healthcheck.Result{Up: true, Latency: time.Millisecond}
	b.Run("series", func(b *testing.B) {
		for b.Loop() {
			m.observeCheck(s, r)
		}
	})
	b.Run("withLabelValues", func(b *testing.B) {
		for b.Loop() {
			m.latency.WithLabelValues(s.Type).Observe(r.Latency.Seconds())
			m.results.WithLabelValues(s.Type, "up").Inc()
		}
	})
}
