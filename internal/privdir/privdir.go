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
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrInsecure means that a user other than root could change or plant
// the file or directory named.
var ErrInsecure = errors.New("insecure path")

// Ensure makes path (mode 0700) when it is missing and checks it and
// the path to it. The path to it is checked first: nothing is made by
// following what another user could have put there.
func Ensure(path string) error {
	if err := checkPath(filepath.Dir(path), ours); err != nil {
		return err
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("directory %s: %w", path, err)
	}
	if err := Check(path); err != nil {
		return err
	}
	return checkPath(path, ours)
}

// Fresh makes a new directory under base (mode 0700), named pattern
// with a random part as os.MkdirTemp does. base must be safe (CheckPath
// with our own files allowed), as /var/tmp is.
func Fresh(base, pattern string) (string, error) {
	if err := checkPath(base, ours); err != nil {
		return "", err
	}
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

// CheckPath refuses a path that a user other than root could change:
// every component as written, from the root, and of every symlink's
// target, must belong to root and be writable by no group but root's and
// not by everyone (a POSIX ACL counts as others' write access), a sticky
// directory such as /tmp or /var/tmp excepted (there only an entry's
// owner may replace it, and the entry must be root's). A path that does
// not exist is fs.ErrNotExist, or ErrInsecure when others may write to
// the directory it would be in. It is the rule for what root runs or
// reads as configuration, whoever asks (validate as a user predicts what
// the daemon will refuse).
func CheckPath(path string) error { return checkPath(path, rootOnly) }

// CheckOurPath is CheckPath allowing our own user's files and
// directories beside root's: for where a daemon keeps its own state (its
// status socket), which is as safe as the user running it.
func CheckOurPath(path string) error { return checkPath(path, ours) }

// Owners a path may have.
type owners int

const (
	rootOnly owners = iota // root
	ours                   // root or the effective user (test and lab directories)
)

func checkPath(path string, who owners) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return walk(abs, who, 0)
}

// walk walks path from the root. A symlink is followed from there: the
// directory holding it was checked, and so must its target be.
func walk(path string, who owners, depth int) error {
	if depth > 8 {
		return fmt.Errorf("%s: too many symlinks", path)
	}
	parts := strings.Split(strings.Trim(filepath.Clean(path), "/"), "/")
	cur, parentOpen := "/", false
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			cur = filepath.Join(cur, parts[i])
		}
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist) && parentOpen:
			return fmt.Errorf("%w: %s does not exist, and others may create it", ErrInsecure, cur)
		case err != nil:
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := insecure(cur, fi, who); err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(cur)
			if err != nil {
				return err
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(cur), target)
			}
			return walk(filepath.Join(append([]string{target}, parts[i+1:]...)...), who, depth+1)
		}
		parentOpen = fi.IsDir() && fi.Mode().Perm()&0o022 != 0
	}
	return nil
}

// insecure says why one component could be changed by another user.
func insecure(path string, fi fs.FileInfo, who owners) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mode := fi.Mode()
	sticky := mode.IsDir() && mode&fs.ModeSticky != 0
	switch {
	case st.Uid != 0 && (who == rootOnly || st.Uid != uint32(os.Geteuid())):
		return fmt.Errorf("%w: %s belongs to uid %d", ErrInsecure, path, st.Uid)
	case mode&fs.ModeSymlink != 0:
		return nil // a link's own mode means nothing
	case mode.Perm()&0o020 != 0 && st.Gid != 0 && !sticky:
		return fmt.Errorf("%w: %s is writable by group %d (mode %#o)", ErrInsecure, path, st.Gid, mode.Perm())
	case mode.Perm()&0o002 != 0 && !sticky:
		return fmt.Errorf("%w: %s is writable by everyone (mode %#o)", ErrInsecure, path, mode.Perm())
	case !sticky && hasACL(path):
		// The group bits then show the ACL's mask: named users or
		// groups may write whatever they say.
		return fmt.Errorf("%w: %s has a POSIX ACL (remove it with setfacl -b)", ErrInsecure, path)
	}
	return nil
}

// hasACL reports whether path carries an access ACL beyond its mode bits
// (the kernel stores none for an ACL that the mode bits express).
func hasACL(path string) bool {
	_, err := unix.Lgetxattr(path, "system.posix_acl_access", nil)
	return err == nil
}
