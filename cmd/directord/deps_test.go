package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binary must not link package testing (nor any package
// of ours that is for tests only): its flags and its init would be part
// of every director.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "directord/cmd/directord").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") ||
			(strings.HasPrefix(pkg, "directord/") && strings.HasSuffix(pkg, "test")) {
			t.Errorf("directord links %s", pkg)
		}
	}
}
