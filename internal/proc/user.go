package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"directord/internal/privdir"
)

// User is whom a command runs as (keepalived's script_user): nil runs it
// as the daemon itself.
type User struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32
}

// LookupUser finds name in the system's user database, with its
// supplementary groups.
func LookupUser(name string) (*User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	out := &User{Name: name, UID: uint32(uid), GID: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				out.Groups = append(out.Groups, uint32(n))
			}
		}
	}
	return out, nil
}

func (u *User) credential() *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups}
}

// Path is the PATH commands run with, and where a program named without
// a slash is looked up.
const Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrInsecure marks a program that a user other than root could change:
// the daemon runs it, as root unless script_user says otherwise, so such
// a user could run anything as root (keepalived's enable_script_security).
var ErrInsecure = privdir.ErrInsecure

// LookPath is the file the daemon runs for program: an absolute path as
// it is, a name without a slash from Path (an executable regular file).
// A relative path is refused: what it names would depend on the daemon's
// working directory, and the file checked must be the file run.
func LookPath(program string) (string, error) {
	switch {
	case strings.HasPrefix(program, "/"):
		return program, nil
	case strings.Contains(program, "/"):
		return "", fmt.Errorf("%s is a relative path: name the program by its absolute path", program)
	}
	for _, dir := range filepath.SplitList(Path) {
		p := filepath.Join(dir, program)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not in %s: %w", program, Path, fs.ErrNotExist)
}

// CheckScript refuses a program that a user other than root could change
// or plant: every component of its path as written, from the root, and of
// every symlink's target, must belong to root and be writable by no group
// but root's and not by everyone (a sticky directory such as /tmp
// excepted: there only an entry's owner may replace it, and the entry
// must be root's). A program that does not exist is fs.ErrNotExist, or
// ErrInsecure when others may write to the directory it would be in.
func CheckScript(program string) error {
	path, err := LookPath(program)
	if err != nil {
		return err
	}
	return privdir.CheckPath(path)
}
