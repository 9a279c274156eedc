package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRefusesVirtualServers(t *testing.T) {
	code, _, errOut := runCLI(t, "run", "--config", "../../examples/seed-dr/lb1.hcl")
	if code != exitInvalid || !strings.Contains(errOut, "virtual_server blocks are not supported") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestRunInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.hcl")
	if err := os.WriteFile(path, []byte("vrrp_instance \"v\" {\n  priority = 300\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "run", "--config", path)
	if code != exitInvalid || !strings.Contains(errOut, path+":2:14") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// A config that is valid but cannot run here (no such interface) fails
// with a clear error before touching anything.
func TestRunMissingInterface(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.hcl")
	src := `director {
  status_socket = "` + filepath.Join(dir, "s.sock") + `"
}
vrrp_instance "v" {
  interface = "nosuchif0"
  virtual_router_id = 9
  virtual_ips = ["10.0.0.1"]
}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "run", "--config", path)
	if code != exitFailure || !strings.Contains(errOut, "nosuchif0") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
