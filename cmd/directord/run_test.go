package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

// On a kernel without IPVS, as this host's, a config with virtual servers
// fails with a message that says how to load it.
func TestRunWithoutIPVS(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.hcl")
	src := "director {\n  status_socket = \"" + filepath.Join(dir, "s.sock") + "\"\n}\n" +
		"virtual_server \"v\" {\n  address = \"10.0.0.1\"\n  port = 80\n  real_server \"10.0.0.2\" {}\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "run", "--config", path)
	if code != exitFailure || !strings.Contains(errOut, "modprobe ip_vs") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
