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

// GoBGP, with the gRPC and x/net/trace code under it, runs in the BGP
// speaker's process (cmd/directord-bgp), never in the daemon: linked,
// its package init alone made every director's daemon 7 MB bigger.
func TestDaemonDoesNotLinkGoBGP(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "directord/cmd/directord").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/osrg/gobgp") || strings.HasPrefix(pkg, "google.golang.org/grpc") ||
			pkg == "golang.org/x/net/trace" || pkg == "directord/bgp/gobgp" {
			t.Errorf("directord links %s", pkg)
		}
	}
}

// Subsystems take their own types; the one translation from the
// configuration lives in the daemon.
func TestSubsystemsDoNotImportConfig(t *testing.T) {
	for _, pkg := range []string{"directord/lvs", "directord/vrrp", "directord/healthcheck"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		if strings.Contains("\n"+string(out), "\ndirectord/config\n") {
			t.Errorf("%s imports directord/config", pkg)
		}
	}
}
