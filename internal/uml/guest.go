package uml

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// IsInit reports whether this process is the guest's PID 1 started by
// Boot. Programs used with Boot call RunInit first thing when it is true.
func IsInit() bool { return os.Getpid() == 1 && os.Getenv(envInit) == "1" }

// InGuest reports whether this process runs inside a guest started by Boot.
func InGuest() bool { return os.Getenv(EnvGuest) == "1" }

// wantedModules are loaded at boot, with their dependencies: IPVS and every
// scheduler, and what the namespace topologies need.
func wantedModule(path string) bool {
	base := strings.TrimSuffix(filepath.Base(path), ".ko")
	switch {
	case strings.Contains(path, "/netfilter/ipvs/") && base != "ip_vs_ftp" && base != "ip_vs_pe_sip":
		return true
	case base == "veth", base == "bridge", base == "ipip", base == "dummy", base == "macvlan",
		base == "nf_tables", base == "nft_ct", base == "sctp", base == "ipv6":
		return true
	}
	return false
}

// RunInit is the guest's init. It never returns: it powers the guest off
// with the child's exit status.
func RunInit() {
	code := 1
	if err := setupGuest(); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest init: %v\n", err)
	} else {
		code = runChild()
	}
	powerOff(code)
}

func setupGuest() error {
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "/proc", "proc", 0, ""},
		{"sysfs", "/sys", "sysfs", 0, ""},
		{"devtmpfs", "/dev", "devtmpfs", 0, ""},
		{"devpts", "/dev/pts", "devpts", 0, ""},
		{"tmpfs", "/run", "tmpfs", 0, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", 0, "mode=1777"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""},
	}
	for _, m := range mounts {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	var ro []string
	if err := decode(os.Getenv(envRO), &ro); err != nil {
		return fmt.Errorf("bad read-only list: %w", err)
	}
	for _, dir := range ro {
		// The fresh tmpfs hid the working directory; mount the host's
		// back, read-only like the rest of the root.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("none", dir, "hostfs", unix.MS_RDONLY, dir); err != nil {
			return fmt.Errorf("mount %s read-only: %w", dir, err)
		}
	}
	var rw []string
	if err := decode(os.Getenv(envRW), &rw); err != nil {
		return fmt.Errorf("bad writable list: %w", err)
	}
	for _, dir := range rw {
		// hostfs mounts a host directory; over the read-only root it
		// gives the guest one place it may write.
		if err := unix.Mount("none", dir, "hostfs", 0, dir); err != nil {
			return fmt.Errorf("mount %s writable: %w", dir, err)
		}
	}
	if err := loadModules(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("guest")); err != nil {
		return err
	}
	return linkUp("lo")
}

// loadModules loads the wanted modules and their dependencies. modules.dep
// does not tell everything (nf_defrag_ipv6 needs ipv6), so failed loads are
// retried until a round makes no progress.
func loadModules() error {
	dir := kernelModulesDir()
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return err
	}
	defer f.Close()
	var order []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok || !wantedModule(mod) {
			continue
		}
		d := strings.Fields(deps)
		// modules.dep lists dependencies with the deepest last.
		for i := len(d) - 1; i >= 0; i-- {
			if !seen[d[i]] {
				seen[d[i]] = true
				order = append(order, d[i])
			}
		}
		if !seen[mod] {
			seen[mod] = true
			order = append(order, mod)
		}
	}
	pending := order
	for len(pending) > 0 {
		var failed []string
		var lastErr error
		for _, m := range pending {
			if err := loadModule(filepath.Join(dir, m)); err != nil {
				failed, lastErr = append(failed, m), err
			}
		}
		if len(failed) == len(pending) {
			return fmt.Errorf("load modules %v: %w", failed, lastErr)
		}
		pending = failed
	}
	return nil
}

func kernelModulesDir() string {
	if dir := os.Getenv(envMods); dir != "" {
		return dir
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	return filepath.Join("/usr/lib/uml/modules", unix.ByteSliceToString(u.Release[:]))
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// runChild runs this same program again as PID 1's child, with the argv
// and environment Boot passed, and reaps every orphan until it exits. The
// work must not run as PID 1 itself: orphans would become its zombies.
func runChild() int {
	var args []string
	var env map[string]string
	if err := decode(os.Getenv(envArgs), &args); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest init: bad args: %v\n", err)
		return 1
	}
	if err := decode(os.Getenv(envEnv), &env); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest init: bad env: %v\n", err)
		return 1
	}
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = os.Args[0]
	cmd.Dir = os.Getenv(envDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin",
		"HOME=/root", "TMPDIR=/tmp", "TERM=" + os.Getenv("TERM"), EnvGuest + "=1",
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest init: %v\n", err)
		return 1
	}
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmtest init: wait: %v\n", err)
			return 1
		}
		if pid != cmd.Process.Pid {
			continue
		}
		if ws.Signaled() {
			fmt.Fprintf(os.Stderr, "vmtest init: child killed by %v\n", ws.Signal())
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

func decode(s string, v any) error {
	if s == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// powerOff reports code on the second serial line and halts the guest.
func powerOff(code int) {
	if f, err := os.OpenFile("/dev/ttyS1", os.O_WRONLY, 0); err == nil {
		fmt.Fprintf(f, "%d\n", code)
		f.Close()
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
