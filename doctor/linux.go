package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"directord/internal/privdir"
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

// CheckProgram is privdir.CheckPath (root's alone, and the directories
// above it), and an executable regular file.
func (System) CheckProgram(path string) error {
	if err := privdir.CheckPath(path); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o100 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Ruleset runs `nft -j list ruleset`, bounded in time and output.
func (System) Ruleset() ([]byte, error) { return output("nft", "-j", "list", "ruleset") }

// IPTables runs `TOOL -t filter` for a tool of this package's lists; a
// legacy one only while /proc lists its filter table (thread-self: the
// namespace of the calling thread, as the tool will run in).
func (System) IPTables(tool Tool) (string, error) {
	if !slices.Contains(legacyTools, tool) && !slices.Contains(nftTools, tool) {
		return "", fmt.Errorf("%s is not an iptables-save tool", tool.Name)
	}
	if tool.Legacy {
		names := "/proc/thread-self/net/ip_tables_names"
		if tool.IPv6 {
			names = "/proc/thread-self/net/ip6_tables_names"
		}
		b, err := os.ReadFile(names)
		if err != nil || !slices.Contains(strings.Fields(string(b)), "filter") {
			return "", nil
		}
	}
	b, err := output(tool.Name, "-t", "filter")
	if errors.Is(err, exec.ErrNotFound) && !tool.Legacy {
		return "", nil
	}
	// A legacy table in use whose tool is missing is an error: its rules
	// would go unchecked.
	return string(b), err
}

// output runs a program, bounded in time (5 s) and output (16 MiB).
func output(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
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
