package bgp

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"net/rpc"
	"sync"
)

// The speaker process (cmd/directord-bgp) and the daemon talk net/rpc
// (gob) over the process's stdin and stdout. The daemon is the client:
// it starts the speaker, sets its peers and announces and withdraws
// routes; session state changes come back as the answers to a call
// (Events) that waits for them. The service's name and methods are the
// protocol: both ends are built from this package.
const rpcService = "Speaker"

// Empty is an RPC argument or reply that carries nothing.
type Empty struct{}

// ServeSpeaker serves one daemon on conn until it closes or asks to
// stop, running the session start starts, and stops the session before
// it returns. It is the speaker process's whole job.
func ServeSpeaker(ctx context.Context, conn io.ReadWriteCloser, start StartFunc) error {
	s := &speakerServer{ctx: ctx, start: start, stopped: make(chan struct{}), wake: make(chan struct{}, 1)}
	srv := rpc.NewServer()
	if err := srv.RegisterName(rpcService, s); err != nil {
		return err
	}
	// ServeConn returns once the daemon's end is closed and every call
	// has returned, and Events returns only when the speaker stops: the
	// end of the input (the daemon exited, even by kill -9) stops it.
	srv.ServeConn(eofConn{conn, func() { go s.Stop(Empty{}, &Empty{}) }})
	s.Stop(Empty{}, &Empty{})
	return nil
}

// eofConn calls onEOF when a read fails: the input has ended.
type eofConn struct {
	io.ReadWriteCloser
	onEOF func()
}

func (c eofConn) Read(b []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(b)
	if err != nil {
		c.onEOF()
	}
	return n, err
}

// speakerServer is the RPC service. Its exported methods are the
// protocol (net/rpc's form: an argument, a reply pointer, an error).
type speakerServer struct {
	ctx   context.Context
	start StartFunc

	mu      sync.Mutex
	started bool
	sess    Session
	events  []PeerStatus
	wake    chan struct{}
	stop    sync.Once
	stopped chan struct{}
}

// Start starts the session; a second call is an error. s.mu is not
// held meanwhile: the session may report a state change (queue) before
// it returns.
func (s *speakerServer) Start(g Global, _ *Empty) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("bgp speaker: already started")
	}
	s.started = true
	s.mu.Unlock()
	sess, err := s.start(s.ctx, g, s.queue)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sess = sess
	s.mu.Unlock()
	return nil
}

// queue keeps a state change for the next Events.
func (s *speakerServer) queue(st PeerStatus) {
	s.mu.Lock()
	s.events = append(s.events, st)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Events waits for session state changes and returns them in order; it
// returns none once the speaker stops.
func (s *speakerServer) Events(_ Empty, out *[]PeerStatus) error {
	for {
		s.mu.Lock()
		evs := s.events
		s.events = nil
		s.mu.Unlock()
		if len(evs) > 0 {
			*out = evs
			return nil
		}
		select {
		case <-s.wake:
		case <-s.stopped:
			return nil
		}
	}
}

func (s *speakerServer) session() (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, errors.New("bgp speaker: not started")
	}
	return s.sess, nil
}

// SetPeers is Session.SetPeers.
func (s *speakerServer) SetPeers(peers []Peer, _ *Empty) error {
	sess, err := s.session()
	if err != nil {
		return err
	}
	return sess.SetPeers(s.ctx, peers)
}

// Announce is Speaker.Announce.
func (s *speakerServer) Announce(r Route, _ *Empty) error {
	sess, err := s.session()
	if err != nil {
		return err
	}
	return sess.Announce(s.ctx, r)
}

// Withdraw is Speaker.Withdraw.
func (s *speakerServer) Withdraw(p netip.Prefix, _ *Empty) error {
	sess, err := s.session()
	if err != nil {
		return err
	}
	return sess.Withdraw(s.ctx, p)
}

// Peers is Session.Peers.
func (s *speakerServer) Peers(_ Empty, out *[]PeerStatus) error {
	sess, err := s.session()
	if err != nil {
		return err
	}
	ps, err := sess.Peers(s.ctx)
	*out = ps
	return err
}

// Stop ends the sessions (a Cease to each router) and releases Events.
func (s *speakerServer) Stop(_ Empty, _ *Empty) error {
	s.stop.Do(func() {
		s.mu.Lock()
		sess := s.sess
		s.mu.Unlock()
		if sess != nil {
			sess.Stop()
		}
		close(s.stopped)
	})
	return nil
}
