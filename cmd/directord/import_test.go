package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runWithStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	root := newRootCmd(&o, &e)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return o.String(), e.String(), err
}

// `ipvsadm -Sn | directord import ipvsadm`: HCL on stdout, the summary on
// stderr; a listing (-Ln) is refused with exit status 2 and the reason.
func TestImportIPVSAdmCommand(t *testing.T) {
	out, errOut, err := runWithStdin(t, "-A -t 192.168.11.100:80 -s wrr\n-a -t 192.168.11.100:80 -r 192.168.11.12:80 -g -w 2\n", "import", "ipvsadm")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `virtual_server "tcp_192_168_11_100_80" {`) || !strings.Contains(out, `real_server "192.168.11.12" {`) {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errOut, "1 virtual services and 1 real servers translated") {
		t.Errorf("stderr: %q", errOut)
	}
	_, _, err = runWithStdin(t, "IP Virtual Server version 1.2.1 (size=4096)\n", "import", "ipvsadm")
	var ee *exitError
	if err == nil || !strings.Contains(err.Error(), "ipvsadm -Sn") || !errors.As(err, &ee) || ee.code != exitInvalid {
		t.Errorf("an -Ln listing: %v", err)
	}
}

// `directord import keepalived FILE`: HCL on stdout that validates, the
// summary on stderr; a missing file is exit 2 naming it.
func TestImportKeepalivedCommand(t *testing.T) {
	const sample = "/usr/share/doc/keepalived/samples/keepalived.conf.vrrp"
	if _, err := os.Stat(sample); err != nil {
		t.Skipf("no keepalived samples: %v", err)
	}
	out, errOut, err := runWithStdin(t, "", "import", "keepalived", sample)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "VRRP instances") || !strings.Contains(out, `vrrp_instance "VI_1"`) {
		t.Errorf("stdout:\n%s\nstderr: %s", out, errOut)
	}
	path := filepath.Join(t.TempDir(), "imported.hcl")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, o, e := runCLI(t, "validate", "--config", path); code != 0 {
		t.Errorf("validate: exit %d\n%s%s", code, o, e)
	}
	_, _, err = runWithStdin(t, "", "import", "keepalived", "/nonexistent/keepalived.conf")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitInvalid || !strings.Contains(err.Error(), "/nonexistent/keepalived.conf") {
		t.Errorf("a missing file: %v", err)
	}
}
