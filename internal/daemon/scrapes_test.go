package daemon_test

// A health flip's IPVS write must not wait behind metrics scrapes and
// status requests: the kernel dump they need (tens of ms for a large
// table) runs off the reconciler's goroutine, once per snapshot
// whatever the number of scrapers. Measured from the health event to
// the IPVS write's event, both stamped by the daemon, with and without a
// flood of scrapes while ReadStats takes 50 ms. The snapshot's age is
// cut to the dump's time, so that under the flood a dump is always in
// flight, as with a second's age and a dump of a second (or a table
// read by a reconciler that still dumped on its own goroutine: every
// flip would wait for half a dump on average).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"directord/internal/daemon"
	"directord/internal/daemon/daemontest"
	"directord/internal/events"
	"directord/vrrp/vrrptest"
)

// dumpTime is what each kernel dump takes in these tests: a table of
// 10,000 services × 4 reals, or more.
const dumpTime = 50 * time.Millisecond

// flipLab is a daemon whose one checked real the test flips by closing
// and opening the port its tcp check connects to.
type flipLab struct {
	*daemontest.Daemon
	port    int
	target  net.Listener
	metrics string
	stream  <-chan events.Event
	up      bool
}

const flipReal = "192.0.2.10:80"

func startFlipLab(tb testing.TB) *flipLab {
	tb.Helper()
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go acceptAll(target)
	m, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	maddr := m.Addr().String()
	m.Close()
	l := &flipLab{port: int(netip.MustParseAddrPort(target.Addr().String()).Port()), target: target, up: true}
	tb.Cleanup(func() { l.target.Close() })
	src := fmt.Sprintf(`director {
  router_id = "lb1"
  metrics_listen = %q
}
virtual_server "web" {
  address = "192.0.2.100"
  port = 80
  scheduler = "wrr"
  real_server "192.0.2.10" {
    weight = 7
    health_check "tcp" {
      connect_address = "127.0.0.1"
      connect_port = %d
      interval = "10ms"
      timeout = "10ms"
      rise = 1
      fall = 1
    }
  }
  real_server "192.0.2.11" { weight = 3 }
}
`, maddr, l.port)
	host := vrrptest.NewLAN(1).AddHost("lb1", "eth0", netip.MustParsePrefix("192.0.2.1/24"))
	l.Daemon = daemontest.Start(tb, src, host)
	daemon.SetTableMaxAge(l.Daemon.Daemon, dumpTime)
	l.metrics = "http://" + maddr + "/metrics"
	l.stream = eventStream(tb, l.Socket)
	return l
}

// eventStream is openStream for benchmarks too.
func eventStream(tb testing.TB, socket string) <-chan events.Event {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	resp, err := unixClient(socket).Do(mustRequest(tb, ctx, "http://directord/v1/events"))
	if err != nil {
		tb.Fatal(err)
	}
	out := make(chan events.Event, 1024)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e events.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				out <- e
			}
		}
	}()
	return out
}

func unixClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
}

func mustRequest(tb testing.TB, ctx context.Context, url string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// flip turns the real down (or up again) and returns the time from its
// health event to the IPVS write of its new weight.
func (l *flipLab) flip(tb testing.TB) time.Duration {
	tb.Helper()
	l.up = !l.up
	weight := 0
	if l.up {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", l.port))
		if err != nil {
			tb.Fatal(err)
		}
		go acceptAll(ln)
		l.target, weight = ln, 7
	} else {
		l.target.Close()
	}
	var flipped time.Time
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-l.stream:
			if !ok {
				tb.Fatal("the event stream ended")
			}
			switch {
			case e.Kind == events.KindHealth && e.RealServer == flipReal && e.Up != nil && *e.Up == l.up:
				flipped = e.Time
			case e.Kind == events.KindIPVS && e.RealServer == flipReal && e.Weight != nil && *e.Weight == weight && !flipped.IsZero():
				return e.Time.Sub(flipped)
			}
		case <-deadline:
			tb.Fatalf("no write of weight %d after the flip within 5 s", weight)
		}
	}
}

func (l *flipLab) flips(tb testing.TB, n int) []time.Duration {
	tb.Helper()
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = l.flip(tb)
	}
	slices.Sort(out)
	return out
}

// floodCount is what a flood did.
type floodCount struct {
	ok, refused, failed atomic.Int64
}

// flood runs k scrape loops, half on /metrics and half on /v1/status,
// each with its own keep-alive connection as Prometheus and a dashboard
// keep theirs, until the function returned is called.
func (l *flipLab) flood(tb testing.TB, k int) (*floodCount, func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c := &floodCount{}
	for i := range k {
		client, url := &http.Client{Transport: &http.Transport{}}, l.metrics
		if i%2 == 1 {
			client, url = unixClient(l.Socket), "http://directord/v1/status"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := client.Do(mustRequest(tb, ctx, url))
				if err != nil {
					if ctx.Err() == nil {
						c.failed.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					c.ok.Add(1)
				case http.StatusServiceUnavailable:
					c.refused.Add(1)
				default:
					c.failed.Add(1)
				}
			}
		}()
	}
	return c, func() { cancel(); wg.Wait() }
}

// q is the quantile p of sorted durations.
func q(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

func TestFlipNotBehindScrapes(t *testing.T) {
	l := startFlipLab(t)
	l.Kernel.SetStatsDelay(dumpTime)
	const flips = 24
	quiet := l.flips(t, flips)
	reads := l.Kernel.StatsReads()
	start := time.Now()
	c, stop := l.flood(t, 8)
	flooded := l.flips(t, flips)
	stop()
	elapsed := time.Since(start)
	reads = l.Kernel.StatsReads() - reads
	t.Logf("flip to write, quiet: median %s p90 %s max %s", q(quiet, 0.5), q(quiet, 0.9), quiet[len(quiet)-1])
	t.Logf("flip to write, 8 scrapers: median %s p90 %s max %s; %d scrapes answered, %d refused, %d failed; %d dumps in %s",
		q(flooded, 0.5), q(flooded, 0.9), flooded[len(flooded)-1], c.ok.Load(), c.refused.Load(), c.failed.Load(), reads, elapsed.Round(time.Millisecond))
	// A write that waits behind one dump waits 25 ms on average (half of
	// one): a bound of 10 ms over the quiet median cannot be met by a
	// reconciler that dumps the table on its own goroutine.
	if bound := q(quiet, 0.5) + 10*time.Millisecond; q(flooded, 0.5) > bound {
		t.Errorf("median flip-to-write under scrapes %s, want at most %s (the quiet median + 10 ms)", q(flooded, 0.5), bound)
	}
	// The flood must have been one: every loop's scrapes answered.
	if c.ok.Load() < 16 || c.failed.Load() > 0 {
		t.Errorf("%d scrapes answered, %d failed: the flood did not happen", c.ok.Load(), c.failed.Load())
	}
	// One dump per snapshot, however many scrape: the first request
	// after the snapshot expires refreshes it, the others share it. And
	// dumps there were: the flips above ran alongside them.
	// (Between two dumps, the next scrape must come: under -race or a
	// busy machine, a quarter of the time is what one can count on.)
	maxReads := int(elapsed/dumpTime) + 2
	if minReads := max(2, maxReads/4); reads > maxReads || reads < minReads {
		t.Errorf("%d kernel dumps in %s of scrapes, want from %d to %d", reads, elapsed.Round(time.Millisecond), minReads, maxReads)
	}
}

// BenchmarkFlipUnderScrapes prints the flip-to-write latency of 100
// flips without and with 8 scrape loops, ReadStats taking 50 ms.
func BenchmarkFlipUnderScrapes(b *testing.B) {
	for range b.N {
		l := startFlipLab(b)
		l.Kernel.SetStatsDelay(dumpTime)
		const flips = 100
		quiet := l.flips(b, flips)
		c, stop := l.flood(b, 8)
		flooded := l.flips(b, flips)
		stop()
		fmt.Printf("\nflip to IPVS write, %d flips each, kernel dump %s (medians, p90, max)\n", flips, dumpTime)
		row := func(name string, d []time.Duration) {
			fmt.Printf("  %-22s median %8s  p90 %8s  max %8s\n", name, q(d, 0.5).Round(time.Microsecond),
				q(d, 0.9).Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
		}
		row("no scrapes", quiet)
		row("8 scrape loops", flooded)
		fmt.Printf("  median ratio %.2f; scrapes answered %d, refused %d, failed %d\n",
			float64(q(flooded, 0.5))/float64(q(quiet, 0.5)), c.ok.Load(), c.refused.Load(), c.failed.Load())
		b.ReportMetric(float64(q(flooded, 0.5))/1e6, "flooded-median-ms")
		b.ReportMetric(float64(q(quiet, 0.5))/1e6, "quiet-median-ms")
	}
}

// A status asked for after an IPVS write shows it, however young the
// snapshot: here it would otherwise stay an hour.
func TestStatusShowsAWriteAtOnce(t *testing.T) {
	l := startFlipLab(t)
	daemon.SetTableMaxAge(l.Daemon.Daemon, time.Hour)
	weight := func() int {
		doc, err := l.Daemon.Daemon.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range doc.RealServers {
			if rs.RealServer == flipReal && rs.InTable != nil {
				return int(rs.InTable.Weight)
			}
		}
		t.Fatalf("%s is not in the status's table", flipReal)
		return -1
	}
	if w := weight(); w != 7 {
		t.Fatalf("weight %d before the flip, want 7", w)
	}
	l.flip(t) // returns once the write of weight 0 was made
	if w := weight(); w != 0 {
		t.Errorf("weight %d in the status right after the write of 0", w)
	}
}
