package healthcheck

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"directord/internal/testenv"
)

// Checks of a real server at an IPv6 address: tcp connects to [addr]:port
// and tells refused apart, http builds its URL with the brackets.
// (https and exec: TestHTTPSOverIPv6, TestExecOverIPv6.)
func TestChecksOverIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	testenv.Require(t, err == nil, "no IPv6 loopback here: %v", err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	srv.Listener = l
	srv.Start()
	target := addrPort(t, l.Addr().String())
	if !target.Addr().Is6() {
		t.Fatalf("target %s is not IPv6", target)
	}
	expect(t, check(t, Spec{Type: TypeTCP, Target: target}), true, "connected")
	expect(t, check(t, Spec{Type: TypeHTTP, Target: target, Params: &Params{Path: "/"}}), true, "200")
	if got := (Spec{Type: TypeHTTP, Target: target}).Name(); got != "http "+target.String() || got[5] != '[' {
		t.Errorf("name %q, want the bracketed form", got)
	}
	srv.Close()
	expect(t, check(t, Spec{Type: TypeTCP, Target: target}), false, "refused")
}

// https to [addr]:port verifies the certificate against the server name,
// not against the bracketed address.
func TestHTTPSOverIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	testenv.Require(t, err == nil, "no IPv6 loopback here: %v", err)
	caFile, cert := selfSignedCA(t, "www.example.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener = l
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	target := addrPort(t, l.Addr().String())
	sp := Spec{Type: TypeHTTPS, Target: target, Params: &Params{TLSServerName: "www.example.test", CAFile: caFile}}
	expect(t, check(t, sp), true, "status 200")
	sp.TLSServerName = "other.example.test"
	expect(t, check(t, sp), false, "tls: certificate not trusted")
}

// An exec check of an IPv6 real gets its address unbracketed, ready for a
// program's own flags, and the port apart.
func TestExecOverIPv6(t *testing.T) {
	real := addrPort(t, "[2001:db8::5]:8080")
	target := addrPort(t, "[2001:db8::6]:9090")
	r := check(t, Spec{Type: TypeExec, Real: real, Target: target, Params: &Params{Command: []string{"/bin/sh", "-c",
		`test "$DIRECTORD_REAL_ADDRESS $DIRECTORD_REAL_PORT $DIRECTORD_CHECK_ADDRESS $DIRECTORD_CHECK_PORT" = "2001:db8::5 8080 2001:db8::6 9090"`}}})
	expect(t, r, true, "exit status 0")
}
