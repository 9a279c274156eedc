package doctor

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
)

// Status is a check's verdict.
type Status int

// Verdicts, from good to bad.
const (
	OK Status = iota
	Warn
	Fail
)

func (s Status) String() string { return [...]string{"ok", "warn", "fail"}[s] }

// MarshalText writes the status as its name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one check's result.
type Finding struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Fix is the command that fixes it, when there is one.
	Fix string `json:"fix,omitempty"`
}

// Host is what the checks read of the machine.
type Host interface {
	// ReadFile reads a file under /proc or /sys.
	ReadFile(path string) (string, error)
	// HasInterface reports whether a network interface exists.
	HasInterface(name string) bool
	// Exists reports whether a path under /sys exists.
	Exists(path string) bool
	// Ruleset is `nft -j list ruleset`; an error wrapping
	// exec.ErrNotFound when nft is not installed.
	Ruleset() ([]byte, error)
	// IPTables is `TOOL -t filter`, or "" when its table is not in use
	// (legacy) or the tool is not installed (nft).
	IPTables(tool Tool) (string, error)
	// CheckProgram says why path is no program the daemon may run as
	// root: missing, not executable, or writable by another user; nil
	// when it is one.
	CheckProgram(path string) error
}

// Input is what the configuration asks of the machine.
type Input struct {
	// Schedulers are the IPVS schedulers of the virtual servers.
	Schedulers []string
	// NAT is set when a real server is reached by masquerading.
	NAT bool
	// Interfaces are those the configuration names (VRRP, tracking,
	// sync daemon), with where.
	Interfaces []Named
	// VIPInterfaces are the interfaces VIPs are added to.
	VIPInterfaces []string
	// Services are the address-and-port virtual servers; VIPs every
	// address some vrrp_instance holds.
	Services []Service
	VIPs     []netip.Addr
	// Probes are the packets the firewall must let in.
	Probes []Probe
	// Instances are listened to for other VRRP speakers.
	Instances []Instance
	// Programs are those the daemon will run as root (the BGP speaker).
	Programs []Named
}

// Named is an interface name and what names it.
type Named struct{ Name, By string }

// Service is a virtual server by name and address.
type Service struct {
	Name string
	Addr netip.Addr
}

// Run runs every check; with a Listener, also those that listen on the
// network (for a few seconds: three advert intervals and a second).
func Run(h Host, l Listener, in Input) []Finding {
	var out []Finding
	out = append(out, modules(h, in)...)
	if in.NAT {
		out = append(out, ipForward(h))
	}
	out = append(out, interfaces(h, in)...)
	out = append(out, rpFilter(h, in)...)
	if len(in.Probes) > 0 {
		out = append(out, firewalls(h, in.Probes)...)
	}
	out = append(out, selinux(h))
	out = append(out, servicesOnVIPs(in)...)
	out = append(out, programs(h, in.Programs)...)
	if l != nil {
		out = append(out, speakers(l, in.Instances)...)
	}
	return out
}

// firewalls checks the probes against nftables and iptables: per probe,
// the worse of the two findings, then any table that was not read.
func firewalls(h Host, probes []Probe) []Finding {
	rs, err := h.Ruleset()
	tools := legacyTools
	var notes []Finding
	if errors.Is(err, exec.ErrNotFound) {
		// No nft: iptables-nft's rules can still be read. Others may
		// exist (firewalld uses libnftables, not nft) while nf_tables is
		// loaded.
		rs, err, tools = []byte(`{"nftables":[]}`), nil, append(slices.Clone(legacyTools), nftTools...)
		if h.Exists("/sys/module/nf_tables") {
			notes = append(notes, Finding{Check: "firewall", Status: Warn,
				Detail: "nft is not installed and nf_tables is loaded: nftables rules other than iptables-nft's are not checked",
				Fix:    "apt install nftables  # then run doctor again"})
		}
	}
	nft := firewall(rs, err, probes)
	ipt, warnings := iptables(h, tools, probes)
	if len(nft) != len(probes) {
		nft, notes = ipt, append(nft, notes...) // nftables not read: say so
	} else {
		for i := range nft {
			if ipt[i].Status > nft[i].Status {
				nft[i] = ipt[i]
			}
		}
	}
	return append(append(nft, notes...), warnings...)
}

// Worst is the worst status of fs (OK for none).
func Worst(fs []Finding) Status {
	w := OK
	for _, f := range fs {
		w = max(w, f.Status)
	}
	return w
}

// modules: ip_vs, and ip_vs_NAME for each scheduler. A module is there
// when /sys/module has it (loaded, or built in with parameters) or the
// kernel's modules.builtin lists it.
func modules(h Host, in Input) []Finding {
	want := []string{"ip_vs"}
	scheds := slices.Clone(in.Schedulers)
	slices.Sort(scheds)
	for _, s := range slices.Compact(scheds) {
		want = append(want, "ip_vs_"+s)
	}
	builtin := ""
	if rel, err := h.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		builtin, _ = h.ReadFile("/lib/modules/" + strings.TrimSpace(rel) + "/modules.builtin")
	}
	var out []Finding
	for _, m := range want {
		f := Finding{Check: "module " + m, Status: OK, Detail: "loaded"}
		if !h.Exists("/sys/module/" + m) {
			switch {
			case strings.Contains(builtin, "/"+m+".ko\n"):
				f.Detail = "built into the kernel"
			case m == "ip_vs":
				f.Status, f.Detail, f.Fix = Fail, "not loaded: without IPVS there is no virtual service", "modprobe ip_vs"
			default:
				f.Status, f.Detail, f.Fix = Fail, "not loaded: the kernel refuses a service with this scheduler", "modprobe "+m
			}
		}
		out = append(out, f)
	}
	return out
}

func ipForward(h Host) Finding {
	f := Finding{Check: "ip_forward", Status: OK, Detail: "1: NAT replies are forwarded back to clients"}
	v, err := h.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil || strings.TrimSpace(v) != "1" {
		f.Status = Fail
		f.Detail = "0: a nat virtual server's replies come back through this director, which must forward them"
		f.Fix = "sysctl -w net.ipv4.ip_forward=1"
	}
	return f
}

func interfaces(h Host, in Input) []Finding {
	var out []Finding
	seen := map[string]bool{}
	for _, n := range in.Interfaces {
		if seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		f := Finding{Check: "interface " + n.Name, Status: OK, Detail: "exists (" + n.By + ")"}
		if !h.HasInterface(n.Name) {
			f.Status, f.Detail = Fail, "missing: "+n.By+" names it"
			f.Fix = "ip link show  # and correct the interface name in the configuration"
		}
		out = append(out, f)
	}
	return out
}

// rpFilter warns of strict reverse-path filtering where VIPs live: the
// kernel takes the larger of all's and the interface's value.
func rpFilter(h Host, in Input) []Finding {
	all := sysctlInt(h, "/proc/sys/net/ipv4/conf/all/rp_filter")
	var out []Finding
	names := slices.Clone(in.VIPInterfaces)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if !h.HasInterface(name) {
			continue // reported as missing
		}
		v := max(all, sysctlInt(h, "/proc/sys/net/ipv4/conf/"+name+"/rp_filter"))
		f := Finding{Check: "rp_filter " + name, Status: OK, Detail: fmt.Sprintf("%d", v)}
		if v == 1 {
			f.Status = Warn
			f.Detail = "1 (strict): a packet is dropped unless its reply would leave by the same interface: " +
				"traffic to a VIP from networks routed elsewhere, tunnelled traffic and adverts of a peer on another subnet"
			f.Fix = fmt.Sprintf("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.%s.rp_filter=2", name)
		}
		out = append(out, f)
	}
	return out
}

func selinux(h Host) Finding {
	v, err := h.ReadFile("/sys/fs/selinux/enforce")
	switch {
	case err != nil:
		return Finding{Check: "selinux", Status: OK, Detail: "not enabled"}
	case strings.TrimSpace(v) == "1":
		return Finding{Check: "selinux", Status: Warn,
			Detail: "enforcing: exec checks, track scripts and hooks run in directord's domain and are denied what its policy does not allow (the seed's \"attention to iptables and selinux\")",
			Fix:    "ausearch -m avc -ts recent | audit2allow -M directord && semodule -i directord.pp"}
	default:
		return Finding{Check: "selinux", Status: OK, Detail: "permissive"}
	}
}

func servicesOnVIPs(in Input) []Finding {
	var out []Finding
	for _, s := range in.Services {
		f := Finding{Check: "virtual_server " + s.Name, Status: OK, Detail: s.Addr.String() + " is a VIP of a vrrp_instance"}
		if !slices.Contains(in.VIPs, s.Addr) {
			f.Status = Warn
			f.Detail = s.Addr.String() + " is no VIP of any vrrp_instance: clients reach it only if something else puts it on this host (lo in BGP mode, another tool)"
			f.Fix = "add " + s.Addr.String() + " to a vrrp_instance's virtual_ips"
		}
		out = append(out, f)
	}
	return out
}

// programs checks the programs the daemon will run: there, and root's
// alone (the daemon refuses to run one that is not).
func programs(h Host, ps []Named) []Finding {
	var out []Finding
	for _, p := range ps {
		f := Finding{Check: p.By, Status: OK, Detail: p.Name + ": root's alone"}
		if err := h.CheckProgram(p.Name); err != nil {
			f.Status, f.Detail = Fail, err.Error()
			f.Fix = "install " + p.Name + " (the package does), owned by root, mode 0755, in a directory only root can write to"
		}
		out = append(out, f)
	}
	return out
}

func sysctlInt(h Host, path string) int {
	v, err := h.ReadFile(path)
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(strings.TrimSpace(v), &n)
	return n
}
