package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"directord/internal/privdir"
)

// ErrRunning is returned when another directord holds the run lock of
// the same status socket.
var ErrRunning = errors.New("another directord is running")

// runLock is the lock one running daemon holds beside its status socket
// (the socket's path + ".lock"): a second `directord run` of the same
// configuration finds it taken and exits before it touches a VIP, an
// IPVS entry or the first one's socket. The lock is flock(2) on an open
// file, so the kernel releases it when the holder dies, however it dies.
// The file is never removed: removing it would let a third daemon lock a
// new file while a second still waits on the old one.
type runLock struct{ f *os.File }

// lockRun takes the run lock for the status socket at sock. It creates
// the socket's directory (0755) if it is missing, and refuses one that
// another user could have made or could write to: the daemon runs as
// root and the socket takes commands.
func lockRun(sock string) (*runLock, error) {
	dir := filepath.Dir(sock)
	// Every directory on the way counts: one that another user owns
	// could have this one swapped for theirs after the check. They are
	// checked before anything is made there, and again after.
	if err := privdir.CheckOurPath(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := privdir.CheckOurPath(dir); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := privdir.Check(dir); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	path := sock + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("status socket lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid := string(bytes.TrimSpace(b))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w with status socket %s (pid %s; lock %s)", ErrRunning, sock, pid, path)
		}
		return nil, fmt.Errorf("status socket lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &runLock{f: f}, nil
}

// Close releases the lock.
func (l *runLock) Close() error { return l.f.Close() }

// removeStaleSocket removes what a killed daemon left at path, which the
// run lock proves stale, but only if it is a socket: a path that names
// anything else is a configuration mistake, not ours to delete.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s exists and is not a socket (%s): not removing it", path, fi.Mode().Type())
	}
	return os.Remove(path)
}
