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
var ErrInsecure = errors.New("insecure script")

// CheckScript refuses a program that a user other than root can change:
// the file, or a directory on its path, owned by another user and
// writable by its owner, or writable by a group other than root's or by
// everyone (a sticky directory excepted: there only an entry's owner may
// replace it). A program named without a slash is looked up in Path.
func CheckScript(program string) error {
	path := program
	if !strings.Contains(program, "/") {
		found := ""
		for _, dir := range filepath.SplitList(Path) {
			if fi, err := os.Stat(filepath.Join(dir, program)); err == nil && !fi.IsDir() {
				found = filepath.Join(dir, program)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("%s: %w", program, fs.ErrNotExist)
		}
		path = found
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	// Every directory from the root down, then the file: each may be
	// replaced by whoever can write to it or to its parent.
	parts := strings.Split(strings.TrimPrefix(real, "/"), "/")
	cur := "/"
	stickyParent := false
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			cur = filepath.Join(cur, parts[i])
		}
		fi, err := os.Stat(cur)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		mode := fi.Mode()
		switch {
		case st.Uid != 0 && (mode.Perm()&0o200 != 0 || stickyParent):
			return fmt.Errorf("%w: %s belongs to uid %d, who can change %s", ErrInsecure, cur, st.Uid, real)
		case mode.Perm()&0o020 != 0 && st.Gid != 0 && !(mode.IsDir() && mode&fs.ModeSticky != 0):
			return fmt.Errorf("%w: %s is writable by group %d (mode %#o)", ErrInsecure, cur, st.Gid, mode.Perm())
		case mode.Perm()&0o002 != 0 && !(mode.IsDir() && mode&fs.ModeSticky != 0):
			return fmt.Errorf("%w: %s is writable by everyone (mode %#o)", ErrInsecure, cur, mode.Perm())
		}
		stickyParent = mode.IsDir() && mode&fs.ModeSticky != 0 && mode.Perm()&0o022 != 0
	}
	return nil
}
