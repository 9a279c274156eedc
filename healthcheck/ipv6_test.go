package healthcheck

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"directord/internal/testenv"
)

// Checks of a real server at an IPv6 address: tcp connects to [addr]:port
// and tells refused apart, http builds its URL with the brackets.
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
	expect(t, check(t, Spec{Type: TypeHTTP, Target: target, Path: "/"}), true, "200")
	if got := (Spec{Type: TypeHTTP, Target: target}).Name(); got != "http "+target.String() || got[5] != '[' {
		t.Errorf("name %q, want the bracketed form", got)
	}
	srv.Close()
	expect(t, check(t, Spec{Type: TypeTCP, Target: target}), false, "refused")
}
