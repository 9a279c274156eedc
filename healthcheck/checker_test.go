package healthcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"directord/internal/netnstest"
	"directord/internal/testenv"
)

func check(t *testing.T, s Spec) Result {
	t.Helper()
	if s.Timeout == 0 {
		s.Timeout = 2 * time.Second
	}
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	return c.Check(ctx)
}

func addrPort(t *testing.T, hostport string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func expect(t *testing.T, r Result, up bool, reason string) {
	t.Helper()
	if r.Up != up || !strings.Contains(r.Reason, reason) {
		t.Fatalf("result %+v, want up=%v with reason containing %q", r, up, reason)
	}
}

func TestTCPConnectedAndRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := addrPort(t, l.Addr().String())
	r := check(t, Spec{Type: TypeTCP, Target: target})
	expect(t, r, true, "connected")
	if r.Latency <= 0 {
		t.Error("no latency measured")
	}
	l.Close() // now the port answers with RST
	expect(t, check(t, Spec{Type: TypeTCP, Target: target}), false, "refused")
}

// A SYN blackhole (an nftables drop rule in the server's namespace) is a
// timeout, not a refusal; a host without a route is unreachable.
func TestTCPTimeoutAndUnreachable(t *testing.T) {
	testenv.RequireCommand(t, "nft")
	lan := netnstest.NewLAN(t, map[string]string{"cli": "10.77.0.1/24", "srv": "10.77.0.2/24"})
	srv := lan.Hosts["srv"].NS
	rules := "add table inet t\nadd chain inet t in { type filter hook input priority 0; }\nadd rule inet t in tcp dport 81 drop\n"
	rulesFile := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Run("nft", "-f", rulesFile); err != nil {
		t.Fatal(err)
	}
	var blackhole, closed, unreachable Result
	err := lan.Hosts["cli"].NS.Do(func() error {
		// Dialing happens on this goroutine's thread, in the namespace.
		blackhole = check(t, Spec{Type: TypeTCP, Target: addrPort(t, "10.77.0.2:81"), Timeout: 300 * time.Millisecond})
		closed = check(t, Spec{Type: TypeTCP, Target: addrPort(t, "10.77.0.2:82"), Timeout: 300 * time.Millisecond})
		unreachable = check(t, Spec{Type: TypeTCP, Target: addrPort(t, "10.200.0.1:80"), Timeout: 300 * time.Millisecond})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, blackhole, false, "timeout")
	// The deadline is set a moment before the probe starts its clock.
	if blackhole.Latency < 250*time.Millisecond || blackhole.Latency > time.Second {
		t.Errorf("timeout after %s, want about 300ms", blackhole.Latency)
	}
	expect(t, closed, false, "refused")
	expect(t, unreachable, false, "unreachable")
}

func TestHTTP(t *testing.T) {
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Host", r.Host)
		io.WriteString(w, "ok: all good\n")
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/target", http.StatusFound) })
	mux.HandleFunc("/target", func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.test" || r.Method != http.MethodHead || r.Header.Get("Connection") != "close" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) { time.Sleep(2 * time.Second) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	target := addrPort(t, srv.Listener.Addr().String())
	body := "ok: all good\n"
	md := md5.Sum([]byte(body))
	sha := sha256.Sum256([]byte(body))
	h := func(path string, mod ...func(*Spec)) Spec {
		s := Spec{Type: TypeHTTP, Target: target, Params: &Params{Path: path}}
		for _, f := range mod {
			f(&s)
		}
		return s
	}
	tests := []struct {
		name   string
		spec   Spec
		up     bool
		reason string
	}{
		{"200", h("/ok"), true, "status 200"},
		{"503", h("/down"), false, "status 503"},
		{"503 accepted by a status list", h("/down", func(s *Spec) { s.Status = []StatusRange{{200, 299}, {503, 503}} }), true, "status 503"},
		{"body matches", h("/ok", func(s *Spec) { s.BodyRegex = "^ok:" }), true, "status 200"},
		{"wrong body", h("/ok", func(s *Spec) { s.BodyRegex = "^maintenance" }), false, "body does not match"},
		{"MD5 digest match", h("/ok", func(s *Spec) { s.BodyDigest = hex.EncodeToString(md[:]) }), true, "status 200"},
		{"SHA-256 digest match", h("/ok", func(s *Spec) { s.BodyDigest = hex.EncodeToString(sha[:]) }), true, "status 200"},
		{"digest mismatch", h("/ok", func(s *Spec) { s.BodyDigest = strings.Repeat("0", 64) }), false, "digest mismatch"},
		{"redirect is not followed", h("/moved"), false, "status 302"},
		{"HEAD with a Host header", h("/host", func(s *Spec) { s.Method = "HEAD"; s.Host = "www.example.test" }), true, "status 200"},
		{"slower than the timeout", h("/slow", func(s *Spec) { s.Timeout = 200 * time.Millisecond }), false, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expect(t, check(t, tt.spec), tt.up, tt.reason) })
	}
	if hits.Load() != 0 {
		t.Errorf("the redirect target was requested %d times", hits.Load())
	}
}

// A 100 MiB body: the check reads at most MaxBody and hangs up, so the
// server stops long before it has written it all.
func TestHTTPBodyCap(t *testing.T) {
	var written atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		defer close(done)
		chunk := []byte(strings.Repeat("a", 64<<10))
		for written.Load() < 100<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	r := check(t, Spec{Type: TypeHTTP, Target: addrPort(t, srv.Listener.Addr().String()), Timeout: 5 * time.Second, Params: &Params{BodyRegex: "^a+$"}})
	expect(t, r, true, "status 200")
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the server kept writing")
	}
	// MaxBody plus what the loopback socket buffers hold.
	if w := written.Load(); w >= 16<<20 {
		t.Errorf("the server wrote %d MiB before the check hung up", w>>20)
	} else {
		t.Logf("server wrote %.1f MiB of 100 before the check hung up", float64(w)/(1<<20))
	}
}

// selfSignedCA writes a CA and a server certificate for name and 127.0.0.1.
func selfSignedCA(t *testing.T, name string) (caFile string, cert tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "directord test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{name}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestHTTPS(t *testing.T) {
	caFile, cert := selfSignedCA(t, "www.example.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	target := addrPort(t, srv.Listener.Addr().String())
	s := func(mod func(*Spec)) Spec {
		sp := Spec{Type: TypeHTTPS, Target: target, Params: &Params{TLSServerName: "www.example.test"}}
		mod(&sp)
		return sp
	}
	expect(t, check(t, s(func(sp *Spec) { sp.CAFile = caFile })), true, "status 200")
	expect(t, check(t, s(func(*Spec) {})), false, "tls: certificate not trusted")
	expect(t, check(t, s(func(sp *Spec) { sp.CAFile = caFile; sp.TLSServerName = "other.example.test" })), false, "tls: certificate not trusted")
	expect(t, check(t, s(func(sp *Spec) { sp.InsecureSkipVerify = true; sp.TLSServerName = "" })), true, "status 200")
	if _, err := New(Spec{Type: TypeHTTPS, Target: target, Params: &Params{CAFile: "/nonexistent.pem"}}); err == nil {
		t.Error("a missing ca_file was accepted")
	}
}

func TestExec(t *testing.T) {
	real := addrPort(t, "10.0.0.5:8080")
	ok := check(t, Spec{Type: TypeExec, Real: real, Target: real, Params: &Params{Command: []string{"/bin/sh", "-c",
		`test "$DIRECTORD_REAL_ADDRESS:$DIRECTORD_REAL_PORT" = 10.0.0.5:8080`}}})
	expect(t, ok, true, "exit status 0")
	bad := check(t, Spec{Type: TypeExec, Real: real, Target: real, Params: &Params{Command: []string{"/bin/sh", "-c", "echo backend is sad >&2; exit 2"}}})
	expect(t, bad, false, "exit status 2: backend is sad")
}

// A hung exec check is killed at its timeout, with the children it
// started.
func TestExecHungIsKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := check(t, Spec{Type: TypeExec, Timeout: 300 * time.Millisecond, Params: &Params{Command: []string{"/bin/sh", "-c", "sleep 60 & echo $! > " + pidFile + "; wait"}}})
	expect(t, r, false, "timeout: killed")
	if r.Latency > 2*time.Second {
		t.Errorf("took %s", r.Latency)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the check's child %d outlived the timeout", pid)
	}
}

// With dynamic weight (keepalived's misc_dynamic) exit 0 is up at the
// configured weight, 1 is down, 2–255 up at weight status−2; without it
// every non-zero status is down.
func TestExecDynamicWeight(t *testing.T) {
	real := addrPort(t, "10.0.0.5:8080")
	for _, tt := range []struct {
		code     int
		dynamic  bool
		up, dyn  bool
		weight   int
		inReason string
	}{
		{0, true, true, false, 0, "exit status 0"},
		{1, true, false, false, 0, "exit status 1"},
		{2, true, true, true, 0, "exit status 2: weight 0"},
		{12, true, true, true, 10, "exit status 12: weight 10"},
		{255, true, true, true, 253, "exit status 255: weight 253"},
		{12, false, false, false, 0, "exit status 12"},
	} {
		r := check(t, Spec{Type: TypeExec, Real: real, Target: real, Params: &Params{DynamicWeight: tt.dynamic,
			Command: []string{"/bin/sh", "-c", "exit " + strconv.Itoa(tt.code)}}})
		if r.Up != tt.up || r.Dynamic != tt.dyn || r.Weight != tt.weight || r.Reason != tt.inReason {
			t.Errorf("exit %d, dynamic %v: %+v; want up %v, dynamic %v, weight %d, reason %q",
				tt.code, tt.dynamic, r, tt.up, tt.dyn, tt.weight, tt.inReason)
		}
	}
	// A death by signal is down, whatever dynamic says.
	r := check(t, Spec{Type: TypeExec, Real: real, Target: real, Params: &Params{DynamicWeight: true,
		Command: []string{"/bin/sh", "-c", "kill -9 $$"}}})
	if r.Up {
		t.Errorf("killed by a signal: %+v", r)
	}
}
