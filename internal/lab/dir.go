package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// DirBase is where a fresh lab directory is made. It is outside /tmp
// because a User-Mode Linux guest has its own /tmp; the guest mounts the
// lab's directory writable.
const DirBase = "/var/tmp"

// PrivateDir returns the directory the lab writes its configs, hook
// scripts and status sockets to. Everything in it is read by root, so it
// must be a directory no other user made or can write to: a local user
// who pre-created a fixed path could otherwise point a symlink at a
// root-owned file or edit a hook the daemons run.
//
// With dir empty it makes a fresh one under DirBase (mode 0700; mkdir
// fails rather than follow anything already there) and reports
// created, so the caller removes it at the end. A dir the user names is
// made 0700 if it is missing; one that exists must be a real directory
// owned by us and writable by no one else.
func PrivateDir(dir string) (path string, created bool, err error) {
	if dir == "" {
		path, err = os.MkdirTemp(DirBase, "directord-lab-")
		if err != nil {
			return "", false, fmt.Errorf("lab directory: %w", err)
		}
		return path, true, checkPrivate(path)
	}
	path, err = filepath.Abs(dir)
	if err != nil {
		return "", false, err
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", false, fmt.Errorf("lab directory: %w", err)
	}
	return path, false, checkPrivate(path)
}

// checkPrivate refuses a symlink, a non-directory, a directory owned by
// another user, or one that group or others can write to.
func checkPrivate(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("lab directory: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("lab directory %s: not a directory (a symlink?): choose another --dir", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("lab directory %s: owned by uid %d, not by us: choose another --dir", path, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("lab directory %s: writable by other users (mode %#o): choose another --dir", path, fi.Mode().Perm())
	}
	return nil
}

// WriteFile writes a file into dir, for configs the user may read. It
// does not follow a symlink left at the name, and the file is for root
// only.
func WriteFile(dir, name, content string) (string, error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
