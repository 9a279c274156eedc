package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/testenv"
)

// The shipped unit file passes systemd-analyze verify. verify insists that
// ExecStart names an executable, so the copy points at this test binary.
func TestSystemdUnitVerifies(t *testing.T) {
	tool := testenv.RequireCommand(t, "systemd-analyze")
	src, err := os.ReadFile("../../dist/directord.service")
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(src), "/usr/sbin/directord", exe)
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=", "ExecStart=" + exe + " run"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "directord.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The drain and weight state file lives beside the default status socket,
// in the unit's RuntimeDirectory. systemd removes that directory when the
// service stops unless told to keep it, and a drained real would come
// back into rotation at "systemctl restart directord".
func TestSystemdUnitKeepsTheStateFile(t *testing.T) {
	src, err := os.ReadFile("../../dist/directord.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(daemon.StatePath(config.DefaultStatusSocket))
	if !strings.Contains(string(src), "\nRuntimeDirectory="+filepath.Base(dir)+"\n") || filepath.Dir(dir) != "/run" {
		t.Fatalf("the state file %s is not in the unit's RuntimeDirectory: update this test", dir)
	}
	if !strings.Contains(string(src), "\nRuntimeDirectoryPreserve=yes\n") {
		t.Error("the unit lets systemd remove /run/directord, and the drains with it, at every stop")
	}
}
