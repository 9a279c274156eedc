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
	"time"
)

// BinDir holds built binaries. It is under /var/tmp because a User-Mode
// Linux guest mounts its own /tmp and could not see them there.
const BinDir = "/var/tmp/directord-test"

// EnvBinary names an already built directord, so a guest (which cannot
// build) or a caller that built once can pass it down.
const EnvBinary = "DIRECTORD_TEST_BINARY"

// BuildDirectord builds ./cmd/directord of the module containing the
// working directory and returns its path. When EnvBinary is set it returns
// that instead.
func BuildDirectord() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(BinDir, 0o755); err != nil {
		return "", err
	}
	prune(BinDir, 24*time.Hour)
	out := filepath.Join(BinDir, fmt.Sprintf("directord-%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", out, "./cmd/directord")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/directord: %w\n%s", err, b)
	}
	return out, nil
}

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

func prune(dir string, age time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
