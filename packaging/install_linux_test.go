package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The package built by ./scripts/package.sh installs with dpkg -i into a
// fresh root, gives a binary that validates the configuration it
// installed and a unit that systemd-analyze verify accepts, and is
// removed, then purged, leaving nothing behind.
//
// The fresh root is this machine's own, seen through an overlay with a
// throw-away upper layer in a private mount namespace: dpkg runs on a real
// Debian with its real database, and the host's files never change.
func TestPackageInstallsAndRemoves(t *testing.T) {
	requireRoot(t)
	deb := buildPackage(t)
	hostStatus, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}

	inFreshRoot(t, map[string]string{deb: "/tmp/directord.deb"}, func(run func(args ...string) (string, error)) {
		must := func(args ...string) string {
			t.Helper()
			out, err := run(args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return out
		}
		exists := func(path string) bool {
			_, err := run("test", "-e", path, "-o", "-L", path)
			return err == nil
		}
		must("dpkg", "-i", "/tmp/directord.deb")
		if out := must("dpkg-query", "-W", "-f=${Status} ${Conffiles}", "directord"); !strings.HasPrefix(out, "install ok installed") ||
			!strings.Contains(out, "/etc/directord/directord.hcl") {
			t.Errorf("dpkg-query: %q, want installed with /etc/directord/directord.hcl as a conffile", out)
		}
		files := must("dpkg", "-L", "directord")
		for _, want := range []string{
			"/usr/sbin/directord",
			"/usr/sbin/directord-bgp",
			"/usr/lib/systemd/system/directord.service",
			"/etc/directord/directord.hcl",
			"/usr/share/man/man8/directord.8.gz",
			"/usr/share/man/man8/directord-run.8.gz",
			"/usr/share/bash-completion/completions/directord",
			"/usr/share/zsh/vendor-completions/_directord",
			"/usr/share/doc/directord/examples/seed-dr/lb1.hcl",
		} {
			if !strings.Contains(files, want+"\n") {
				t.Errorf("the package does not install %s", want)
			}
		}

		// What the installed unit runs first: validate of the installed file.
		if out := must("directord", "validate"); !strings.Contains(out, "192.168.11.100") {
			t.Errorf("directord validate of the installed example:\n%s", out)
		}
		if out := must("systemd-analyze", "verify", "/usr/lib/systemd/system/directord.service"); strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify says:\n%s", out)
		}
		if out := must("sh", "-c", "zcat /usr/share/man/man8/directord-drain.8.gz"); !strings.Contains(out, `.TH "DIRECTORD-DRAIN" "8"`) ||
			!strings.Contains(out, "--wait") {
			t.Errorf("the drain man page is not the drain command's help:\n%.300s", out)
		}
		if out := must("bash", "-c", ". /usr/share/bash-completion/completions/directord && complete -p directord"); !strings.Contains(out, "directord") {
			t.Errorf("bash completion: %q", out)
		}
		if out := must("zsh", "-c", "source /usr/share/zsh/vendor-completions/_directord 2>/dev/null; whence -w _directord"); !strings.Contains(out, "function") {
			t.Errorf("zsh completion defines no _directord: %q", out)
		}

		// remove keeps the operator's edited configuration, purge does not.
		must("sh", "-c", "echo '# edited' >> /etc/directord/directord.hcl")
		// As an operator would: the link's target is systemd's choice.
		must("systemctl", "enable", "directord.service")
		if !exists("/etc/systemd/system/multi-user.target.wants/directord.service") {
			t.Fatal("systemctl enable made no link in multi-user.target.wants")
		}
		must("dpkg", "-r", "directord")
		for _, gone := range []string{"/usr/sbin/directord", "/usr/lib/systemd/system/directord.service", "/usr/share/man/man8/directord.8.gz"} {
			if exists(gone) {
				t.Errorf("%s is still there after dpkg -r", gone)
			}
		}
		if out, err := run("cat", "/etc/directord/directord.hcl"); err != nil || !strings.Contains(out, "# edited") {
			t.Errorf("dpkg -r did not keep the edited configuration: %v", err)
		}
		must("dpkg", "-P", "directord")
		for _, gone := range []string{"/etc/directord", "/etc/systemd/system/multi-user.target.wants/directord.service"} {
			if exists(gone) {
				t.Errorf("%s is still there after dpkg -P", gone)
			}
		}
		if out, err := run("dpkg-query", "-W", "directord"); err == nil {
			t.Errorf("dpkg still knows the package after the purge: %s", out)
		}
	})

	if after, err := os.ReadFile("/var/lib/dpkg/status"); err != nil || !bytes.Equal(after, hostStatus) {
		t.Fatalf("the host's dpkg database changed (%v): the fresh root leaked", err)
	}
}

// requireRoot skips without root, except in CI, where a skip would hide
// that the test never ran.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true, but not root: the package test needs root for dpkg and mounts")
	}
	t.Skip("needs root")
}

// buildPackage runs ./scripts/package.sh and returns the .deb's path.
func buildPackage(t *testing.T) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("../scripts/package.sh", t.TempDir())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("package.sh: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	deb := lines[len(lines)-1]
	if !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("package.sh printed no .deb:\n%s", stdout.String())
	}
	return deb
}

// inFreshRoot calls f with a run that executes a command chrooted in a
// fresh root: / under an overlay whose writable layer is a tmpfs, with
// the files of copyIn (host path → path inside) in a fresh /tmp. The
// mounts live on one OS thread that unshared its mount namespace and is
// never given back to the runtime: nothing else sees them, and they are
// gone with the thread when f returns. f itself
// runs on the test's goroutine (so it may call t.Fatal); run hands each
// command to that thread.
func inFreshRoot(t *testing.T, copyIn map[string]string, f func(run func(args ...string) (string, error))) {
	t.Helper()
	dir := t.TempDir()
	jobs := make(chan func())
	ready := make(chan error, 1)
	var root string
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		var err error
		root, err = overlayRoot(dir)
		for src, dst := range copyIn {
			if err == nil {
				err = copyFile(src, filepath.Join(root, dst))
			}
		}
		ready <- err
		if err != nil {
			return
		}
		for job := range jobs {
			job()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	defer close(jobs)
	f(func(args ...string) (string, error) {
		type result struct {
			out []byte
			err error
		}
		done := make(chan result, 1)
		jobs <- func() {
			// env looks the program up in the fresh root's PATH.
			cmd := exec.Command("/usr/bin/env", args...)
			cmd.SysProcAttr = &unix.SysProcAttr{Chroot: root}
			cmd.Dir = "/"
			cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
			out, err := cmd.CombinedOutput()
			done <- result{out, err}
		}
		r := <-done
		return string(r.out), r.err
	})
}

// overlayRoot makes the mounts of inFreshRoot on the calling thread.
func overlayRoot(dir string) (string, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return "", fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("making / private: %w", err)
	}
	layer, root := filepath.Join(dir, "layer"), filepath.Join(dir, "root")
	for _, d := range []string{layer, root} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return "", err
		}
	}
	if err := unix.Mount("tmpfs", layer, "tmpfs", 0, "mode=0700"); err != nil {
		return "", fmt.Errorf("tmpfs: %w", err)
	}
	upper, work := filepath.Join(layer, "upper"), filepath.Join(layer, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := unix.Mount("overlay", root, "overlay", 0, "lowerdir=/,upperdir="+upper+",workdir="+work); err != nil {
		return "", fmt.Errorf("overlay of /: %w", err)
	}
	// The overlay holds /'s own filesystem only. The chroot gets the
	// kernel's /proc, /dev and /sys, an empty /tmp, and an empty /run: no
	// systemd is running there, so the maintainer scripts leave the
	// host's alone.
	for _, m := range []struct{ src, dst, fstype string }{
		{"/proc", "proc", ""}, {"/dev", "dev", ""}, {"/sys", "sys", ""},
		{"tmpfs", "run", "tmpfs"}, {"tmpfs", "tmp", "tmpfs"},
	} {
		flags := uintptr(unix.MS_BIND | unix.MS_REC)
		if m.fstype != "" {
			flags = 0
		}
		if err := unix.Mount(m.src, filepath.Join(root, m.dst), m.fstype, flags, ""); err != nil {
			return "", fmt.Errorf("mounting %s in the fresh root: %w", m.dst, err)
		}
	}
	return root, nil
}

// copyFile copies a file, on the namespace's thread: its destination is
// inside the fresh root.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
