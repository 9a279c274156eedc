package healthcheck

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The connector's syscalls go through RawSyscall, not Syscall. None of
// them blocks: every socket is non-blocking and every poll has a zero
// timeout. Syscall announces itself to the scheduler (entersyscall), and
// the first such call after an idle spell wakes the runtime's sysmon
// thread from its deep sleep; sysmon then polls every 20 µs until the
// process is idle again. With a batch of probes twenty times a second
// that polling was 11 % of directord's CPU at 1,000 checks/s (perf:
// finish_task_switch under do_nanosleep, 230 nanosleeps a second).

// errnoErr turns a raw syscall's errno into an error; nil for none.
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawSocket(family int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func rawClose(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawSetsockopt(fd, level, opt int, val unsafe.Pointer, size uintptr) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(val), size, 0)
	return errnoErr(e)
}

func rawSetsockoptInt(fd, level, opt, v int) error {
	val := int32(v)
	return rawSetsockopt(fd, level, opt, unsafe.Pointer(&val), 4)
}

func rawGetsockoptInt(fd, level, opt int) (int, error) {
	var val int32
	size := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&val)), uintptr(unsafe.Pointer(&size)), 0)
	return int(val), errnoErr(e)
}

// rawPoll is poll(2) with a zero timeout.
func rawPoll(fds []unix.PollFd) error {
	if len(fds) == 0 {
		return nil
	}
	var ts unix.Timespec
	_, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)),
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return errnoErr(e)
}

// rawEpollWait is epoll_wait(2) with a zero timeout.
func rawEpollWait(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoErr(e)
}

// rawSockaddr is a socket address in the kernel's layout.
type rawSockaddr struct {
	v4     unix.RawSockaddrInet4
	v6     unix.RawSockaddrInet6
	family int
}

// sockaddr converts an address, with its zone for a link-local IPv6 one.
func sockaddr(ap netip.AddrPort) (rawSockaddr, error) {
	var sa rawSockaddr
	a := ap.Addr()
	port := (*[2]byte)(unsafe.Pointer(&sa.v4.Port))
	if a.Is4() {
		sa.family, sa.v4.Family, sa.v4.Addr = unix.AF_INET, unix.AF_INET, a.As4()
	} else {
		sa.family, sa.v6.Family, sa.v6.Addr = unix.AF_INET6, unix.AF_INET6, a.As16()
		port = (*[2]byte)(unsafe.Pointer(&sa.v6.Port))
		if z := a.Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return sa, err
			}
			sa.v6.Scope_id = uint32(ifi.Index)
		}
	}
	// Network byte order.
	port[0], port[1] = byte(ap.Port()>>8), byte(ap.Port())
	return sa, nil
}

// sockcall runs connect(2) or bind(2) on sa. The pointer becomes a
// uintptr in the call's own arguments, where the compiler keeps it valid.
func sockcall(trap uintptr, fd int, sa *rawSockaddr) error {
	var e unix.Errno
	if sa.family == unix.AF_INET {
		_, _, e = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa.v4)), unix.SizeofSockaddrInet4)
	} else {
		_, _, e = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa.v6)), unix.SizeofSockaddrInet6)
	}
	return errnoErr(e)
}

func rawConnect(fd int, sa *rawSockaddr) error { return sockcall(unix.SYS_CONNECT, fd, sa) }

func rawBind(fd int, sa *rawSockaddr) error { return sockcall(unix.SYS_BIND, fd, sa) }

// rawDisconnect connects a TCP socket to AF_UNSPEC (connect(2)): the
// kernel resets a connection in progress or established and returns the
// socket to its unconnected state.
func rawDisconnect(fd int) error {
	var sa rawSockaddr
	sa.family = unix.AF_UNSPEC
	return sockcall(unix.SYS_CONNECT, fd, &sa)
}

// resetClose closes a connected socket with a reset: thousands of probes
// a second would otherwise fill the TIME_WAIT table.
func resetClose(fd int) {
	l := unix.Linger{Onoff: 1, Linger: 0}
	_ = rawSetsockopt(fd, unix.SOL_SOCKET, unix.SO_LINGER, unsafe.Pointer(&l), unsafe.Sizeof(l))
	rawClose(fd)
}
