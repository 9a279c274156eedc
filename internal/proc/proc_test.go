package proc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitCodeAndEnv(t *testing.T) {
	var out bytes.Buffer
	res, err := Run(context.Background(), []string{"/bin/sh", "-c", "echo $FOO; exit 3"}, []string{"FOO=bar"}, 5*time.Second, &out)
	if err != nil || res.ExitCode != 3 || strings.TrimSpace(out.String()) != "bar" {
		t.Fatalf("Run = %+v, %v, output %q", res, err, out.String())
	}
}

// A hung program and the children it started are killed at the timeout.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	start := time.Now()
	_, err := Run(context.Background(), []string{"/bin/sh", "-c", "sleep 60 & echo $! > " + pidFile + "; wait"}, nil, 300*time.Millisecond, nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Run returned after %s", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, c := range strings.TrimSpace(string(b)) {
		pid = pid*10 + int(c-'0')
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMissingProgram(t *testing.T) {
	if _, err := Run(context.Background(), []string{"/nonexistent/prog"}, nil, time.Second, nil); err == nil {
		t.Fatal("no error for a missing program")
	}
}

// A hook that prints without end costs MaxOutput bytes, not its output.
func TestOutputIsCapped(t *testing.T) {
	var out Capped
	res, err := Run(context.Background(), []string{"/bin/sh", "-c", "head -c 1000000 /dev/zero"}, nil, 5*time.Second, &out)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if len(out.Bytes()) != MaxOutput || out.Dropped != 1000000-MaxOutput {
		t.Errorf("kept %d, dropped %d; want %d and %d", len(out.Bytes()), out.Dropped, MaxOutput, 1000000-MaxOutput)
	}
}
