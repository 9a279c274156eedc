package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/rpc"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"
)

// Remote is a Session run by a speaker process (directord-bgp, which
// serves ServeSpeaker on its stdin and stdout). GoBGP and the gRPC and
// protobuf code under it are 18 MB of the binary, and every Go process
// runs the init code of everything it links: in the daemon they were
// 7 MB of its memory on every director, BGP or not. Only a director
// with a bgp block pays for them, in a process of their own.
//
// Remote keeps the peers and routes it was given and gives them again
// to a speaker that it restarts after an unexpected exit: the routers
// lost the sessions (and withdrew the routes) when the process died,
// and get them back within a few seconds.
type Remote struct {
	prog   Program
	g      Global
	log    *slog.Logger
	onPeer func(PeerStatus)

	mu       sync.Mutex
	client   *rpc.Client // nil while the speaker restarts
	proc     *os.Process
	peers    []Peer
	routes   map[netip.Prefix]Route
	gen      uint64 // counts changes of peers and routes, for restart
	stopping bool

	stopOnce sync.Once
	stopped  chan struct{} // closed by Stop
	done     chan struct{} // closed when supervise returns
}

// restartDelay is the first wait before a speaker that exited is
// started again; it doubles up to maxRestartDelay while starts fail or
// the speakers started die within stableRun.
const (
	restartDelay    = time.Second
	maxRestartDelay = 30 * time.Second
	stableRun       = 30 * time.Second
	// callTimeout bounds the calls of a start: the session's, and the
	// peers and routes given to a restarted speaker.
	callTimeout = 30 * time.Second
	// stopTimeout bounds a graceful Stop: the Cease to each router, then
	// the process's exit.
	stopTimeout = 10 * time.Second
)

// Program is the speaker to run.
type Program struct {
	Path string
	// Args set its log format and level: those of the daemon when it
	// started the speaker.
	Args []string
	// Check, if set, vets Path before every start (the daemon's: a
	// program it runs as root must be root's alone).
	Check func(path string) error
}

// StartRemote runs prog as the speaker and starts g's session in it;
// onPeer (may be nil) hears every session state change. The speaker's
// log goes to the daemon's stderr.
func StartRemote(ctx context.Context, prog Program, g Global, log *slog.Logger, onPeer func(PeerStatus)) (*Remote, error) {
	r := &Remote{prog: prog, g: g, log: log, onPeer: onPeer,
		routes: map[netip.Prefix]Route{}, stopped: make(chan struct{}), done: make(chan struct{})}
	c, cmd, err := r.spawn(ctx)
	if err != nil {
		return nil, err
	}
	r.client, r.proc = c, cmd.Process
	go r.supervise(ctx, c, cmd)
	return r, nil
}

// spawn starts the process and its session. The pipes are os.Pipes the
// child holds the other ends of: exec's own would be closed by Wait
// under the RPC client's reads.
func (r *Remote) spawn(ctx context.Context) (*rpc.Client, *exec.Cmd, error) {
	if r.prog.Check != nil {
		if err := r.prog.Check(r.prog.Path); err != nil {
			return nil, nil, fmt.Errorf("BGP speaker %s: %w", r.prog.Path, err)
		}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, nil, err
	}
	cmd := exec.Command(r.prog.Path, r.prog.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, nil, fmt.Errorf("BGP speaker %s: %w", r.prog.Path, err)
	}
	c := rpc.NewClient(pipeConn{outR, inW})
	sctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := call(sctx, c, "Start", r.g, &Empty{}); err != nil {
		c.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, nil, fmt.Errorf("starting BGP: %w", err)
	}
	if r.onPeer != nil {
		go r.events(c)
	}
	return c, cmd, nil
}

// pipeConn is the two pipes as one connection.
type pipeConn struct {
	*os.File // read: the child's stdout
	w        *os.File
}

func (p pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }

func (p pipeConn) Close() error { return errors.Join(p.File.Close(), p.w.Close()) }

// events relays session state changes until the speaker stops.
func (r *Remote) events(c *rpc.Client) {
	for {
		var evs []PeerStatus
		if err := c.Call(rpcService+".Events", Empty{}, &evs); err != nil || len(evs) == 0 {
			return
		}
		for _, e := range evs {
			r.onPeer(e)
		}
	}
}

// supervise waits for the speaker to exit and, unless Stop asked for
// it, starts another and gives it the peers and routes. A speaker that
// dies soon after its start (within stableRun) waits longer for the
// next, as one that fails to start does: no flapping of the sessions
// every second.
func (r *Remote) supervise(ctx context.Context, c *rpc.Client, cmd *exec.Cmd) {
	defer close(r.done)
	delay, started := restartDelay, time.Now()
	for {
		err := cmd.Wait()
		c.Close()
		r.mu.Lock()
		r.client = nil
		stopping := r.stopping
		r.mu.Unlock()
		if stopping || ctx.Err() != nil {
			return
		}
		if time.Since(started) >= stableRun {
			delay = restartDelay
		}
		r.log.Error("the BGP speaker exited; starting it again", "err", err, "in", delay)
		for {
			select {
			case <-time.After(delay):
			case <-r.stopped:
				return
			case <-ctx.Done():
				return
			}
			c, cmd, err = r.restart(ctx)
			delay = min(2*delay, maxRestartDelay)
			if err == nil {
				break
			}
			r.log.Error("the BGP speaker did not start; trying again", "err", err, "in", delay)
		}
		started = time.Now()
	}
}

// restart spawns a speaker and gives it the peers and routes, again
// until none changed meanwhile (the lock is not held across the calls:
// the daemon's calls fail fast until the new speaker is in place, and
// their changes are recorded for the next round). A speaker that does
// not take them all is stopped, and the start counts as failed.
func (r *Remote) restart(ctx context.Context) (*rpc.Client, *exec.Cmd, error) {
	c, cmd, err := r.spawn(ctx)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*rpc.Client, *exec.Cmd, error) {
		c.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, nil, err
	}
	sent := map[netip.Prefix]Route{}
	replayed := false
	var gen uint64
	for {
		r.mu.Lock()
		if r.stopping {
			r.mu.Unlock()
			return fail(errors.New("stopping"))
		}
		if replayed && r.gen == gen {
			r.client, r.proc = c, cmd.Process
			peers, routes := len(r.peers), len(r.routes)
			r.mu.Unlock()
			r.log.Info("BGP speaker started again", "peers", peers, "routes", routes)
			return c, cmd, nil
		}
		gen, replayed = r.gen, true
		peers, routes := slices.Clone(r.peers), maps.Clone(r.routes)
		r.mu.Unlock()
		if err := replay(ctx, c, peers, routes, sent); err != nil {
			return fail(fmt.Errorf("giving the new speaker its peers and routes: %w", err))
		}
	}
}

// replay makes the speaker's peers and routes peers and routes; sent is
// what it has been given so far, updated.
func replay(ctx context.Context, c *rpc.Client, peers []Peer, routes, sent map[netip.Prefix]Route) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := call(ctx, c, "SetPeers", peers, &Empty{}); err != nil {
		return err
	}
	for _, p := range slices.SortedFunc(maps.Keys(sent), netip.Prefix.Compare) {
		if _, ok := routes[p]; !ok {
			if err := call(ctx, c, "Withdraw", p, &Empty{}); err != nil {
				return err
			}
			delete(sent, p)
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(routes), netip.Prefix.Compare) {
		if old, ok := sent[p]; ok && old.Equal(routes[p]) {
			continue
		}
		if err := call(ctx, c, "Announce", routes[p], &Empty{}); err != nil {
			return err
		}
		sent[p] = routes[p]
	}
	return nil
}

// call makes one RPC, giving up when ctx ends.
func call(ctx context.Context, c *rpc.Client, method string, args, reply any) error {
	cl := c.Go(rpcService+"."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-cl.Done:
		return cl.Error
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do calls the running speaker.
func (r *Remote) do(ctx context.Context, method string, args, reply any) error {
	r.mu.Lock()
	c := r.client
	r.mu.Unlock()
	if c == nil {
		return errors.New("the BGP speaker is not running (it is being started again)")
	}
	return call(ctx, c, method, args, reply)
}

// SetPeers implements Session.
func (r *Remote) SetPeers(ctx context.Context, peers []Peer) error {
	r.mu.Lock()
	r.peers = slices.Clone(peers)
	r.gen++
	r.mu.Unlock()
	return r.do(ctx, "SetPeers", peers, &Empty{})
}

// Announce implements Speaker.
func (r *Remote) Announce(ctx context.Context, rt Route) error {
	r.mu.Lock()
	r.routes[rt.Prefix] = rt
	r.gen++
	r.mu.Unlock()
	return r.do(ctx, "Announce", rt, &Empty{})
}

// Withdraw implements Speaker.
func (r *Remote) Withdraw(ctx context.Context, p netip.Prefix) error {
	r.mu.Lock()
	delete(r.routes, p)
	r.gen++
	r.mu.Unlock()
	return r.do(ctx, "Withdraw", p, &Empty{})
}

// Peers implements Session.
func (r *Remote) Peers(ctx context.Context) ([]PeerStatus, error) {
	var out []PeerStatus
	err := r.do(ctx, "Peers", Empty{}, &out)
	return out, err
}

// Pid is the speaker process's, 0 while it restarts.
func (r *Remote) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client == nil || r.proc == nil {
		return 0
	}
	return r.proc.Pid
}

// Stop implements Session: the speaker sends a Cease to each router and
// exits. A speaker that does not within stopTimeout is killed.
func (r *Remote) Stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.stopping = true
		c, proc := r.client, r.proc
		r.mu.Unlock()
		close(r.stopped)
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if c != nil {
			if err := call(ctx, c, "Stop", Empty{}, &Empty{}); err != nil {
				r.log.Warn("BGP speaker stop", "err", err)
			}
			c.Close() // its stdin ends: it exits
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			if proc != nil {
				_ = proc.Kill()
			}
			<-r.done
		}
	})
}
