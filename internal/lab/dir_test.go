package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivateDirFresh(t *testing.T) {
	a, created, err := PrivateDir("")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(a)
	b, _, err := PrivateDir("")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(b)
	if !created || a == b || filepath.Dir(a) != DirBase {
		t.Errorf("fresh dirs %s and %s (created %v), want two new ones under %s", a, b, created, DirBase)
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

// A directory someone else could have made is refused, and nothing is
// written through it.
func TestPrivateDirRefusesWhatOthersCouldMake(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o1777); err != nil {
		t.Fatal(err)
	}
	if _, _, err := PrivateDir(open); err == nil || !strings.Contains(err.Error(), "writable by other users") {
		t.Errorf("world-writable: %v", err)
	}
	target := filepath.Join(base, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := PrivateDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symlink: %v", err)
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, _, err := PrivateDir(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("another user's directory: %v", err)
		}
	}
	made := filepath.Join(base, "new")
	if p, created, err := PrivateDir(made); err != nil || created || p != made {
		t.Errorf("named missing dir: %s %v %v", p, created, err)
	}
	if fi, err := os.Stat(made); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("made with %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

func TestWriteFileDoesNotFollowSymlinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "lb1.hcl")); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFile(dir, "lb1.hcl", "x"); err == nil {
		t.Error("wrote through a symlink")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim changed: %q", b)
	}
	p, err := WriteFile(dir, "lb2.hcl", "y")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}
