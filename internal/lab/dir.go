package lab

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"directord/internal/privdir"
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
		path, err = privdir.Fresh(DirBase, "directord-lab-")
		if err != nil {
			return "", false, fmt.Errorf("lab directory: %w", err)
		}
		return path, true, nil
	}
	path, err = filepath.Abs(dir)
	if err != nil {
		return "", false, err
	}
	if err := privdir.Ensure(path); err != nil {
		return "", false, fmt.Errorf("lab directory: %w (choose another --dir)", err)
	}
	return path, false, nil
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
