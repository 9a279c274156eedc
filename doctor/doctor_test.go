package doctor

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeHost is a machine of files and interfaces.
type fakeHost struct {
	files  map[string]string
	ifaces map[string]bool
	// programs are the programs there, root's alone.
	programs map[string]bool
}

func (h fakeHost) ReadFile(p string) (string, error) {
	if v, ok := h.files[p]; ok {
		return v, nil
	}
	return "", errors.New("no such file")
}

func (h fakeHost) HasInterface(n string) bool { return h.ifaces[n] }

func (h fakeHost) Exists(p string) bool { _, ok := h.files[p]; return ok }

func (h fakeHost) Ruleset() ([]byte, error) { return nil, errors.New("no nft here") }

func (h fakeHost) IPTables(Tool) (string, error) { return "", nil }

func (h fakeHost) CheckProgram(p string) error {
	if !h.programs[p] {
		return errors.New(p + ": no such file")
	}
	return nil
}

func find(t *testing.T, fs []Finding, check string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Check == check {
			return f
		}
	}
	t.Fatalf("no finding %q in %+v", check, fs)
	return Finding{}
}

// Each check on a machine that has the problem and on one that has not.
func TestChecks(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.10")
	in := Input{
		Schedulers:    []string{"wrr", "mh", "wrr"},
		NAT:           true,
		Interfaces:    []Named{{"eth0", "vrrp_instance web"}, {"eth9", "track_interface of web"}},
		VIPInterfaces: []string{"eth0"},
		Services:      []Service{{"web", vip}, {"other", netip.MustParseAddr("192.0.2.99")}},
		VIPs:          []netip.Addr{vip},
	}
	bad := fakeHost{files: map[string]string{
		"/sys/module/ip_vs":                      "",
		"/proc/sys/kernel/osrelease":             "6.1.0\n",
		"/lib/modules/6.1.0/modules.builtin":     "kernel/net/netfilter/ipvs/ip_vs_mh.ko\n",
		"/proc/sys/net/ipv4/ip_forward":          "0\n",
		"/proc/sys/net/ipv4/conf/all/rp_filter":  "0\n",
		"/proc/sys/net/ipv4/conf/eth0/rp_filter": "1\n",
		"/sys/fs/selinux/enforce":                "1\n",
	}, ifaces: map[string]bool{"eth0": true}}
	fs := Run(bad, nil, in)
	for check, want := range map[string]Status{
		"module ip_vs": OK, "module ip_vs_mh": OK, "module ip_vs_wrr": Fail,
		"ip_forward": Fail, "interface eth0": OK, "interface eth9": Fail,
		"rp_filter eth0": Warn, "selinux": Warn,
		"virtual_server web": OK, "virtual_server other": Warn,
	} {
		if f := find(t, fs, check); f.Status != want {
			t.Errorf("%s: %s (%s), want %s", check, f.Status, f.Detail, want)
		} else if want != OK && f.Fix == "" {
			t.Errorf("%s: no fix given", check)
		}
	}
	if f := find(t, fs, "module ip_vs_mh"); f.Detail != "built into the kernel" {
		t.Errorf("built-in mh: %q", f.Detail)
	}
	if f := find(t, fs, "module ip_vs_wrr"); f.Fix != "modprobe ip_vs_wrr" {
		t.Errorf("wrr fix %q", f.Fix)
	}
	if Worst(fs) != Fail {
		t.Errorf("worst %s", Worst(fs))
	}
	n := 0
	for _, f := range fs {
		if strings.HasPrefix(f.Check, "module ") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d module findings, want ip_vs, ip_vs_mh, ip_vs_wrr once each", n)
	}

	good := fakeHost{files: map[string]string{
		"/sys/module/ip_vs": "", "/sys/module/ip_vs_wrr": "", "/sys/module/ip_vs_mh": "",
		"/proc/sys/net/ipv4/ip_forward":          "1\n",
		"/proc/sys/net/ipv4/conf/all/rp_filter":  "2\n",
		"/proc/sys/net/ipv4/conf/eth0/rp_filter": "1\n",
		"/sys/fs/selinux/enforce":                "0\n",
	}, ifaces: map[string]bool{"eth0": true, "eth9": true}}
	in.Services = in.Services[:1]
	fs = Run(good, nil, in)
	if w := Worst(fs); w != OK {
		t.Errorf("a good machine: %+v", fs)
	}
	if f := find(t, fs, "rp_filter eth0"); f.Detail != "2" {
		t.Errorf("all=2 and eth0=1 is %q, want 2 (the kernel takes the larger)", f.Detail)
	}
	if f := find(t, fs, "selinux"); f.Detail != "permissive" {
		t.Errorf("selinux: %q", f.Detail)
	}
	if fs := Run(good, nil, Input{}); len(fs) != 2 || Worst(fs) != OK {
		t.Errorf("an empty configuration: %+v (want ip_vs and selinux)", fs)
	}
}

// The programs the daemon will run as root are there and root's alone,
// or the check fails naming why and how to fix it.
func TestProgramsCheck(t *testing.T) {
	in := Input{Programs: []Named{{"/usr/sbin/directord-bgp", "bgp speaker"}}}
	ok := find(t, Run(fakeHost{programs: map[string]bool{"/usr/sbin/directord-bgp": true}}, nil, in), "bgp speaker")
	if ok.Status != OK {
		t.Errorf("speaker installed: %+v, want ok", ok)
	}
	bad := find(t, Run(fakeHost{}, nil, in), "bgp speaker")
	if bad.Status != Fail || !strings.Contains(bad.Detail, "no such file") || !strings.Contains(bad.Fix, "/usr/sbin/directord-bgp") {
		t.Errorf("speaker missing: %+v, want a failure naming it and its fix", bad)
	}
	if fs := Run(fakeHost{}, nil, Input{}); slices.ContainsFunc(fs, func(f Finding) bool { return f.Check == "bgp speaker" }) {
		t.Error("a speaker check without a bgp block")
	}
}
