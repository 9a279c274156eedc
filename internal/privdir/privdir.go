// Package privdir makes and checks the directories that root-run code
// (the daemon's helpers, the lab, the test harness) writes files into
// and later reads or executes from.
//
// A fixed path under a world-writable directory such as /var/tmp can be
// made first by any local user; root would then write into, and run
// programs from, a directory that user controls. Every such directory
// is therefore either made fresh (mkdir fails rather than follow what is
// there) or, when it already exists, accepted only if it is a real
// directory owned by us that no one else can write to. The parent must
// be root's or sticky, which /var/tmp is, so the checked directory
// cannot be renamed away underneath us.
package privdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Ensure makes path (mode 0700) when it is missing and checks it.
func Ensure(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("directory %s: %w", path, err)
	}
	return Check(path)
}

// Fresh makes a new directory under base (mode 0700), named pattern
// with a random part as os.MkdirTemp does.
func Fresh(base, pattern string) (string, error) {
	path, err := os.MkdirTemp(base, pattern)
	if err != nil {
		return "", fmt.Errorf("directory under %s: %w", base, err)
	}
	return path, Check(path)
}

// Check refuses a symlink, a non-directory, a directory owned by another
// user, or one that group or others can write to.
func Check(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("directory %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("directory %s: not a directory (a symlink?)", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("directory %s: owned by uid %d, not by us", path, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("directory %s: writable by other users (mode %#o)", path, fi.Mode().Perm())
	}
	return nil
}
