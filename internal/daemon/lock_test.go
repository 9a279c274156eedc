package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSecondRunLockNamesTheFirst(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "d.sock")
	first, err := lockRun(sock)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockRun(sock)
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v, want ErrRunning naming pid %d", err, os.Getpid())
	}
	first.Close()
	again, err := lockRun(sock)
	if err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	again.Close()
}

func TestRunLockRefusesAnUnsafeDirectory(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := lockRun(filepath.Join(open, "d.sock")); err == nil || !strings.Contains(err.Error(), "writable by everyone") {
		t.Errorf("world-writable directory: %v", err)
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := lockRun(filepath.Join(other, "d.sock")); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("another user's directory: %v", err)
		}
		// Ours, but inside another user's: they could rename ours away
		// and put their own in its place after the check.
		inside := filepath.Join(other, "ours")
		if err := os.Mkdir(inside, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := lockRun(filepath.Join(inside, "d.sock")); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("our directory inside another user's: %v", err)
		}
	}
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := lockRun(filepath.Join(link, "d.sock")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symlinked directory: %v", err)
	}
	// A lock file that is a symlink is not followed.
	target := filepath.Join(base, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(real, "d.sock.lock")); err != nil {
		t.Fatal(err)
	}
	if _, err := lockRun(filepath.Join(real, "d.sock")); err == nil {
		t.Error("followed a symlinked lock file")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the symlink's target was written: %q", b)
	}
}

func TestRemoveStaleSocketOnlyRemovesSockets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := removeStaleSocket(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the file was removed: %v", err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := removeStaleSocket(sock); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("stale socket still there: %v", err)
	}
	if err := removeStaleSocket(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing path: %v", err)
	}
}
