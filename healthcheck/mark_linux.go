package healthcheck

import "syscall"

// setMark sets SO_MARK, which needs CAP_NET_ADMIN.
func setMark(fd uintptr, mark uint32) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, int(mark))
}
