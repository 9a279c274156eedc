// Package testenv decides what a test does when the machine lacks
// something it needs: on a developer's laptop it skips, in CI (CI=true) a
// missing prerequisite is a failure, so a broken CI image can never turn the
// real-kernel tests into silent skips.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips or fails tb, per InCI, unless ok.
func Require(tb testing.TB, ok bool, format string, args ...any) {
	tb.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("missing prerequisite in CI: %s", msg)
	}
	tb.Skipf("skipping: %s", msg)
}

// RequireRoot needs uid 0, for namespaces, raw sockets and netlink writes.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	Require(tb, os.Geteuid() == 0, "needs root")
}

// RequireCommand needs a program on PATH.
func RequireCommand(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	Require(tb, err == nil, "needs %s on PATH", name)
	return p
}
