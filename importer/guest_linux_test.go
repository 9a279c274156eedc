package importer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"directord/config"
	"directord/internal/daemon"
	"directord/internal/harness"
	"directord/internal/uml"
	"directord/internal/vmtest"
	"directord/lvs"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

// The seed's director script on a real IPVS kernel (its ipvsadm lines,
// as the how-to gives them), then `ipvsadm -Sn | directord import
// ipvsadm`: the output has exactly the seed example's service (address,
// port, protocol, scheduler, forwarding, reals and weights). Programmed
// back through the reconciler into an emptied table, it makes the same
// `ipvsadm -Sn`.
func TestImportSeedFromTheKernel(t *testing.T) {
	bin, err := harness.BuildDirectord()
	if err != nil {
		t.Fatal(err)
	}
	if !uml.InGuest() && vmtest.RunInGuest(t, vmtest.WithEnv(map[string]string{harness.EnvBinary: bin})) {
		return
	}
	ipvsadm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ipvsadm", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipvsadm %s: %v %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const vip = "192.168.11.100:80"
	ipvsadm("-C")
	ipvsadm("-A", "-t", vip, "-s", "wrr")
	ipvsadm("-a", "-t", vip, "-r", "192.168.11.12", "-g", "-w", "2")
	ipvsadm("-a", "-t", vip, "-r", "192.168.11.13", "-g", "-w", "4")
	saved := ipvsadm("-Sn")
	t.Logf("ipvsadm -Sn:\n%s", saved)

	imp := exec.Command(bin, "import", "ipvsadm")
	imp.Stdin = strings.NewReader(saved)
	var out, summary bytes.Buffer
	imp.Stdout, imp.Stderr = &out, &summary
	if err := imp.Run(); err != nil {
		t.Fatalf("directord import ipvsadm: %v\n%s", err, summary.String())
	}
	t.Logf("directord import ipvsadm:\n%s%s", out.String(), summary.String())
	got, err := config.Parse("imported.hcl", out.Bytes())
	if err != nil {
		t.Fatalf("the import does not validate: %v", err)
	}
	src, err := os.ReadFile("../examples/seed-dr/lb1.hcl")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := config.Parse("lb1.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.VirtualServers) != 1 {
		t.Fatalf("%d virtual servers imported, want 1", len(got.VirtualServers))
	}
	if g, w := ipvsOf(&got.VirtualServers[0]), ipvsOf(&seed.VirtualServers[0]); g != w {
		t.Errorf("imported service:\n%s\nthe seed example's:\n%s", g, w)
	}

	ipvsadm("-C")
	k, err := lvs.OpenKernel()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := lvs.New(k, lvs.Options{}).Start(daemon.IPVSSpec(got)); err != nil {
		t.Fatal(err)
	}
	if again := ipvsadm("-Sn"); again != saved {
		t.Errorf("the imported config programs\n%s\nwhere the script made\n%s", again, saved)
	}
}

// ipvsOf is what of a virtual server IPVS holds, as text.
func ipvsOf(vs *config.VirtualServer) string {
	s := fmt.Sprintf("%s %s:%d fwmark %d %s %s persistence %s/%d", vs.Protocol, vs.Address, vs.Port, vs.FWMark,
		vs.Scheduler, vs.Forwarding, vs.PersistenceTimeout, vs.PersistenceNetmask)
	for _, rs := range vs.RealServers {
		s += fmt.Sprintf("\n  %s %s weight %d thresholds %d-%d", rs.Endpoint(), rs.Forwarding, rs.Weight, rs.LowerThreshold, rs.UpperThreshold)
	}
	return s
}
