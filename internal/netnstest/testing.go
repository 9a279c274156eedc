// Package netnstest gives tests the topologies of package labnet, removed
// when the test ends (NewT), and the common one-bridge LAN (NewLAN). It is
// for test binaries only.
package netnstest

import (
	"net/netip"
	"testing"

	"directord/internal/labnet"
	"directord/internal/testenv"
)

// NewT returns a topology removed when tb ends, whether it passed, failed
// or panicked. It skips without root or iproute2, except in CI.
func NewT(tb testing.TB) *labnet.Net {
	tb.Helper()
	testenv.RequireRoot(tb)
	testenv.RequireCommand(tb, "ip")
	n, err := labnet.New("t")
	if err != nil {
		tb.Fatalf("netnstest: %v", err)
	}
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Errorf("netnstest cleanup: %v", err)
		}
	})
	return n
}

// LAN is the common test shape: one bridge and hosts plugged into it, each
// with one interface "eth0".
type LAN struct {
	Net    *labnet.Net
	Bridge *labnet.Bridge
	Hosts  map[string]*labnet.Port
}

// NewLAN builds a LAN with a host per entry of addrs (short name →
// address with prefix length).
func NewLAN(tb testing.TB, addrs map[string]string) *LAN {
	tb.Helper()
	n := NewT(tb)
	br, err := n.AddBridge("br0")
	if err != nil {
		tb.Fatal(err)
	}
	lan := &LAN{Net: n, Bridge: br, Hosts: map[string]*labnet.Port{}}
	for name, a := range addrs {
		lan.Hosts[name] = lan.AddHost(tb, name, a)
	}
	return lan
}

// AddHost adds one more host to the LAN.
func (l *LAN) AddHost(tb testing.TB, name, addr string) *labnet.Port {
	tb.Helper()
	ns, err := l.Net.AddNS(name)
	if err != nil {
		tb.Fatal(err)
	}
	var pfx []netip.Prefix
	if addr != "" {
		pfx = append(pfx, netip.MustParsePrefix(addr))
	}
	p, err := l.Net.Connect(ns, l.Bridge, "eth0", pfx...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
