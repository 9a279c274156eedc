// Package uml runs programs, Go test binaries above all, inside a
// User-Mode Linux guest kernel: the host kernel here has no IPVS, and UML
// (Debian's user-mode-linux package) boots in about 1.5 s with every ip_vs
// module, using the host's own files, read-only, as its root filesystem.
//
// The host side, Boot, starts linux.uml with the program as init. The
// guest side, RunInit, is what that program does first when it finds itself
// as PID 1: it mounts /proc, /sys, /dev and fresh tmpfs on /run and /tmp
// (so nothing the guest does reaches the host's), loads the network and
// IPVS modules, runs the real work as its child while reaping orphans, and
// powers the guest off. The child's exit status comes back to the host over
// UML's second serial line (ssl1), the console carries the output.
//
// Test binaries use it through package vmtest's Main and RunInGuest:
//
//	func TestMain(m *testing.M) { vmtest.Main(m) }
//
//	func TestIPVS(t *testing.T) {
//		if vmtest.RunInGuest(t) {
//			return // the host part: the guest ran this test and reported
//		}
//		// from here on we are inside the guest kernel
//	}
package uml

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"directord/internal/privdir"
)

// Environment passed on the kernel command line to the guest's init.
const (
	envInit = "DIRECTORD_VM_INIT"    // "1": the guest's PID 1 should run RunInit
	envArgs = "DIRECTORD_VM_ARGS"    // base64 JSON of the child's argv[1:]
	envDir  = "DIRECTORD_VM_DIR"     // the child's working directory
	envEnv  = "DIRECTORD_VM_ENV"     // base64 JSON of extra environment
	envRW   = "DIRECTORD_VM_RW"      // base64 JSON of host directories mounted writable
	envRO   = "DIRECTORD_VM_RO"      // base64 JSON of shadowed host directories mounted read-only
	envMods = "DIRECTORD_VM_MODULES" // the kernel's module directory
	// EnvGuest is set in the environment of everything running in the
	// guest, so code can tell where it is.
	EnvGuest = "DIRECTORD_VM_GUEST"
)

// StageDir holds copies of programs the guest must run: the guest mounts
// its own tmpfs over /tmp, so nothing under the host's /tmp is visible.
const StageDir = "/var/tmp/directord-vm"

// EnvTag marks the kernel command line of a tagged guest.
const EnvTag = "DIRECTORD_VM_TAG"

// ErrNoKernel means the UML kernel is not installed.
var ErrNoKernel = errors.New("User-Mode Linux kernel not found (apt-get install user-mode-linux)")

// Kernel is an installed UML kernel and its modules.
type Kernel struct {
	Binary  string // /usr/bin/linux.uml
	Modules string // /usr/lib/uml/modules/<version>
}

// PrivateKernelDir holds a newer UML than Debian 12's, unpacked by
// scripts/deps.sh on a host where Debian 12's cannot run a process: its
// 6.1 kernel hands ptrace a floating-point register buffer smaller than
// the XSAVE area of a CPU with AMX, and the host refuses it ("ptrace set
// fp regs failed, errno = 14"; every guest process dies of SIGSEGV).
// It is root's, made fresh with mode 0700.
const PrivateKernelDir = "/opt/directord-uml"

// FindKernel locates the UML kernel: the private one if deps.sh put it
// there, else Debian's user-mode-linux.
func FindKernel() (Kernel, error) {
	if k, err := kernelUnder(PrivateKernelDir); err == nil {
		return k, nil
	}
	bin, err := exec.LookPath("linux.uml")
	if err != nil {
		bin = "/usr/bin/linux.uml"
		if _, err := os.Stat(bin); err != nil {
			return Kernel{}, ErrNoKernel
		}
	}
	mods, err := modulesUnder("/")
	if err != nil {
		return Kernel{}, err
	}
	return Kernel{Binary: bin, Modules: mods}, nil
}

// kernelUnder finds a linux.uml and its modules unpacked under root.
func kernelUnder(root string) (Kernel, error) {
	fi, err := os.Lstat(root)
	if err != nil {
		return Kernel{}, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || !fi.IsDir() || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return Kernel{}, fmt.Errorf("%s: not a directory only root can write", root)
	}
	bin := filepath.Join(root, "usr/bin/linux.uml")
	if _, err := os.Stat(bin); err != nil {
		return Kernel{}, err
	}
	mods, err := modulesUnder(root)
	if err != nil {
		return Kernel{}, err
	}
	return Kernel{Binary: bin, Modules: mods}, nil
}

// modulesUnder returns the newest module directory with a modules.dep.
func modulesUnder(root string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(root, "usr/lib/uml/modules/*"))
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "modules.dep")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("%w: no modules under %s", ErrNoKernel, filepath.Join(root, "usr/lib/uml/modules"))
}

// Config describes one boot.
type Config struct {
	Kernel Kernel
	// Program is run as the guest's init; it must call RunInit when it
	// is PID 1 (Main and the directord binary do). It is staged under
	// StageDir first when it lives somewhere the guest cannot see.
	Program string
	Args    []string
	Env     map[string]string
	Dir     string // working directory of the program in the guest
	Mem     string // guest memory, "512M" when empty
	// Output receives the guest console: the program's stdout and stderr.
	Output io.Writer
	// Input feeds the guest console (the program's stdin); nothing when
	// nil. A terminal in raw mode passes keys through one at a time.
	Input *os.File
	// Writable lists host directories the guest mounts writable at the
	// same path (the rest of its root is read-only), so it can leave
	// files the host reads, such as the lab's configs.
	Writable []string
	// Tag goes on the kernel command line as DIRECTORD_VM_TAG, so that
	// a later run can find the processes of a guest whose host process
	// was killed (see Sweep).
	Tag string
}

// Boot runs the program in a fresh guest and returns its exit status. A
// guest that dies without reporting one is an error.
func Boot(ctx context.Context, c Config) (int, error) {
	if c.Mem == "" {
		c.Mem = "512M"
	}
	prog, err := Stage(c.Program)
	if err != nil {
		return -1, err
	}
	args, _ := json.Marshal(c.Args)
	env, _ := json.Marshal(c.Env)
	rw, _ := json.Marshal(c.Writable)
	ro, _ := json.Marshal(shadowed(c.Dir))
	// The owner's pid in the name lets Sweep tell a stale directory.
	umlDir, err := os.MkdirTemp("", fmt.Sprintf("directord-uml-%d-", os.Getpid()))
	if err != nil {
		return -1, err
	}
	defer os.RemoveAll(umlDir)

	cmdline := []string{
		"mem=" + c.Mem,
		"rootfstype=hostfs", "rootflags=/", "ro",
		"init=" + prog,
		"uml_dir=" + umlDir,
		"con=null", "con0=fd:0,fd:1", "ssl1=fd:3",
		"quiet", "loglevel=3", "panic=-1",
		envInit + "=1",
		envArgs + "=" + base64.RawURLEncoding.EncodeToString(args),
		envEnv + "=" + base64.RawURLEncoding.EncodeToString(env),
		envDir + "=" + c.Dir,
		envRW + "=" + base64.RawURLEncoding.EncodeToString(rw),
		envRO + "=" + base64.RawURLEncoding.EncodeToString(ro),
		envMods + "=" + c.Kernel.Modules,
	}
	if c.Tag != "" {
		cmdline = append(cmdline, EnvTag+"="+c.Tag)
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	defer exitR.Close()
	cmd := exec.Command(c.Kernel.Binary, cmdline...)
	if c.Input != nil {
		cmd.Stdin = c.Input
	}
	out := c.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{exitW}
	// UML runs its guest processes as host processes of its own: a
	// process group lets a cancelled boot take all of them down. With a
	// terminal as console that group must be the terminal's foreground
	// one, or UML's reads from it fail as a background job's do.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if c.Input != nil && isTerminal(c.Input) {
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = int(c.Input.Fd())
		defer takeForeground(c.Input)
	}
	if err := cmd.Start(); err != nil {
		exitW.Close()
		return -1, fmt.Errorf("start %s: %w", c.Kernel.Binary, err)
	}
	exitW.Close()
	status := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(exitR)
		status <- string(b)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-ctx.Done():
		killGroup(cmd.Process.Pid)
		<-waited
		return -1, fmt.Errorf("guest killed: %w", ctx.Err())
	case err := <-waited:
		// The guest powered off; make sure no helper outlives it.
		killGroup(cmd.Process.Pid)
		s := strings.TrimSpace(<-status)
		code, perr := strconv.Atoi(lastLine(s))
		if perr != nil {
			return -1, fmt.Errorf("guest reported no exit status (kernel exit: %v)", err)
		}
		return code, nil
	}
}

// killGroup kills a process group and waits, briefly, until no member is
// left: UML's helper processes must not outlive the guest.
func killGroup(pgid int) {
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(-pgid, syscall.SIGKILL) == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// takeForeground makes this process's group the terminal's foreground
// group again once the guest is gone. A background group may not do that
// unless it ignores SIGTTOU, for the length of the call.
func takeForeground(tty *os.File) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	_ = unix.IoctlSetPointerInt(int(tty.Fd()), unix.TIOCSPGRP, syscall.Getpgrp())
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}

// shadowed returns the host directory the guest must mount back for dir to
// be visible: the top one below /tmp or /run, which the guest covers with
// its own tmpfs (a checkout cloned under /tmp, say). None for other paths.
func shadowed(dir string) []string {
	for _, top := range []string{"/tmp/", "/run/"} {
		if rest, ok := strings.CutPrefix(filepath.Clean(dir)+"/", top); ok && rest != "" {
			first, _, _ := strings.Cut(rest, "/")
			return []string{top + first}
		}
	}
	return nil
}

// Stage returns a path to the program that the guest can see, copying it
// under StageDir if it lives below /tmp or /run. Copies are named by the
// source's path, size and modification time, so a repeated call reuses
// the copy.
func Stage(program string) (string, error) {
	abs, err := filepath.Abs(program)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(abs, "/tmp/") && !strings.HasPrefix(abs, "/run/") {
		return abs, nil
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d", abs, st.Size(), st.ModTime().UnixNano()))
	dst := filepath.Join(StageDir, filepath.Base(abs)+"-"+hex.EncodeToString(sum[:6]))
	// The guest runs the copy as root: the directory must be ours alone
	// before anything in it is reused.
	if err := privdir.Ensure(StageDir); err != nil {
		return "", err
	}
	if _, err := os.Lstat(dst); err == nil {
		return dst, nil
	}
	pruneStage(24 * time.Hour)
	if err := copyFile(abs, dst); err != nil {
		return "", err
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".stage-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// pruneStage removes staged copies older than age, so repeated test runs
// do not fill /var/tmp.
func pruneStage(age time.Duration) {
	ents, _ := os.ReadDir(StageDir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(StageDir, e.Name()))
		}
	}
}
