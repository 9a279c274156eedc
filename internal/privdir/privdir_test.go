package privdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureMakesPrivateDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d")
	if err := Ensure(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %#o, want 0700", fi.Mode().Perm())
	}
	if err := Ensure(p); err != nil {
		t.Fatalf("second Ensure of our own directory: %v", err)
	}
}

func TestCheckRefuses(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(open, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		open: "writable by other users",
		link: "not a directory",
		file: "not a directory",
	} {
		err := Ensure(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Ensure(%s) = %v, want an error containing %q", filepath.Base(path), err, want)
		}
	}
}

func TestCheckRefusesOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	p := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := Check(p); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Check = %v, want refused as another user's", err)
	}
}

func TestFresh(t *testing.T) {
	base := t.TempDir()
	a, err := Fresh(base, "x-")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fresh(base, "x-")
	if err != nil {
		t.Fatal(err)
	}
	if a == b || !strings.HasPrefix(filepath.Base(a), "x-") {
		t.Fatalf("Fresh gave %s and %s", a, b)
	}
}

// A directory of ours inside another user's could be renamed away and
// replaced by theirs after any check of ours alone.
func TestEnsureRefusesAnAncestorOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	theirs := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(theirs, "ours")
	if err := os.Mkdir(ours, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(ours); !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("Ensure = %v, want ErrInsecure naming the other user's directory", err)
	}
}
