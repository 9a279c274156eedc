package uml

import (
	"strings"
	"testing"
)

// A checkout under /tmp or /run is hidden by the guest's own tmpfs; the
// top directory below it is mounted back, and nothing else is.
func TestShadowed(t *testing.T) {
	for dir, want := range map[string]string{
		"/tmp/x/internal/vmtest": "/tmp/x",
		"/tmp/x":                 "/tmp/x",
		"/run/ci/src":            "/run/ci",
		"/tmp":                   "",
		"/work/main/lvs":         "",
		"/var/tmp/clone":         "",
		"/tmpfoo/a":              "",
	} {
		got := strings.Join(shadowed(dir), ",")
		if got != want {
			t.Errorf("shadowed(%q) = %q, want %q", dir, got, want)
		}
	}
}
