package vmtest

import (
	"bytes"
	"context"
	"directord/internal/uml"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"directord/internal/testenv"
)

const envHelperExit = "VMTEST_HELPER_EXIT"

func TestMain(m *testing.M) {
	// A helper mode for TestBootReportsExitStatus: the guest's child
	// prints a line and exits with the requested status.
	if s := os.Getenv(envHelperExit); s != "" && !uml.IsInit() {
		n, _ := strconv.Atoi(s)
		fmt.Printf("helper in guest=%v exiting %d\n", uml.InGuest(), n)
		os.Exit(n)
	}
	Main(m)
}

// Inside the guest: create an IPVS service with two destinations through
// cloudflare/ipvs, read it back through cloudflare/ipvs, and check that
// ipvsadm, an independent reader of the kernel table, shows both.
func TestIPVSInGuest(t *testing.T) {
	if RunInGuest(t) {
		return
	}
	c, err := ipvs.New()
	if err != nil {
		t.Fatalf("ipvs.New in guest: %v", err)
	}
	svc := ipvs.Service{
		Address:   netip.MustParseAddr("192.168.11.100"),
		Port:      80,
		Protocol:  ipvs.TCP,
		Family:    ipvs.INET,
		Scheduler: "wrr",
		// The kernel requires a netmask on every service; a host mask
		// is what ipvsadm sends by default.
		Netmask: netmask.MaskFrom(32, 32),
	}
	if err := c.CreateService(svc); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	for _, d := range []struct {
		addr   string
		weight uint32
	}{{"192.168.11.12", 2}, {"192.168.11.13", 4}} {
		dst := ipvs.Destination{Address: netip.MustParseAddr(d.addr), Port: 80, Family: ipvs.INET, Weight: d.weight, FwdMethod: ipvs.DirectRoute}
		if err := c.CreateDestination(svc, dst); err != nil {
			t.Fatalf("CreateDestination %s: %v", d.addr, err)
		}
	}
	dests, err := c.Destinations(svc)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint32{}
	for _, d := range dests {
		got[d.Address.String()] = d.Weight
	}
	if len(got) != 2 || got["192.168.11.12"] != 2 || got["192.168.11.13"] != 4 {
		t.Fatalf("read back %v", got)
	}
	out, err := exec.Command("ipvsadm", "-Ln").CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm -Ln: %v\n%s", err, out)
	}
	t.Logf("ipvsadm -Ln:\n%s", out)
	for _, want := range []string{
		`(?m)^TCP\s+192\.168\.11\.100:80 wrr\s*$`,
		`(?m)^\s+-> 192\.168\.11\.12:80\s+Route\s+2\s+0\s+0\s*$`,
		`(?m)^\s+-> 192\.168\.11\.13:80\s+Route\s+4\s+0\s+0\s*$`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("ipvsadm output does not match %s", want)
		}
	}
}

// The exit status and output of the guest program come back to the host;
// a non-zero status is reported as such.
func TestBootReportsExitStatus(t *testing.T) {
	k, err := uml.FindKernel()
	testenv.Require(t, err == nil, "%v", err)
	for _, want := range []int{0, 3} {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		code, err := uml.Boot(ctx, uml.Config{
			Kernel:  k,
			Program: os.Args[0],
			Env:     map[string]string{envHelperExit: strconv.Itoa(want)},
			Dir:     "/",
			Mem:     "256M",
			Output:  &out,
		})
		cancel()
		if err != nil {
			t.Fatalf("Boot: %v\n%s", err, out.String())
		}
		if code != want {
			t.Errorf("exit status %d, want %d", code, want)
		}
		if line := fmt.Sprintf("helper in guest=true exiting %d", want); !strings.Contains(out.String(), line) {
			t.Errorf("console output lacks %q:\n%s", line, out.String())
		}
	}
}

func TestRunPattern(t *testing.T) {
	if got := runPattern("TestA/sub.1"); got != `^TestA$/^sub\.1$` {
		t.Errorf("runPattern = %q", got)
	}
}
