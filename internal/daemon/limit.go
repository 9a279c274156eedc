package daemon

import (
	"net/http"
	"time"
)

// Scrapes served at once, per endpoint (/metrics, GET /v1/status), and
// how long one more waits for a turn before it is refused.
//
// Each scrape builds the whole document (at 10,000 services × 4 reals,
// hundreds of thousands of series) in memory: without a bound, a
// runaway curl loop or a dozen dashboards could take the director's
// CPU and memory from VRRP and the health checks. Four covers what an
// operator runs: a Prometheus pair, a dashboard and a curl loop. A fifth
// waits rather than fails at once, since with the shared snapshot a
// scrape ends quickly and a refused Prometheus scrape shows as the
// target down (`up` 0, the DirectordDown alert); but only for a second,
// well inside Prometheus's 10 s scrape timeout, and then it gets 503
// with Retry-After, so that a client that keeps asking backs off instead
// of piling up goroutines behind the others.
const (
	maxScrapes  = 4
	scrapeQueue = time.Second
)

// limitInFlight serves at most n requests of h at once; one more waits
// up to wait for a turn, then gets 503 with Retry-After.
func limitInFlight(h http.Handler, n int, wait time.Duration) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
		default:
			timer := time.NewTimer(wait)
			defer timer.Stop()
			select {
			case slots <- struct{}{}:
			case <-timer.C:
				w.Header().Set("Retry-After", "1")
				http.Error(w, "too many requests in flight; retry in a second", http.StatusServiceUnavailable)
				return
			case <-r.Context().Done():
				return
			}
		}
		defer func() { <-slots }()
		h.ServeHTTP(w, r)
	})
}
