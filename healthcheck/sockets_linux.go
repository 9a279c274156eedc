package healthcheck

// The connector's sockets: opened, connected, kept idle between probes,
// and closed.

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// connectTo connects a socket, an idle one if there is one for o and the
// target's family, to target. It returns the descriptor (or -1), the idle
// list the socket goes back to (or -1) and connect's error: nil,
// EINPROGRESS, or a failure. The caller holds c.mu.
func (c *connector) connectTo(target netip.AddrPort, o origin) (fd int, idle int8, err error) {
	dst, err := sockaddr(netip.AddrPortFrom(target.Addr().Unmap(), target.Port()))
	if err != nil {
		return -1, -1, fmt.Errorf("zone of %s: %w", target.Addr(), err)
	}
	idle = -1
	// A zone pins a socket to its interface, and a disconnect does not
	// undo that: only sockets from a plain origin are kept.
	if !o.bind.IsValid() && o.mark == 0 && target.Addr().Zone() == "" {
		idle = idleV4
		if dst.family == unix.AF_INET6 {
			idle = idleV6
		}
	}
	if idle >= 0 && len(c.idle[idle]) > 0 {
		l := c.idle[idle]
		fd, c.idle[idle] = int(l[len(l)-1]), l[:len(l)-1]
	} else if fd, err = newSocket(dst.family, o); err != nil {
		return fd, idle, err
	}
	// No quick ACK: the kernel then holds back the handshake's last ACK
	// (delayed ACK), and the reset at the end goes out in its place. The
	// SYN-ACK is the proof of a listening port; the real server's kernel
	// drops the half-open connection on the reset, without building a
	// socket for it, and its application never sees the probe (HAProxy
	// checks the same way). A disconnect clears the setting: it is set
	// for every connect.
	if err := rawSetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
		return fd, idle, os.NewSyscallError("setsockopt", err)
	}
	return fd, idle, rawConnect(fd, &dst)
}

// Idle lists, by the family of their sockets.
const (
	idleV4 int8 = iota
	idleV6
)

// maxIdle bounds each idle list: the sockets in it are descriptors.
const maxIdle = 1024

// maxUses bounds the probes one socket carries. A disconnect moves the
// socket's next initial sequence number on from the last one
// (tcp_disconnect: write_seq += max_window + 2) where a new socket draws
// it from the connection's addresses and a secret (RFC 6528): one who
// saw a probe's sequence numbers could guess the next few of that
// socket's. A fresh socket every 64 probes keeps that chain short and
// costs a socket and a close in 64 probes.
const maxUses = 64

// fdState is what the connector knows of a descriptor of its own.
type fdState struct {
	inEpoll bool   // epoll has it (EPOLLONESHOT leaves it there, disabled)
	uses    uint16 // probes it has carried
}

func (c *connector) state(fd int) *fdState {
	if fd >= len(c.fds) {
		c.fds = append(c.fds, make([]fdState, fd+1-len(c.fds))...)
	}
	return &c.fds[fd]
}

// release ends a probe that connected: it resets the connection with a
// disconnect (connect to AF_UNSPEC: the kernel sends a reset, as a close
// with SO_LINGER 0 does, and the socket is unconnected again, its port
// given back) and keeps the socket for a later probe, which then costs a
// connect where it cost socket, close and two options more; the kernel
// saves building and freeing a socket. Where it cannot keep it, it
// closes it with a reset. The caller holds c.mu.
func (c *connector) release(fd int, idle int8) {
	st := c.state(fd)
	st.uses++
	if idle >= 0 && st.uses < maxUses && len(c.idle[idle]) < maxIdle && rawDisconnect(fd) == nil {
		c.idle[idle] = append(c.idle[idle], int32(fd))
		return
	}
	c.closeFD(fd, true)
}

// discard closes a socket without keeping it. The caller holds c.mu.
func (c *connector) discard(fd int) { c.closeFD(fd, false) }

// closeFD closes a socket, with a reset if asked. A socket epoll has
// leaves it first: a child forked at that moment holds the socket until
// its exec, and its epoll entry would live on under a descriptor number
// the next socket may get. The caller holds c.mu.
func (c *connector) closeFD(fd int, reset bool) {
	st := c.state(fd)
	if st.inEpoll {
		_ = rawEpollCtl(c.epfd, unix.EPOLL_CTL_DEL, fd, &unix.EpollEvent{})
	}
	*st = fdState{}
	if reset {
		resetClose(fd)
	} else {
		rawClose(fd)
	}
}

// watch asks epoll for fd's connect: a socket epoll has from an earlier
// probe is re-armed, a new one added. The caller holds c.mu.
func (c *connector) watch(fd int) error {
	st := c.state(fd)
	op := unix.EPOLL_CTL_ADD
	if st.inEpoll {
		op = unix.EPOLL_CTL_MOD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd)}
	if err := rawEpollCtl(c.epfd, op, fd, &ev); err != nil {
		return err
	}
	st.inEpoll = true
	return nil
}

// newSocket opens a non-blocking TCP socket from o.
func newSocket(family int, o origin) (int, error) {
	bind := o.bind
	if o.mark != 0 && !bind.IsValid() {
		src, err := sourceTowards(o.real)
		if err != nil {
			return -1, fmt.Errorf("source address towards %s: %w", o.real, err)
		}
		bind = src
	}
	fd, err := rawSocket(family)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if o.mark != 0 {
		if err := setMark(uintptr(fd), o.mark); err != nil {
			return fd, fmt.Errorf("set SO_MARK %#x: %w", o.mark, err)
		}
	}
	if bind.IsValid() {
		// IP_BIND_ADDRESS_NO_PORT: see origin.dialer.
		if err := setNoPort(uintptr(fd)); err != nil {
			return fd, os.NewSyscallError("setsockopt", err)
		}
		src, err := sockaddr(netip.AddrPortFrom(bind.Unmap(), 0))
		if err != nil {
			return fd, fmt.Errorf("zone of %s: %w", bind, err)
		}
		if err := rawBind(fd, &src); err != nil {
			return fd, os.NewSyscallError("bind", err)
		}
	}
	return fd, nil
}
