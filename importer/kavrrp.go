package importer

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// globalDefs carries router_id and script_user to director, and keeps
// what other parts need (vrrp_version, lvs_sync_daemon, lvs_timeouts).
func (w *kaWriter) globalDefs(root *hclwrite.Body, n *Node, ipvs *[]*Node) {
	dir := root.AppendNewBlock("director", nil).Body()
	for _, c := range n.Children {
		switch c.Key {
		case "router_id":
			setStr(dir, "router_id", arg(c))
		case "script_user":
			setStr(dir, "script_user", arg(c))
			if len(c.Args) > 1 {
				w.approx(dir, c, "the group is the user's: directord runs scripts with the user's own groups")
			}
		case "vrrp_version":
			w.version, _ = intArg(c)
		case "lvs_sync_daemon", "lvs_timeouts", "lvs_tcp_timeout", "lvs_tcpfin_timeout", "lvs_udp_timeout":
			*ipvs = append(*ipvs, c)
		case "enable_script_security":
			w.approx(dir, c, "always on: directord runs every program without a shell, and refuses ones others may write")
		default:
			w.drop(dir, c, "no directord equivalent")
		}
	}
}

// vrrpInstance writes one vrrp_instance.
func (w *kaWriter) vrrpInstance(root *hclwrite.Body, n *Node) {
	root.AppendNewline()
	b := root.AppendNewBlock("vrrp_instance", []string{arg(n)}).Body()
	// keepalived's default is VRRPv2, directord's v3: say which.
	version := w.version
	if version == 0 {
		version = 2
	}
	if c := n.Child("version"); c != nil {
		version, _ = intArg(c)
	}
	setInt(b, "version", version)
	var vips, peers []string
	notify := map[string][]string{}
	var garp *hclwrite.Body
	garpBody := func() *hclwrite.Body {
		if garp == nil {
			garp = b.AppendNewBlock("garp", nil).Body()
		}
		return garp
	}
	for _, c := range n.Children {
		switch c.Key {
		case "interface":
			setStr(b, "interface", arg(c))
		case "virtual_router_id":
			w.setNum(b, "virtual_router_id", c)
		case "priority":
			w.setNum(b, "priority", c)
		case "version":
			// set above
		case "advert_int":
			w.advertInt(b, c, version)
		case "nopreempt":
			setBool(b, "preempt", false)
		case "preempt_delay":
			w.setSecs(b, "preempt_delay", c)
		case "state":
			w.approx(b, c, "every instance starts as backup; priority and preemption decide, as keepalived does after its first advert")
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			if c.Key == "virtual_ipaddress_excluded" {
				w.approx(b, c, "its addresses are VIPs like the others (directord puts every VIP in its adverts)")
			}
			vips = append(vips, w.vips(b, c)...)
		case "lvs_sync_daemon_interface":
			// keepalived's older form of global_defs' lvs_sync_daemon.
			w.approx(b, c, "carried to ipvs { sync_daemon } with this instance")
			w.syncd = append(w.syncd, &Node{Key: "lvs_sync_daemon", Args: []string{arg(c), arg(n)}, File: c.File, Line: c.Line})
		case "unicast_src_ip":
			setStr(b, "unicast_src", arg(c))
		case "unicast_peer":
			for _, p := range c.Children {
				peers = append(peers, p.Key)
			}
		case "authentication":
			w.auth(b, c)
		case "track_interface":
			w.trackInterfaces(b, c)
		case "track_script":
			w.trackScripts(b, c)
		case "track_file":
			w.trackFiles(b, c)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			notify[strings.TrimPrefix(c.Key, "notify_")] = argv(c.Args)
		case "garp_master_delay":
			w.setSecs(garpBody(), "delay", c)
		case "garp_master_repeat":
			w.setNum(garpBody(), "repeat", c)
		case "garp_master_refresh":
			w.setSecs(garpBody(), "refresh", c)
		case "garp_master_refresh_repeat":
			w.setNum(garpBody(), "refresh_repeat", c)
		case "garp_interval":
			w.setSecs(garpBody(), "interval", c)
		default:
			w.drop(b, c, "no directord equivalent")
		}
	}
	setList(b, "virtual_ips", w.uniqueVIPs(b, n, vips))
	if len(peers) > 0 {
		setList(b, "unicast_peers", peers)
	}
	if len(notify) > 0 {
		nb := b.AppendNewBlock("notify", nil).Body()
		for _, k := range []string{"master", "backup", "fault", "stop"} {
			if v, ok := notify[k]; ok {
				setList(nb, k, v)
			}
		}
	}
}

// advertInt writes advert_int; VRRPv2 carries whole seconds, so a
// fraction is rounded up as keepalived does.
func (w *kaWriter) advertInt(b *hclwrite.Body, n *Node, version int) {
	d, ok := seconds(n)
	if !ok {
		w.drop(b, n, "not a number of seconds")
		return
	}
	dur, _ := time.ParseDuration(d)
	if version == 2 && dur%time.Second != 0 {
		up := (dur + time.Second - 1).Truncate(time.Second)
		w.approx(b, n, d+" rounded up to "+up.String()+": VRRPv2 carries whole seconds (version = 3 for sub-second adverts)")
		d = up.String()
	}
	setStr(b, "advert_interval", d)
}

// uniqueVIPs keeps the first of each address: keepalived accepts one
// twice (say once with a label), directord refuses it.
func (w *kaWriter) uniqueVIPs(b *hclwrite.Body, n *Node, vips []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vips {
		a := strings.Fields(v)[0]
		if i := strings.IndexByte(a, '/'); i >= 0 {
			a = a[:i]
		}
		if seen[a] {
			w.drop(b, n, "virtual IP "+v+" is listed before: the first is kept")
			continue
		}
		seen[a] = true
		out = append(out, v)
	}
	return out
}

// vips reads virtual_ipaddress lines: ADDR[/LEN] with dev and label kept.
func (w *kaWriter) vips(b *hclwrite.Body, n *Node) []string {
	var out []string
	for _, c := range n.Children {
		words := append([]string{c.Key}, c.Args...)
		v := words[0]
		for i := 1; i+1 < len(words); i += 2 {
			switch words[i] {
			case "dev", "label":
				v += " " + words[i] + " " + words[i+1]
			default:
				w.approx(b, c, words[i]+" "+words[i+1]+" left out: directord sets a VIP's device and label only")
			}
		}
		out = append(out, v)
	}
	return out
}

func (w *kaWriter) auth(b *hclwrite.Body, n *Node) {
	typ, pass := "", ""
	for _, c := range n.Children {
		switch c.Key {
		case "auth_type":
			typ = arg(c)
		case "auth_pass":
			pass = arg(c)
		}
	}
	if typ != "PASS" {
		w.drop(b, n, "only PASS authentication exists in directord (AH is deprecated by RFC 3768's successors)")
		return
	}
	ab := b.AppendNewBlock("authentication", nil).Body()
	setStr(ab, "type", "PASS")
	setStr(ab, "password", pass)
}

// weightOf reads "weight N" from a tracking line's words.
func weightOf(words []string) (int, bool) {
	for i := 0; i+1 < len(words); i++ {
		if words[i] == "weight" {
			v, ok := intArg(&Node{Args: words[i+1:]})
			return v, ok
		}
	}
	return 0, false
}

func (w *kaWriter) trackInterfaces(b *hclwrite.Body, n *Node) {
	for _, c := range n.Children {
		tb := b.AppendNewBlock("track_interface", []string{c.Key}).Body()
		if v, ok := weightOf(c.Args); ok {
			setInt(tb, "weight", v)
		}
	}
}

func (w *kaWriter) trackScripts(b *hclwrite.Body, n *Node) {
	for _, c := range n.Children {
		s := w.scripts[c.Key]
		if s == nil {
			w.drop(b, c, "no vrrp_script of this name")
			continue
		}
		tb := b.AppendNewBlock("track_script", []string{c.Key}).Body()
		weight, hasWeight := weightOf(c.Args)
		for _, sc := range s.Children {
			switch sc.Key {
			case "script":
				setList(tb, "command", argv(sc.Args))
			case "interval":
				w.setSecs(tb, "interval", sc)
			case "timeout":
				w.setSecs(tb, "timeout", sc)
			case "rise":
				w.setNum(tb, "rise", sc)
			case "fall":
				w.setNum(tb, "fall", sc)
			case "weight":
				if !hasWeight {
					weight, hasWeight = intArg(sc)
				}
			default:
				w.drop(tb, sc, "no directord equivalent")
			}
		}
		if hasWeight {
			setInt(tb, "weight", weight)
		}
		w.scriptTiming(tb, s)
	}
}

// scriptTiming cuts a vrrp_script's timeout to its interval, as
// directord wants (keepalived lets a script outlast its interval).
func (w *kaWriter) scriptTiming(tb *hclwrite.Body, s *Node) {
	iv, to := s.Child("interval"), s.Child("timeout")
	if iv == nil || to == nil {
		return
	}
	ivs, ok1 := seconds(iv)
	tos, ok2 := seconds(to)
	ivd, _ := time.ParseDuration(ivs)
	tod, _ := time.ParseDuration(tos)
	if ok1 && ok2 && tod > ivd {
		w.approx(tb, to, "timeout "+tos+" cut to the interval "+ivs+": a script may not outlast its interval")
		setStr(tb, "timeout", ivs)
	}
}

func (w *kaWriter) trackFiles(b *hclwrite.Body, n *Node) {
	for _, c := range n.Children {
		f := w.files[c.Key]
		var path string
		if f != nil && f.Child("file") != nil {
			path = arg(f.Child("file"))
		}
		if path == "" {
			w.drop(b, c, "no vrrp_track_file of this name with a file")
			continue
		}
		tb := b.AppendNewBlock("track_file", []string{path}).Body()
		if v, ok := weightOf(c.Args); ok {
			setInt(tb, "weight", v)
		}
	}
}

// isInstance reports whether the file has a vrrp_instance of this name.
func (w *kaWriter) isInstance(name string) bool { return w.instances[name] }

func (w *kaWriter) syncGroup(root *hclwrite.Body, n *Node) {
	root.AppendNewline()
	b := root.AppendNewBlock("vrrp_sync_group", []string{arg(n)}).Body()
	var members []string
	for _, c := range n.Children {
		switch {
		case c.Key == "group":
			for _, m := range c.Children {
				members = append(members, append([]string{m.Key}, m.Args...)...)
			}
		case !c.Block && w.isInstance(c.Key):
			// Older keepalived lists the members without "group".
			members = append(members, append([]string{c.Key}, c.Args...)...)
		default:
			w.drop(b, c, "directord's sync groups have members only; hooks belong to the instances")
		}
	}
	setList(b, "instances", members)
}
