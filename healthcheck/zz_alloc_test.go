package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestZZAlloc(t *testing.T) {
	var ws []Watch
	for i := range 1000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ap := netip.MustParseAddrPort(l.Addr().String())
		ws = append(ws, Watch{ID: fmt.Sprint(i), Spec: Spec{Type: "tcp", Target: ap, Real: ap, Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 2, Fall: 3}})
	}
	m := NewMonitor(Options{})
	if err := m.Update(ws); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		for range m.Events() {
		}
	}()
	m.Run(ctx)
}
