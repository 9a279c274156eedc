package healthcheck

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setMark sets SO_MARK, which needs CAP_NET_ADMIN.
func setMark(fd uintptr, mark uint32) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, int(mark))
}

// setNoPort sets IP_BIND_ADDRESS_NO_PORT (Linux 4.2).
func setNoPort(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
}
