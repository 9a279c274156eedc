package doctor

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
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

// Ruleset runs `nft -j list ruleset`, bounded in time and output.
func (System) Ruleset() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nft", "-j", "list", "ruleset")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b, rerr := io.ReadAll(io.LimitReader(out, 16<<20))
	if err := cmd.Wait(); err != nil {
		return nil, err
	}
	return b, rerr
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
