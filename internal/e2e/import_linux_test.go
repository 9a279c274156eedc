package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"directord/internal/lab"
)

// A keepalived pair imported: lb1's keepalived.conf (the seed's director,
// VRRP and LVS with HTTP checks) run by keepalived alone programs a table;
// `directord import keepalived` of the same file, run by directord on lb1
// beside the original keepalived on lb2, programs the same `ipvsadm -Sn`,
// is elected master, loses the VIP to keepalived when killed, and takes
// it back when restarted.
func TestKeepalivedImportRoundTrip(t *testing.T) {
	bin, done := guestBinary(t)
	if done {
		return
	}
	dirs, reals, _ := lab.Seed()
	l, err := lab.Build(bin, "kaimp", dirs, reals)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	dir := t.TempDir()
	s := lab.DefaultSettings
	lb1, lb2 := l.Hosts["lb1"], l.Hosts["lb2"]
	saved := func() string {
		t.Helper()
		out, err := lb1.NS.Run("ipvsadm", "-Sn")
		if err != nil {
			t.Fatalf("ipvsadm -Sn: %v %s", err, out)
		}
		return out
	}

	// keepalived alone on lb1: its table once every real is in.
	conf := lab.KeepalivedConfig("lb1", 150, s, reals)
	ka1, err := lab.NewKeepalived(lb1, dir, conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := ka1.Start(); err != nil {
		t.Fatal(err)
	}
	waitReals(t, lb1, reals, 10*time.Second)
	kaTable := saved()
	t.Logf("keepalived's table:\n%s", kaTable)
	ka1.Kill()
	if _, err := lb1.NS.Run("ipvsadm", "-C"); err != nil {
		t.Fatal(err)
	}

	imp, err := exec.Command(bin, "import", "keepalived", filepath.Join(dir, "lb1-keepalived.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("import: %v\n%s", err, imp)
	}
	hcl := string(imp[:strings.LastIndex(string(imp), "directord import keepalived:")])
	t.Logf("imported:\n%s", imp)
	d1, err := l.NewDirectorWith("lb1", 150, dir, func(socket string) string {
		return strings.Replace(hcl, "director {\n", fmt.Sprintf("director {\n  status_socket = %q\n  log_format = \"json\"\n", socket), 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	ka2, err := lab.NewKeepalived(lb2, dir, lab.KeepalivedConfig("lb2", 100, s, reals))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("directord lb1:\n%s\nkeepalived lb2:\n%s", d1.Log(), ka2.Log())
		}
		d1.Kill()
		ka2.Kill()
	})
	if err := ka2.Start(); err != nil {
		t.Fatal(err)
	}
	if err := d1.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "directord lb1 master, keepalived lb2 backup", 10*time.Second, func() bool {
		return d1.State("web") == "MASTER" && ka2.State() == "BACKUP"
	})
	waitReals(t, lb1, reals, 10*time.Second)
	if got := saved(); got != kaTable {
		t.Errorf("the imported config programs\n%s\nwhere keepalived programmed\n%s", got, kaTable)
	}

	d1.Kill()
	waitFor(t, "keepalived lb2 master after directord's kill -9", 5*time.Second, func() bool { return ka2.State() == "MASTER" })
	if err := d1.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "directord lb1 master again", 10*time.Second, func() bool {
		return d1.State("web") == "MASTER" && ka2.State() == "BACKUP"
	})
}
