package bgp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/rpc"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"directord/bgp"
)

// envFakeSpeaker makes this test binary a speaker process: ServeSpeaker
// on its stdin and stdout, with fakeSession as the session.
const envFakeSpeaker = "DIRECTORD_TEST_FAKE_SPEAKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envFakeSpeaker); mode != "" {
		start := func(_ context.Context, g bgp.Global, onPeer func(bgp.PeerStatus)) (bgp.Session, error) {
			if g.ASN == 0 {
				return nil, errors.New("no ASN")
			}
			if mode == "crash" {
				time.AfterFunc(100*time.Millisecond, func() { os.Exit(3) })
			}
			onPeer(bgp.PeerStatus{Address: g.RouterID, ASN: g.ASN, State: "established"})
			return &fakeSession{g: g}, nil
		}
		if err := bgp.ServeSpeaker(context.Background(), stdio{}, start); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type stdio struct{}

func (stdio) Read(b []byte) (int, error)  { return os.Stdin.Read(b) }
func (stdio) Write(b []byte) (int, error) { return os.Stdout.Write(b) }
func (stdio) Close() error                { return os.Stdin.Close() }

// fakeSession answers Peers with what it was given: one status per
// peer, then one per announced route (its State the route).
type fakeSession struct {
	g      bgp.Global
	mu     sync.Mutex
	peers  []bgp.Peer
	routes []bgp.Route
}

func (f *fakeSession) SetPeers(_ context.Context, ps []bgp.Peer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = ps
	return nil
}

func (f *fakeSession) Announce(_ context.Context, r bgp.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = slices.DeleteFunc(f.routes, func(o bgp.Route) bool { return o.Prefix == r.Prefix })
	f.routes = append(f.routes, r)
	return nil
}

func (f *fakeSession) Withdraw(_ context.Context, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = slices.DeleteFunc(f.routes, func(o bgp.Route) bool { return o.Prefix == p })
	return nil
}

func (f *fakeSession) Peers(context.Context) ([]bgp.PeerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bgp.PeerStatus
	for _, p := range f.peers {
		out = append(out, bgp.PeerStatus{Address: p.Address, ASN: p.ASN, State: "peer"})
	}
	for _, r := range f.routes {
		out = append(out, bgp.PeerStatus{State: r.String()})
	}
	return out, nil
}

func (f *fakeSession) Stop() {}

// startFake runs this test binary as the speaker.
func startFake(t *testing.T, g bgp.Global, onPeer func(bgp.PeerStatus)) *bgp.Remote {
	t.Helper()
	t.Setenv(envFakeSpeaker, "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := bgp.StartRemote(context.Background(), bgp.Program{Path: self}, g, log, onPeer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func states(t *testing.T, r *bgp.Remote) []string {
	t.Helper()
	ps, err := r.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.State)
	}
	return out
}

// The speaker process does what the daemon asks over the pipe, reports
// session changes, and, killed, is started again with the peers and
// routes it had: the routers get them back.
func TestRemoteSpeaker(t *testing.T) {
	events := make(chan bgp.PeerStatus, 4)
	g := bgp.Global{ASN: 65001, RouterID: netip.MustParseAddr("192.0.2.11")}
	r := startFake(t, g, func(st bgp.PeerStatus) { events <- st })
	select {
	case ev := <-events:
		if ev.State != "established" || ev.ASN != 65001 || ev.Address != g.RouterID {
			t.Errorf("event %+v, want the fake's established session", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no session event in 5 s")
	}
	ctx := context.Background()
	if err := r.SetPeers(ctx, []bgp.Peer{{Address: netip.MustParseAddr("10.0.0.1"), ASN: 65000}}); err != nil {
		t.Fatal(err)
	}
	a := bgp.Route{Prefix: netip.MustParsePrefix("10.0.0.100/32"), Communities: []uint32{65000<<16 | 7}, MED: 5, HasMED: true}
	b := bgp.Route{Prefix: netip.MustParsePrefix("2001:db8::100/128")}
	for _, rt := range []bgp.Route{a, b} {
		if err := r.Announce(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Withdraw(ctx, b.Prefix); err != nil {
		t.Fatal(err)
	}
	want := []string{"peer", a.String()}
	if got := states(t, r); !slices.Equal(got, want) {
		t.Fatalf("speaker state %q, want %q", got, want)
	}

	pid := r.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Pid() == 0 || r.Pid() == pid {
		if time.Now().After(deadline) {
			t.Fatal("the speaker was not started again within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := states(t, r); !slices.Equal(got, want) {
		t.Fatalf("restarted speaker's state %q, want %q again", got, want)
	}

	pid = r.Pid()
	r.Stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the speaker (pid %d) is still there after Stop: %v", pid, err)
	}
	if err := r.Announce(ctx, a); err == nil {
		t.Error("an announcement after Stop succeeded")
	}
}

// A speaker that dies soon after each start is started again less and
// less often, not every second: its sessions would flap for ever.
func TestRemoteSpeakerCrashLoopBacksOff(t *testing.T) {
	t.Setenv(envFakeSpeaker, "crash")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := bgp.StartRemote(context.Background(), bgp.Program{Path: self}, bgp.Global{ASN: 1}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	// Each speaker lives 100 ms. Waits of 1 s, then 2 s: three speakers
	// in 4.5 s. Every second would be five.
	pids := map[int]bool{}
	for end := time.Now().Add(4500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if pid := r.Pid(); pid != 0 {
			pids[pid] = true
		}
	}
	if len(pids) > 3 {
		t.Errorf("%d speakers started in 4.5 s, each dying 100 ms after its start; want at most 3", len(pids))
	}
	if len(pids) < 2 {
		t.Errorf("%d speakers in 4.5 s: a speaker that died was not started again", len(pids))
	}
}

// A speaker that cannot start its session is an error at once, and no
// process is left behind.
func TestRemoteSpeakerStartFails(t *testing.T) {
	t.Setenv(envFakeSpeaker, "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := bgp.StartRemote(context.Background(), bgp.Program{Path: self}, bgp.Global{}, log, nil); err == nil {
		t.Fatal("a session the speaker refused to start was started")
	}
	if _, err := bgp.StartRemote(context.Background(), bgp.Program{Path: "/nonexistent/directord-bgp"}, bgp.Global{ASN: 1}, log, nil); err == nil {
		t.Fatal("a missing speaker program was started")
	}
	refuse := func(string) error { return errors.New("writable by others") }
	if _, err := bgp.StartRemote(context.Background(), bgp.Program{Path: self, Check: refuse}, bgp.Global{ASN: 1}, log, nil); err == nil ||
		!strings.Contains(err.Error(), "writable by others") {
		t.Fatalf("a speaker its check refused: %v, want the check's error", err)
	}
}

// When the daemon's end of the connection closes without a Stop (the
// daemon was killed), the speaker stops its session and returns, even
// with an Events call waiting.
func TestServeSpeakerStopsAtEOF(t *testing.T) {
	a, b := net.Pipe()
	stopped := make(chan struct{})
	start := func(context.Context, bgp.Global, func(bgp.PeerStatus)) (bgp.Session, error) {
		return &stopSession{stopped: stopped}, nil
	}
	served := make(chan error, 1)
	go func() { served <- bgp.ServeSpeaker(context.Background(), a, start) }()
	c := rpc.NewClient(b)
	if err := c.Call("Speaker.Start", bgp.Global{ASN: 1}, &bgp.Empty{}); err != nil {
		t.Fatal(err)
	}
	events := c.Go("Speaker.Events", bgp.Empty{}, new([]bgp.PeerStatus), nil)
	time.Sleep(50 * time.Millisecond) // the call waits in the speaker
	c.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the speaker still serves 5 s after its input ended")
	}
	select {
	case <-stopped:
	default:
		t.Error("the session was not stopped")
	}
	<-events.Done
}

type stopSession struct {
	fakeSession
	stopped chan struct{}
}

func (s *stopSession) Stop() { close(s.stopped) }
