package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fullListener is a TCP port whose accept queue is full: the kernel
// drops further SYNs (tcp_conn_request's listen overflow), so a connect
// to it times out on loopback, without root or a firewall.
func fullListener(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	target := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*unix.SockaddrInet4).Port))
	// Fill the queue (a backlog of 0 holds one) with connections nobody
	// accepts; keep dialing until one hangs.
	for range 8 {
		c, err := net.DialTimeout("tcp", target.String(), 200*time.Millisecond)
		if err != nil {
			return target
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the listener accepted every connection: no full accept queue")
	return target
}

// connectTargets are a listener, a port nobody listens on and one whose
// connects time out (fullListener).
func connectTargets(t *testing.T) (ln net.Listener, refused, hung netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	return ln, netip.MustParseAddrPort(closed.Addr().String()), fullListener(t)
}

func openFDCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// One connector tells connected, refused and timeout apart for probes in
// flight together, never completes a handshake, and leaves no
// descriptor behind.
func TestConnectorReasons(t *testing.T) {
	ln, closed, hung := connectTargets(t)
	fds := openFDCount(t)

	conn, err := newConnector()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []connectDone, 4)
	go conn.run(ctx, out)
	want := map[string]string{
		ln.Addr().String(): "connected",
		closed.String():    "refused",
		hung.String():      "timeout",
	}
	start := time.Now()
	got := map[string]Result{}
	for target := range want {
		ap := netip.MustParseAddrPort(target)
		if res, done := conn.Start(ap, origin{}, start, start.Add(300*time.Millisecond), target); done {
			got[target] = res
		}
	}
	for _, d := range conn.Reap(time.Now(), nil) {
		got[d.tag.(string)] = d.res
	}
	for deadline := time.After(3 * time.Second); len(got) < len(want); {
		select {
		case batch := <-out:
			for _, d := range batch {
				got[d.tag.(string)] = d.res
			}
		case <-deadline:
			t.Fatalf("only %d of %d probes came back: %v", len(got), len(want), got)
		}
	}
	for target, reason := range want {
		if r := got[target]; r.Reason != reason || r.Up != (reason == "connected") {
			t.Errorf("%s: %+v, want %s", target, r, reason)
		}
	}
	if l := got[hung.String()].Latency; l < 290*time.Millisecond || l > time.Second {
		t.Errorf("timeout after %s, want about 300ms", l)
	}
	// The probe reset the connection in place of the handshake's last
	// ACK: nothing reached the listener's accept queue.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Error("the listener accepted the probe's connection: the handshake was completed")
	}
	cancel()
	for deadline := time.Now().Add(2 * time.Second); openFDCount(t) > fds; {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after the connector stopped, %d before it started", openFDCount(t), fds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The monitor runs TCP checks on its connector: a hundred probes that
// hang until their timeout are a hundred sockets, not a hundred
// goroutines; they go down as timeouts, a closed port as refused, and a
// port that opens again comes back up.
func TestMonitorTCPChecksOnConnector(t *testing.T) {
	hung := fullListener(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close() // refused now; listens again below
	spec := func(target netip.AddrPort) Spec {
		return Spec{Type: TypeTCP, Target: target, Real: target, Interval: 100 * time.Millisecond,
			Timeout: 400 * time.Millisecond, RetryDelay: 100 * time.Millisecond, Rise: 1, Fall: 1, InitialUp: true}
	}
	var watches []Watch
	for i := range 100 {
		// The same target a hundred times is one probe: vary the timeout.
		s := spec(hung)
		s.Timeout += time.Duration(i) * time.Millisecond
		watches = append(watches, Watch{ID: fmt.Sprintf("hung/%d", i), Spec: s})
	}
	watches = append(watches, Watch{ID: "closed", Spec: spec(up)})
	m := NewMonitor(Options{})
	if err := m.Update(watches); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)

	downs := map[string]string{}
	most := 0
	for deadline := time.After(5 * time.Second); len(downs) < len(watches); {
		select {
		case ev := <-m.Events():
			most = max(most, runtime.NumGoroutine())
			if !ev.Up {
				for _, id := range ev.Subscribers {
					downs[id] = ev.Result.Reason
				}
			}
		case <-deadline:
			t.Fatalf("%d of %d checks went down in 5 s", len(downs), len(watches))
		}
	}
	for id, reason := range downs {
		if want := map[bool]string{true: "refused", false: "timeout"}[id == "closed"]; reason != want {
			t.Errorf("%s went down with %q, want %q", id, reason, want)
		}
	}
	// Run and the connector's waiter, and some slack for the runtime.
	if most > base+5 {
		t.Errorf("%d goroutines with 100 probes in flight, %d before: probes are not running on the connector", most, base)
	}
	ln, err = net.Listen("tcp", up.String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for deadline := time.After(3 * time.Second); ; {
		select {
		case ev := <-m.Events():
			if ev.Up && ev.Subscribers[0] == "closed" {
				if ev.Result.Reason != "connected" {
					t.Errorf("up with %+v", ev.Result)
				}
				return
			}
		case <-deadline:
			t.Fatal("the reopened port did not come back up")
		}
	}
}

// Where the connector cannot run, a built-in TCP check (which has no
// Checker of its own) runs on a worker: up, and refused, as on the
// connector.
func TestMonitorTCPChecksWithoutConnector(t *testing.T) {
	ln, closed, _ := connectTargets(t)
	up := netip.MustParseAddrPort(ln.Addr().String())
	spec := func(target netip.AddrPort, initialUp bool) Spec {
		return Spec{Type: TypeTCP, Target: target, Real: target, Interval: 100 * time.Millisecond,
			Timeout: time.Second, Rise: 1, Fall: 1, InitialUp: initialUp}
	}
	m := NewMonitor(Options{})
	m.connFailed = true
	if err := m.Update([]Watch{{ID: "up", Spec: spec(up, false)}, {ID: "closed", Spec: spec(closed, true)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	got := map[string]Result{}
	for deadline := time.After(5 * time.Second); len(got) < 2; {
		select {
		case ev := <-m.Events():
			got[ev.Subscribers[0]] = ev.Result
		case <-deadline:
			t.Fatalf("events in 5 s: %v, want one for each check", got)
		}
	}
	if r := got["up"]; !r.Up || r.Reason != "connected" {
		t.Errorf("up: %+v, want connected", r)
	}
	if r := got["closed"]; r.Up || r.Reason != "refused" {
		t.Errorf("closed: %+v, want refused", r)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		t.Error("the monitor started a connector")
	}
}

// CheckOnce runs TCP checks on one connector, two in flight at a time
// here: up, refused and timeout come back for each watch, a real with two
// checks is down if either is, and no descriptor is left behind.
func TestCheckOnceSharesAConnector(t *testing.T) {
	var up []netip.AddrPort
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		up = append(up, netip.MustParseAddrPort(ln.Addr().String()))
	}
	_, refused, hung := connectTargets(t)
	fds := openFDCount(t)
	tcp := func(target netip.AddrPort) Spec {
		return Spec{Type: "tcp", Target: target, Real: target, Interval: time.Second, Timeout: 300 * time.Millisecond, Rise: 1, Fall: 1}
	}
	watches := []Watch{{ID: "refused", Spec: tcp(refused)}, {ID: "hung", Spec: tcp(hung)}, {ID: "both", Spec: tcp(up[0])}, {ID: "both", Spec: tcp(hung)}}
	for i, ap := range up {
		watches = append(watches, Watch{ID: fmt.Sprint("up", i), Spec: tcp(ap)})
	}
	start := time.Now()
	got, err := CheckOnce(context.Background(), watches, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"refused": "refused", "hung": "timeout", "both": "timeout"}
	for i := range up {
		want[fmt.Sprint("up", i)] = "connected"
	}
	for id, reason := range want {
		if r := got[id]; r.Reason != reason || r.Up != (reason == "connected") {
			t.Errorf("%s: %+v, want %s", id, r, reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d results, want %d: %v", len(got), len(want), got)
	}
	// hung is one probe, shared by two watches: one timeout, not two in a row.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	if n := openFDCount(t); n > fds {
		t.Errorf("%d descriptors open after CheckOnce, %d before", n, fds)
	}
}

// A socket that connected is disconnected and kept for the next probe:
// the listener sees a reset, not a connection, and a kept socket reports
// the next target's truth, refused and timeout included, not the reset
// of its previous connection.
func TestConnectorReusesSockets(t *testing.T) {
	ln, closed, hung := connectTargets(t)
	fds := openFDCount(t)
	conn, err := newConnector()
	if err != nil {
		t.Fatal(err)
	}
	probe := func(target netip.AddrPort) Result { return probeOn(t, conn, target) }
	up := netip.MustParseAddrPort(ln.Addr().String())
	if r := probe(up); !r.Up {
		t.Fatalf("first probe: %+v", r)
	}
	if n := len(conn.idle[idleV4]); n != 1 {
		t.Fatalf("%d idle sockets after a connected probe, want 1", n)
	}
	// Each probe takes the idle socket; a connected one gives it back,
	// a failed one closes it.
	for _, c := range []struct {
		target netip.AddrPort
		reason string
		idle   int
	}{
		{closed, "refused", 0},
		{up, "connected", 1},
		{hung, "timeout", 0},
		{up, "connected", 1},
		{up, "connected", 1},
	} {
		if r := probe(c.target); r.Reason != c.reason || r.Up != (c.reason == "connected") {
			t.Errorf("%s: %+v, want %s", c.target, r, c.reason)
		}
		if n := len(conn.idle[idleV4]); n != c.idle {
			t.Errorf("after %s: %d idle sockets, want %d", c.reason, n, c.idle)
		}
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Error("the listener accepted a probe's connection: the disconnect completed the handshake")
	}
	conn.close()
	if n := openFDCount(t); n > fds {
		t.Errorf("%d descriptors open after close, %d before", n, fds)
	}
}

// probeOn runs one probe on conn and waits for its result.
func probeOn(t *testing.T, conn *connector, target netip.AddrPort) Result {
	t.Helper()
	now := time.Now()
	if res, done := conn.Start(target, origin{}, now, now.Add(300*time.Millisecond), "p"); done {
		return res
	}
	for {
		if done := conn.Reap(time.Now(), nil); len(done) > 0 {
			return done[0].res
		}
		if done := conn.wait(); len(done) > 0 {
			return done[0].res
		}
	}
}

// A kept socket carries maxUses probes, then makes way for a new one; a
// socket epoll already has is re-armed rather than added twice, and
// leaves epoll when it is closed.
func TestConnectorRetiresAndRearmsSockets(t *testing.T) {
	ln, _, _ := connectTargets(t)
	up := netip.MustParseAddrPort(ln.Addr().String())
	conn, err := newConnector()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	for i := 1; i < maxUses; i++ {
		if r := probeOn(t, conn, up); !r.Up {
			t.Fatalf("probe %d: %+v", i, r)
		}
	}
	if len(conn.idle[idleV4]) != 1 {
		t.Fatalf("%d idle sockets, want 1", len(conn.idle[idleV4]))
	}
	kept := int(conn.idle[idleV4][0])
	if u := conn.fds[kept].uses; u != maxUses-1 {
		t.Fatalf("the kept socket carried %d probes, want %d", u, maxUses-1)
	}
	if r := probeOn(t, conn, up); !r.Up {
		t.Fatalf("last probe: %+v", r)
	}
	if len(conn.idle[idleV4]) != 0 {
		t.Fatalf("the socket was kept after %d probes", maxUses)
	}
	if _, err := unix.FcntlInt(uintptr(kept), unix.F_GETFD, 0); err == nil {
		t.Fatalf("descriptor %d still open after its socket's last probe", kept)
	}

	fd, err := rawSocket(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := conn.watch(fd); err != nil {
			t.Fatalf("watch %d: %v", i+1, err)
		}
	}
	conn.discard(fd)
	if conn.fds[fd].inEpoll {
		t.Error("a closed descriptor is still marked as in epoll")
	}
}

// CheckOnce cut short by its context still gives every watch a result: a
// probe it cut is down, and so is a real with one check up and one cut.
func TestCheckOnceCutShort(t *testing.T) {
	ln, _, hung := connectTargets(t)
	up := netip.MustParseAddrPort(ln.Addr().String())
	tcp := func(target netip.AddrPort) Spec {
		return Spec{Type: "tcp", Target: target, Real: target, Interval: time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, err := CheckOnce(ctx, []Watch{{ID: "up", Spec: tcp(up)}, {ID: "hung", Spec: tcp(hung)}, {ID: "both", Spec: tcp(up)}, {ID: "both", Spec: tcp(hung)}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s after a 200ms context", took)
	}
	if r := got["up"]; !r.Up {
		t.Errorf("up: %+v", r)
	}
	for _, id := range []string{"hung", "both"} {
		if r := got[id]; r.Up || !strings.HasPrefix(r.Reason, "cut short") {
			t.Errorf("%s: %+v, want down, cut short", id, r)
		}
	}
}
