package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"directord/internal/privdir"
	"directord/internal/testenv"
)

// The daemon runs as root what its configuration names: a file another
// user can write, or one in their directory, is refused at run and
// reload.
func TestCheckConfigFile(t *testing.T) {
	// The rule is root's: as another user every file of ours is refused.
	testenv.RequireRoot(t)
	base := t.TempDir()
	good := filepath.Join(base, "good.hcl")
	if err := os.WriteFile(good, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfigFile(good); err != nil {
		t.Fatalf("a file only we can write: %v", err)
	}
	open := filepath.Join(base, "open.hcl")
	if err := os.WriteFile(open, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfigFile(open); !errors.Is(err, privdir.ErrInsecure) {
		t.Errorf("a world-writable file: %v", err)
	}
	theirs := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(theirs, "d.hcl")
	if err := os.WriteFile(inside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfigFile(inside); !errors.Is(err, privdir.ErrInsecure) {
		t.Errorf("our file in another user's directory: %v", err)
	}
}

// A configuration directory is checked whole: the directory and each of
// its *.hcl files; one file another user can write refuses it all.
func TestCheckConfigDirectory(t *testing.T) {
	testenv.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "directord.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.hcl", "b.hcl"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := CheckConfigFile(dir); err != nil {
		t.Fatalf("a directory only we can write: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "b.hcl"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfigFile(dir); !errors.Is(err, privdir.ErrInsecure) {
		t.Errorf("a world-writable file in the directory: %v", err)
	}
	if err := CheckConfigFile(t.TempDir()); err == nil {
		t.Error("a directory without *.hcl files was accepted")
	}
}
