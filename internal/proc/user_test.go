package proc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"directord/internal/testenv"
)

func TestCheckScript(t *testing.T) {
	if err := CheckScript("/bin/sh"); err != nil {
		t.Errorf("/bin/sh: %v", err)
	}
	if err := CheckScript("true"); err != nil {
		t.Errorf("true (from PATH): %v", err)
	}
	if err := CheckScript("/nonexistent/x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "s")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := CheckScript(script); err != nil {
			t.Errorf("root's script in root's directory: %v", err)
		}
		if err := os.Chown(script, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := CheckScript(script); !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "uid 65534") {
			t.Errorf("another user's script: %v", err)
		}
		if err := os.Chown(script, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(script, 0o757); err != nil {
		t.Fatal(err)
	}
	if err := CheckScript(script); !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "writable by everyone") {
		t.Errorf("world-writable script: %v", err)
	}
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := CheckScript(script); !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), dir) {
		t.Errorf("script in a world-writable directory: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink: its directory and its target are both checked.
	safeLink := filepath.Join(t.TempDir(), "l")
	if err := os.Symlink(script, safeLink); err != nil {
		t.Fatal(err)
	}
	if err := CheckScript(safeLink); os.Geteuid() == 0 && err != nil {
		t.Errorf("root's symlink to a safe script: %v", err)
	}
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	openLink := filepath.Join(open, "l")
	if err := os.Symlink(script, openLink); err != nil {
		t.Fatal(err)
	}
	if err := CheckScript(openLink); !errors.Is(err, ErrInsecure) {
		t.Errorf("symlink in a world-writable directory: %v", err)
	}
	// A missing program where others could plant it is insecure, not
	// merely missing.
	if err := CheckScript(filepath.Join(open, "later")); !errors.Is(err, ErrInsecure) {
		t.Errorf("missing program in a world-writable directory: %v", err)
	}
	if err := CheckScript("bin/x"); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("relative path: %v", err)
	}
	if os.Geteuid() == 0 {
		// Owned by another user, even read-only: they can chmod it back.
		ro := filepath.Join(dir, "ro")
		if err := os.WriteFile(ro, []byte("#!/bin/sh\n"), 0o555); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(ro, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := CheckScript(ro); !errors.Is(err, ErrInsecure) {
			t.Errorf("read-only script of another user: %v", err)
		}
	}
}

// script_user: the command runs with that user's uid and gid.
func TestRunAs(t *testing.T) {
	testenv.RequireRoot(t)
	u, err := LookupUser("nobody")
	testenv.Require(t, err == nil, "no user nobody: %v", err)
	var out bytes.Buffer
	res, err := RunAs(context.Background(), u, []string{"/usr/bin/id", "-u"}, nil, 5*time.Second, &out)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("RunAs = %+v, %v", res, err)
	}
	if got := strings.TrimSpace(out.String()); got != "65534" {
		t.Errorf("ran as uid %s, want 65534", got)
	}
}
