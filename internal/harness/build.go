// Package harness runs directord for real in network namespaces, for the
// integration tests and benchmarks: it builds the binary, starts daemons
// (and keepalived, the reference peer) inside namespaces, reads their
// status socket, and watches the wire from an observer namespace with
// tcpdump.
package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"directord/internal/privdir"
)

// BinDir holds built binaries. It is under /var/tmp because a User-Mode
// Linux guest mounts its own /tmp and could not see them there; root runs
// what is in it, so it must be a directory only we can write
// (privdir.Ensure).
const BinDir = "/var/tmp/directord-test"

// EnvBinary names an already built directord, so a guest (which cannot
// build) or a caller that built once can pass it down.
const EnvBinary = "DIRECTORD_TEST_BINARY"

// BuildDirectord builds ./cmd/directord of the module containing the
// working directory and returns its path, with its BGP speaker
// (./cmd/directord-bgp) beside it at that path plus SpeakerSuffix, where
// the daemon looks for it. When EnvBinary is set it returns that
// instead (its speaker beside it).
func BuildDirectord() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if err := privdir.Ensure(BinDir); err != nil {
		return "", fmt.Errorf("%w (if an earlier run as another user left it, remove it)", err)
	}
	prune(BinDir)
	out := filepath.Join(BinDir, fmt.Sprintf("directord-%d", os.Getpid()))
	for _, b := range []struct{ out, pkg string }{{out, "./cmd/directord"}, {out + SpeakerSuffix, "./cmd/directord-bgp"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %w\n%s", b.pkg, err, msg)
		}
	}
	return out, nil
}

// SpeakerSuffix makes the BGP speaker's path of the daemon's.
const SpeakerSuffix = "-bgp"

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// prune removes the binaries of test processes that have exited: each is
// named after the process that built it, and a run of every test builds
// one per package (20 MB each).
func prune(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		pid, ok := strings.CutPrefix(e.Name(), "directord-")
		n, err := strconv.Atoi(strings.TrimSuffix(pid, SpeakerSuffix))
		if !ok || err != nil || !e.Type().IsRegular() {
			continue
		}
		if syscall.Kill(n, 0) == syscall.ESRCH {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Installed copies bin in 64 KiB writes, as cp or a package manager
// installs it. The page cache keeps a file in folios as large as the
// writes that made it, and the kernel maps a binary's text from a 2 MB
// folio in one 2 MB page: touched anywhere, all of it counts in the RSS.
// Run as the linker (or one large write) left it, directord version
// peaks at 33 MB; copied so, at 22 MB. Benchmarks that report a peak
// RSS run the copy, as a director runs it.
func Installed(tb testing.TB, bin string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), filepath.Base(bin))
	copyInstalled(tb, bin, out)
	if _, err := os.Stat(bin + SpeakerSuffix); err == nil {
		copyInstalled(tb, bin+SpeakerSuffix, out+SpeakerSuffix)
	}
	return out
}

func copyInstalled(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		tb.Fatal(err)
	}
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		if _, err := f.Write(b[:n]); err != nil {
			tb.Fatal(err)
		}
		b = b[n:]
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
