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
// directories. It returns how many processes it killed.
func Sweep(tag string) int {
	marker := []byte(EnvTag + "=" + tag + "-")
	killed := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
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
			killed++
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "directord-uml-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "directord-uml-%d-", &pid); err == nil && syscall.Kill(pid, 0) != nil {
			_ = os.RemoveAll(d)
		}
	}
	return killed
}

// OwnedTag makes a tag that names this process as the guest's owner.
func OwnedTag(tag string) string { return tag + "-" + strconv.Itoa(os.Getpid()) }
