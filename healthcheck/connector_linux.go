package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connector runs TCP checks without a goroutine, a timer or a thread per
// probe. Each probe is one non-blocking socket: socket(2), connect(2)
// (EINPROGRESS), registered EPOLLOUT|EPOLLONESHOT in one epoll(7)
// instance, then SO_ERROR if the kernel flagged an error, SO_LINGER 0 and
// close(2). That is net.Dial's work without its getsockname,
// getpeername, TCP_NODELAY and keep-alive calls, the per-dial goroutine
// park and the per-dial deadline timer.
//
// The epoll instance's own descriptor sits in the Go runtime's poller
// (an epoll descriptor is readable while events are pending), so the one
// goroutine that waits for it (run) parks like any network read, and its
// read deadline is the earliest probe timeout: one runtime timer for all
// the probes in flight.
//
// The monitor launches the probes that are due together and reaps right
// after (Reap): one poll(2) over the batch's new sockets finds those that
// have finished already (on loopback or a near LAN the handshake often
// completes within connect), and only the others go into epoll. Their
// results are recorded on the same wake-up, with no epoll_ctl and no
// wake-up of the waiting goroutine.
type connector struct {
	ep  *os.File
	raw syscall.RawConn

	mu   sync.Mutex
	epfd int
	open []*connect // by descriptor: they are small and dense
	free []*connect // finished and out of the timeout queue, for reuse
	// idle holds sockets of finished probes, disconnected, for the next
	// probes of their family (idleV4, idleV6) from a plain origin.
	idle     [2][]int32
	fds      []fdState  // by descriptor
	fresh    []*connect // started, not yet polled or in epoll
	polls    []unix.PollFd
	timeouts timeHeap[*connect] // by deadline, from epoch
	epoch    time.Time
	armed    time.Time // the deadline set on ep; zero for none
	closed   bool
	events   []unix.EpollEvent
}

// connect is one probe in flight.
type connect struct {
	fd       int32 // -1 once finished
	idle     int8  // its idle list when it finishes: idleV4, idleV6, or -1 for none
	start    time.Time
	deadline time.Time
	tag      any
}

// connectDone is a finished connect probe and its result.
type connectDone struct {
	tag any
	res Result
}

func newConnector() (*connector, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	ep := os.NewFile(uintptr(fd), "healthcheck-epoll")
	// A file outside the poller has no deadlines: say so rather than
	// wait forever for a timeout.
	if err := ep.SetReadDeadline(time.Time{}); err != nil {
		ep.Close()
		return nil, fmt.Errorf("epoll descriptor not pollable: %w", err)
	}
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, err
	}
	return &connector{ep: ep, raw: raw, epfd: fd,
		events: make([]unix.EpollEvent, 256), epoch: time.Now()}, nil
}

// Start begins a connect to target from o, given up at deadline. A
// probe that ends at once (refused or unreachable by the local stack, a
// bind address that is gone, or connected on the spot) comes back with
// done true; the others come back from Reap or run. The caller must Reap
// after its batch of Starts.
func (c *connector) Start(target netip.AddrPort, o origin, start, deadline time.Time, tag any) (res Result, done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		// Stopping: no result, rather than a failure that could take
		// a real down on the way out.
		return Result{}, false
	}
	fd, idle, err := c.connectTo(target, o)
	switch {
	case err == nil:
		c.release(fd, idle)
		return Result{Up: true, Reason: "connected"}, true
	case !errors.Is(err, unix.EINPROGRESS):
		if fd >= 0 {
			c.discard(fd)
		}
		return Result{Reason: connectReason(err)}, true
	}
	cn := c.newConnect()
	*cn = connect{fd: int32(fd), idle: idle, start: start, deadline: deadline, tag: tag}
	if fd >= len(c.open) {
		c.open = append(c.open, make([]*connect, fd+1-len(c.open))...)
	}
	c.open[fd] = cn
	c.fresh = append(c.fresh, cn)
	c.timeouts.push(int64(deadline.Sub(c.epoch)), cn)
	// Reap, which the caller runs after a batch of Starts, polls it and
	// sets the deadline: most probes end there, and a deadline set and
	// cleared again would be two timer changes for nothing.
	return Result{}, false
}

// newConnect takes a connect from the free list, or makes one. The caller
// holds c.mu.
func (c *connector) newConnect() *connect {
	if n := len(c.free); n > 0 {
		cn := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		return cn
	}
	return new(connect)
}

// Reap appends to out the probes that have finished or timed out by now,
// without waiting.
func (c *connector) Reap(now time.Time, out []connectDone) []connectDone {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reap(now, out)
}

// reap is Reap with c.mu held.
func (c *connector) reap(now time.Time, out []connectDone) []connectDone {
	if c.closed {
		return out
	}
	out = c.pollFresh(now, out)
	for {
		n, err := rawEpollWait(c.epfd, c.events)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		for _, e := range c.events[:max(n, 0)] {
			if int(e.Fd) >= len(c.open) || c.open[e.Fd] == nil {
				continue
			}
			cn := c.open[e.Fd]
			out = append(out, c.finish(cn, e.Events, now))
		}
		if n < len(c.events) {
			break
		}
	}
	nowAt := int64(now.Sub(c.epoch))
	for c.timeouts.Len() > 0 {
		at, cn := c.timeouts.peek()
		if cn.fd >= 0 && at > nowAt {
			break
		}
		c.timeouts.pop()
		if cn.fd >= 0 {
			c.open[cn.fd] = nil
			c.discard(int(cn.fd))
			out = append(out, connectDone{tag: cn.tag, res: Result{Reason: "timeout", Latency: now.Sub(cn.start)}})
		}
		// Out of the queue and finished: nothing refers to it now.
		*cn = connect{fd: -1}
		c.free = append(c.free, cn)
	}
	next := time.Time{}
	if c.timeouts.Len() > 0 {
		_, cn := c.timeouts.peek()
		next = cn.deadline
	}
	c.arm(next)
	return out
}

// pollFresh asks, in one poll(2), which of the sockets started since the
// last reap have finished, and puts the others in epoll. The caller holds
// c.mu.
func (c *connector) pollFresh(now time.Time, out []connectDone) []connectDone {
	if len(c.fresh) == 0 {
		return out
	}
	c.polls = c.polls[:0]
	for _, cn := range c.fresh {
		c.polls = append(c.polls, unix.PollFd{Fd: cn.fd, Events: unix.POLLOUT})
	}
	for {
		if err := rawPoll(c.polls); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	for i, cn := range c.fresh {
		// POLLOUT, POLLERR and POLLHUP have EPOLLOUT's, EPOLLERR's
		// and EPOLLHUP's values.
		rev := c.polls[i].Revents
		if rev&unix.POLLNVAL != 0 {
			// Not a socket of ours any more: never "connected".
			c.open[cn.fd] = nil
			*c.state(int(cn.fd)) = fdState{}
			cn.fd = -1
			out = append(out, connectDone{tag: cn.tag, res: Result{Reason: "poll: invalid descriptor"}})
			continue
		}
		if ev := uint32(uint16(rev & (unix.POLLOUT | unix.POLLERR | unix.POLLHUP))); ev != 0 {
			out = append(out, c.finish(cn, ev, now))
			continue
		}
		if err := c.watch(int(cn.fd)); err != nil {
			c.open[cn.fd] = nil
			c.discard(int(cn.fd))
			cn.fd = -1
			out = append(out, connectDone{tag: cn.tag, res: Result{Reason: "epoll_ctl: " + err.Error()}})
		}
	}
	clear(c.fresh)
	c.fresh = c.fresh[:0]
	return out
}

// finish ends a probe the kernel reported on. The caller holds c.mu.
func (c *connector) finish(cn *connect, events uint32, now time.Time) connectDone {
	fd := int(cn.fd)
	c.open[cn.fd] = nil
	cn.fd = -1 // the timeout queue drops it when it reaches the head
	res := Result{Up: true, Reason: "connected", Latency: now.Sub(cn.start)}
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		soerr, err := rawGetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			res.Up, res.Reason = false, "getsockopt: "+err.Error()
		case soerr == 0, soerr == int(unix.ECONNRESET), soerr == int(unix.EPIPE):
			// Connected, then reset by a server that closes at once:
			// a refused SYN is ECONNREFUSED, so this one got through.
		default:
			res.Up, res.Reason = false, connectReason(syscall.Errno(soerr))
		}
	}
	if res.Up {
		c.release(fd, cn.idle)
	} else {
		c.discard(fd)
	}
	return connectDone{tag: cn.tag, res: res}
}

// arm sets ep's read deadline to t (zero: none) if it is not set already.
// The caller holds c.mu.
func (c *connector) arm(t time.Time) {
	if c.closed || t.Equal(c.armed) {
		return
	}
	c.armed = t
	_ = c.ep.SetReadDeadline(t)
}

// run waits for probes to finish and sends them to out in batches, until
// ctx ends; then it closes every socket and the epoll instance.
func (c *connector) run(ctx context.Context, out chan<- []connectDone) {
	defer context.AfterFunc(ctx, c.stop)()
	defer c.close()
	for {
		done := c.wait()
		if done == nil {
			return
		}
		select {
		case out <- done:
		case <-ctx.Done():
			return
		}
	}
}

// wait blocks until probes finish or time out and returns them; nil once
// the connector is stopped.
func (c *connector) wait() []connectDone {
	for {
		var done []connectDone
		stopped := false
		err := c.raw.Read(func(uintptr) bool {
			c.mu.Lock()
			done, stopped = c.reap(time.Now(), nil), c.closed
			c.mu.Unlock()
			return len(done) > 0 || stopped
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.mu.Lock()
			done, stopped = c.reap(time.Now(), done), c.closed
			c.mu.Unlock()
		} else if err != nil {
			return nil
		}
		if stopped {
			return nil
		}
		if len(done) > 0 {
			return done
		}
	}
}

// stop ends wait, for good.
func (c *connector) stop() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.ep.SetReadDeadline(time.Unix(1, 0)) // in the past: wakes the Read
}

func (c *connector) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *connector) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for fd, cn := range c.open {
		if cn != nil {
			rawClose(fd)
		}
	}
	for _, fds := range c.idle {
		for _, fd := range fds {
			rawClose(int(fd))
		}
	}
	c.open, c.idle, c.fds = nil, [2][]int32{}, nil
	c.fresh, c.free, c.timeouts = nil, nil, timeHeap[*connect]{}
	c.ep.Close()
}

// connectReason names a failed connect as dialReason does for net.Dial.
func connectReason(err error) string {
	switch {
	case errors.Is(err, syscall.ETIMEDOUT):
		return "timeout"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "bind address not available"
	}
	return dialReason(context.Background(), err)
}
