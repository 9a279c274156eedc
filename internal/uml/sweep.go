package uml

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Sweep kills the processes of guests booted with tag whose host process
// is gone (killed before it could stop them) and removes their UML
// directories. It returns how many processes it killed and how many
// directories it removed: a newer UML's guest processes die with their
// kernel, and then the directory is all that is left.
func Sweep(tag string) (procs, dirs int) {
	marker := []byte(EnvTag + "=" + tag + "-")
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := bytes.Index(b, marker)
		if i < 0 {
			continue
		}
		owner := b[i+len(marker):]
		if j := bytes.IndexByte(owner, 0); j >= 0 {
			owner = owner[:j]
		}
		ownerPID, err := strconv.Atoi(string(owner))
		if err != nil || syscall.Kill(ownerPID, 0) == nil {
			continue // its owner still runs it
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			procs++
		}
	}
	found, _ := filepath.Glob(filepath.Join(os.TempDir(), "directord-uml-*"))
	for _, d := range found {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "directord-uml-%d-", &pid); err == nil && syscall.Kill(pid, 0) != nil {
			if os.RemoveAll(d) == nil {
				dirs++
			}
		}
	}
	return procs, dirs
}

// OwnedTag makes a tag that names this process as the guest's owner.
func OwnedTag(tag string) string { return tag + "-" + strconv.Itoa(os.Getpid()) }
