package healthcheck

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// MaxBody is how much of a response body is read for body_regex and
// body_digest; the rest is never read.
const MaxBody = 1 << 20

type httpChecker struct {
	client  *http.Client
	url     string
	method  string
	host    string
	status  []StatusRange
	re      *regexp.Regexp
	digest  []byte
	newHash func() hash.Hash
}

func newHTTPChecker(s Spec) (*httpChecker, error) {
	c := &httpChecker{method: s.Method, host: s.Host, status: s.Status}
	if c.method == "" {
		c.method = http.MethodGet
	}
	if len(c.status) == 0 {
		c.status = []StatusRange{{200, 299}}
	}
	path := s.Path
	if path == "" {
		path = "/"
	}
	c.url = s.Type + "://" + s.Target.String() + path
	if s.BodyRegex != "" {
		re, err := regexp.Compile(s.BodyRegex)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: body_regex: %w", err)
		}
		c.re = re
	}
	if s.BodyDigest != "" {
		d, err := hex.DecodeString(s.BodyDigest)
		if err != nil {
			return nil, fmt.Errorf("healthcheck: body_digest: %w", err)
		}
		switch len(d) {
		case md5.Size:
			c.newHash = md5.New
		case sha256.Size:
			c.newHash = sha256.New
		default:
			return nil, errors.New("healthcheck: body_digest is neither MD5 nor SHA-256")
		}
		c.digest = d
	}
	tr := &http.Transport{
		// Every probe is a new connection, as a client's would be.
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		Proxy:                  nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, s.Target, originOf(s))
		},
	}
	if s.Type == TypeHTTPS {
		tc := &tls.Config{ServerName: s.TLSServerName, InsecureSkipVerify: s.InsecureSkipVerify} //nolint:gosec // an explicit, documented opt-out
		if tc.ServerName == "" && s.Host != "" {
			tc.ServerName = hostOnly(s.Host)
		}
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			if err != nil {
				return nil, fmt.Errorf("healthcheck: ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("healthcheck: ca_file %s holds no PEM certificate", s.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	c.client = &http.Client{
		Transport: tr,
		// A redirect is an answer to judge, not a place to go.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func (c *httpChecker) Check(ctx context.Context) Result {
	return timed(func() Result {
		req, err := http.NewRequestWithContext(ctx, c.method, c.url, nil)
		if err != nil {
			return Result{Reason: err.Error()}
		}
		if c.host != "" {
			req.Host = c.host
		}
		req.Header.Set("User-Agent", "directord-healthcheck")
		req.Close = true
		resp, err := c.client.Do(req)
		if err != nil {
			return Result{Reason: httpReason(ctx, err)}
		}
		defer resp.Body.Close()
		if !c.statusOK(resp.StatusCode) {
			return Result{Reason: fmt.Sprintf("status %d", resp.StatusCode)}
		}
		if c.re == nil && c.digest == nil {
			return Result{Up: true, Reason: fmt.Sprintf("status %d", resp.StatusCode)}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		if err != nil {
			return Result{Reason: "reading body: " + httpReason(ctx, err)}
		}
		if c.re != nil && !c.re.Match(body) {
			return Result{Reason: "body does not match body_regex"}
		}
		if c.digest != nil {
			h := c.newHash()
			h.Write(body)
			if !bytes.Equal(h.Sum(nil), c.digest) {
				return Result{Reason: "body digest mismatch"}
			}
		}
		return Result{Up: true, Reason: fmt.Sprintf("status %d", resp.StatusCode)}
	})
}

func (c *httpChecker) statusOK(code int) bool {
	for _, r := range c.status {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

func httpReason(ctx context.Context, err error) string {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne):
		return "tls: certificate not trusted: " + shortErr(err)
	case ctx.Err() != nil:
		return "timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return dialReason(ctx, err)
	}
	return shortErr(err)
}

// shortErr drops the "Get \"http://...\": " prefix net/http adds.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "\": "); i >= 0 {
		s = s[i+3:]
	}
	return s
}
