package lab

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Request is one request the client made.
type Request struct {
	Start, End time.Time
	OK         bool
	Real       string // who answered
	Err        string
}

// Client sends one request at a time to the VIP from the client
// namespace, each on a new connection so that IPVS schedules it, and
// records every outcome. It is the operator's "is the service up?".
type Client struct {
	host     *Host
	url      string
	interval time.Duration
	timeout  time.Duration

	mu  sync.Mutex
	log []Request
}

// NewClient prepares a client that sends a request every interval (after
// the previous one ended) with a timeout.
func NewClient(h *Host, url string, interval, timeout time.Duration) *Client {
	return &Client{host: h, url: url, interval: interval, timeout: timeout}
}

// Run sends requests until ctx ends.
func (c *Client) Run(ctx context.Context) {
	hc := &http.Client{
		Timeout: c.timeout,
		Transport: &http.Transport{
			DialContext:       c.host.Dial,
			DisableKeepAlives: true,
		},
	}
	for ctx.Err() == nil {
		r := Request{Start: time.Now()}
		resp, err := hc.Get(c.url)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			r.OK = rerr == nil && resp.StatusCode == http.StatusOK
			r.Real = strings.TrimSpace(string(body))
			if !r.OK {
				r.Err = resp.Status
			}
		} else {
			r.Err = err.Error()
		}
		r.End = time.Now()
		c.mu.Lock()
		c.log = append(c.log, r)
		c.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(c.interval):
		}
	}
}

// Since returns the requests that started at or after t.
func (c *Client) Since(t time.Time) []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Request
	for _, r := range c.log {
		if !r.Start.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// Last returns the last n requests.
func (c *Client) Last(n int) []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.log[max(0, len(c.log)-n):]...)
}

// Outage summarises failures: how many requests failed, and the window
// from the start of the first failed one to the end of the last.
type Outage struct {
	Requests int
	Failed   int
	Window   time.Duration
	First    time.Time
	Last     time.Time
}

// Summarize computes the outage over reqs.
func Summarize(reqs []Request) Outage {
	o := Outage{Requests: len(reqs)}
	for _, r := range reqs {
		if r.OK {
			continue
		}
		o.Failed++
		if o.First.IsZero() {
			o.First = r.Start
		}
		o.Last = r.End
	}
	if o.Failed > 0 {
		o.Window = o.Last.Sub(o.First)
	}
	return o
}

// Tally counts answers by real server.
func Tally(reqs []Request) map[string]int {
	t := map[string]int{}
	for _, r := range reqs {
		if r.OK {
			t[r.Real]++
		}
	}
	return t
}
