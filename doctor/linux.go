package doctor

import (
	"io"
	"net"
	"os"
	"strings"
)

// System is the machine doctor runs on.
type System struct{}

// ReadFile reads up to 1 MiB of a file under /proc, /sys or /lib/modules.
func (System) ReadFile(path string) (string, error) {
	if !strings.HasPrefix(path, "/proc/") && !strings.HasPrefix(path, "/sys/") && !strings.HasPrefix(path, "/lib/modules/") {
		return "", os.ErrPermission
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b), err
}

// Exists reports whether a path under /sys exists.
func (System) Exists(path string) bool {
	if !strings.HasPrefix(path, "/sys/") {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}

// HasInterface reports whether the interface exists in this namespace.
func (System) HasInterface(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
