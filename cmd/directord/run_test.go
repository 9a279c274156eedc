package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"directord/config"
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

// Under systemd (JOURNAL_STREAM set) the log lines carry no timestamp:
// the journal adds its own.
func TestLoggerUnderJournal(t *testing.T) {
	var b strings.Builder
	t.Setenv("JOURNAL_STREAM", "8:1234")
	log, _ := newLogger(&b, config.Director{LogFormat: "text", LogLevel: "info"})
	log.Info("hello", "k", "v")
	if got := b.String(); strings.Contains(got, "time=") || !strings.Contains(got, "msg=hello k=v") {
		t.Errorf("journal log line %q", got)
	}
	b.Reset()
	t.Setenv("JOURNAL_STREAM", "")
	log, level := newLogger(&b, config.Director{LogFormat: "json", LogLevel: "warn"})
	log.Info("hidden")
	level.Set(slog.LevelDebug)
	log.Debug("shown")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `"msg":"shown"`) || !strings.Contains(got, `"time":`) {
		t.Errorf("json log %q", got)
	}
}
