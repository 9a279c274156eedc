package doctor

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// iptables rules are read as iptables-save writes them:
//   - legacy iptables (x_tables, not nftables), from iptables-legacy-save
//     and ip6tables-legacy-save, when /proc/net/ip{,6}_tables_names lists
//     the filter table (the tool would otherwise load the table's module,
//     and doctor changes nothing);
//   - iptables-nft rules are nftables rules, read with nft; only where
//     nft is not installed are they read from iptables-nft-save.

// Tool is an iptables-save program doctor may run, with its family.
type Tool struct {
	Name string
	IPv6 bool
	// Legacy is set for the x_tables tools, whose table must already be
	// in use.
	Legacy bool
}

// legacyTools always run (when their table is in use); nftTools only
// where nft cannot read the ruleset.
var (
	legacyTools = []Tool{{"iptables-legacy-save", false, true}, {"ip6tables-legacy-save", true, true}}
	nftTools    = []Tool{{"iptables-nft-save", false, false}, {"ip6tables-nft-save", true, false}}
)

// iptables checks each probe against the INPUT chain of every table the
// tools read: findings per probe, like firewall's, and a warning for each
// table in use that could not be read.
func iptables(h Host, tools []Tool, probes []Probe) (perProbe, warnings []Finding) {
	perProbe = make([]Finding, len(probes))
	for i, p := range probes {
		perProbe[i] = Finding{Check: "firewall " + p.What, Status: OK, Detail: "let in: " + p.String()}
	}
	for _, tool := range tools {
		save, err := h.IPTables(tool)
		if err != nil {
			warnings = append(warnings, Finding{Check: "firewall", Status: Warn, Detail: tool.Name + " failed (" + err.Error() + "): its rules are not checked",
				Fix: tool.Name + " -t filter  # and read INPUT for drops of IP protocol 112, 224.0.0.18, ff02::12 and the services"})
			continue
		}
		t, err := parseIPT(save)
		if err != nil {
			warnings = append(warnings, Finding{Check: "firewall", Status: Warn, Detail: tool.Name + " output not understood: " + err.Error()})
			continue
		}
		cmd := strings.TrimSuffix(tool.Name, "-save")
		for i, p := range probes {
			if p.IPv6 != tool.IPv6 || len(t.policy) == 0 {
				continue
			}
			v, why := t.input(p)
			f := &perProbe[i]
			switch {
			case v == dropped:
				f.Status, f.Detail = Fail, p.String()+" is dropped by "+cmd+": "+why
			case v == mayDrop && f.Status == OK:
				f.Status, f.Detail = Warn, p.String()+" may be dropped by "+cmd+": "+why
			default:
				continue
			}
			f.Fix = cmd + " -I INPUT " + p.iptMatch() + " -j ACCEPT"
		}
	}
	return perProbe, warnings
}

// iptMatch is p as iptables match options.
func (p Probe) iptMatch() string {
	proto := map[uint8]string{112: "vrrp", 6: "tcp", 17: "udp", 132: "sctp"}[p.Proto]
	s := "-p " + proto + " -d " + p.Dst.String()
	if p.Port != 0 {
		s += " --dport " + strconv.Itoa(int(p.Port))
	}
	return s
}

// ipt is one family's filter table: chain policies and rules.
type ipt struct {
	policy map[string]string // "INPUT" → "DROP"; user chains have "-"
	rules  map[string][]iptRule
}

// iptRule is one -A line: its words after the chain name.
type iptRule struct {
	n    int    // 1-based position in its chain
	line string // as iptables-save wrote it
	args []string
}

// parseIPT reads iptables-save output; only the filter table counts.
func parseIPT(save string) (ipt, error) {
	t := ipt{policy: map[string]string{}, rules: map[string][]iptRule{}}
	table := ""
	for i, line := range strings.Split(save, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case table != "filter":
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return ipt{}, fmt.Errorf("line %d: %q", i+1, line)
			}
			t.policy[f[0]] = f[1]
		case strings.HasPrefix(line, "-A "):
			args, err := shellWords(line)
			if err != nil || len(args) < 2 {
				return ipt{}, fmt.Errorf("line %d: %q: %v", i+1, line, err)
			}
			chain := args[1]
			t.rules[chain] = append(t.rules[chain], iptRule{n: len(t.rules[chain]) + 1, line: line, args: args[2:]})
		default:
			return ipt{}, fmt.Errorf("line %d: %q not understood", i+1, line)
		}
	}
	return t, nil
}

// shellWords splits as iptables-save quotes: "…" with \" and \\ inside.
func shellWords(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
		case c == '"':
			quoted, in = !quoted, true
		case !quoted && (c == ' ' || c == '\t'):
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if in {
		out = append(out, w.String())
	}
	return out, nil
}

// eval runs chain on p, following jumps into user chains (at most 16
// deep). returned is set when the chain ran out of rules, or hit RETURN,
// without a verdict: the caller then goes on (or applies its policy).
func (t ipt) eval(chain string, p Probe, depth int) (v verdict, why string, returned bool) {
	if depth > 16 {
		return mayDrop, "chains jump more than 16 deep", false
	}
	unsure := ""
	// A verdict found after a rule that might have dropped p first is
	// only a maybe.
	settle := func(v verdict, why string) (verdict, string, bool) {
		if unsure != "" {
			return mayDrop, unsure, false
		}
		return v, why, false
	}
	for _, r := range t.rules[chain] {
		m, target, goTo := iptMatch(r.args, p)
		if m == noMatch || target == "" {
			continue
		}
		rule := fmt.Sprintf("%s rule %d (%s)", chain, r.n, r.line)
		if m == unknown {
			// Only a rule that could drop p makes what follows unsure:
			// DROP, REJECT, or a jump to a chain that drops it.
			if unsure == "" && t.couldDrop(target, p, depth) {
				unsure = rule + ", with a match not checked here"
			}
			continue
		}
		switch target {
		case "ACCEPT":
			return settle(passes, "")
		case "DROP", "REJECT":
			return settle(dropped, rule)
		case "RETURN":
			return t.ran(unsure)
		}
		if _, ok := t.policy[target]; !ok {
			continue // LOG, NFLOG, MARK, …: not a verdict
		}
		sub, subWhy, subReturned := t.eval(target, p, depth+1)
		switch {
		case !subReturned:
			return settle(sub, subWhy)
		case goTo:
			return t.ran(unsure)
		}
	}
	return t.ran(unsure)
}

// couldDrop reports whether target, reached by a rule whose match is not
// known, might drop p.
func (t ipt) couldDrop(target string, p Probe, depth int) bool {
	switch target {
	case "DROP", "REJECT":
		return true
	}
	if _, ok := t.policy[target]; !ok {
		return false // ACCEPT, RETURN, LOG, MARK, …
	}
	v, _, _ := t.eval(target, p, depth+1)
	return v != passes
}

// ran is a chain that ended without a verdict; if a rule on the way might
// have dropped p, that is the answer instead.
func (t ipt) ran(unsure string) (verdict, string, bool) {
	if unsure != "" {
		return mayDrop, unsure, false
	}
	return passes, "", true
}

// input is p through the INPUT chain, its policy included.
func (t ipt) input(p Probe) (verdict, string) {
	v, why, returned := t.eval("INPUT", p, 0)
	if returned && t.policy["INPUT"] == "DROP" {
		return dropped, "INPUT's policy DROP, with no rule accepting it"
	}
	return v, why
}

// iptMatch reads a rule's matches against p: whether it matches, and its
// target (-j, or -g with goTo).
func iptMatch(args []string, p Probe) (m matched, target string, goTo bool) {
	m = match
	and := func(x matched) {
		if x == noMatch || m == noMatch {
			m = noMatch
		} else if x == unknown {
			m = unknown
		}
	}
	for i := 0; i < len(args); i++ {
		neg := false
		if args[i] == "!" {
			neg, i = true, i+1
			if i >= len(args) {
				break
			}
		}
		opt, val := args[i], ""
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") || opt == "-j" || opt == "-g" {
			if i+1 < len(args) {
				val, i = args[i+1], i+1
			}
		}
		var x matched
		switch opt {
		case "-j", "-g":
			target, goTo = val, opt == "-g"
			// The target's own options (--reject-with …) follow.
			return m, target, goTo
		case "-p", "--protocol":
			x = iptProto(val, p)
		case "-d", "--destination":
			x = iptAddr(val, p.Dst)
		case "-i", "--in-interface":
			// A probe never comes in on lo; any other name may be its.
			x = unknown
			if val == "lo" {
				x = noMatch
			}
		case "--dport", "--destination-port":
			x = iptPorts(val, p.Port)
		case "--dports", "--destination-ports", "--ports":
			x = noMatch
			for _, r := range strings.Split(val, ",") {
				if iptPorts(r, p.Port) == match {
					x = match
				}
			}
		case "--state", "--ctstate":
			// Every probe is the first packet of its flow.
			x = noMatch
			if strings.Contains(","+val+",", ",NEW,") {
				x = match
			}
		case "-m", "--match", "--comment":
			continue // a module (its options follow) or a comment
		default:
			x = unknown
		}
		if neg {
			x = x.not()
		}
		and(x)
	}
	return m, "", false
}

func iptProto(name string, p Probe) matched {
	n, err := strconv.Atoi(name)
	if err != nil {
		known := map[string]int{"all": 0, "tcp": 6, "udp": 17, "sctp": 132, "vrrp": 112, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58}
		var ok bool
		if n, ok = known[strings.ToLower(name)]; !ok {
			return noMatch // a protocol no probe uses
		}
	}
	if n == 0 || n == int(p.Proto) {
		return match
	}
	return noMatch
}

func iptAddr(val string, a netip.Addr) matched {
	pf, err := netip.ParsePrefix(val)
	if err != nil {
		ad, err := netip.ParseAddr(val)
		if err != nil {
			return unknown
		}
		pf = netip.PrefixFrom(ad, ad.BitLen())
	}
	if pf.Contains(a) {
		return match
	}
	return noMatch
}

// iptPorts matches "80" or "1024:65535" (either side may be empty).
func iptPorts(val string, port uint16) matched {
	if port == 0 {
		return noMatch // VRRP has no ports
	}
	lo, hi, isRange := strings.Cut(val, ":")
	if !isRange {
		hi = lo
	}
	l, h := 0, 65535
	var err error
	if lo != "" {
		if l, err = strconv.Atoi(lo); err != nil {
			return unknown
		}
	}
	if hi != "" {
		if h, err = strconv.Atoi(hi); err != nil {
			return unknown
		}
	}
	if int(port) >= l && int(port) <= h {
		return match
	}
	return noMatch
}

// not is a negated match ("! -p vrrp"); unknown stays unknown.
func (m matched) not() matched {
	switch m {
	case match:
		return noMatch
	case noMatch:
		return match
	}
	return unknown
}
