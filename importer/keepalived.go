package importer

import (
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// RenderKeepalived writes the configuration a keepalived.conf tree
// stands for; notes are the parser's (conditionals, includes).
func RenderKeepalived(root *Node, notes []Note) ([]byte, Summary) {
	w := &kaWriter{f: hclwrite.NewEmptyFile(), scripts: map[string]*Node{}, files: map[string]*Node{}, groups: map[string]*Node{}, instances: map[string]bool{}}
	body := w.f.Body()
	comment(body, "Imported by `directord import keepalived` from "+root.File+".")
	for _, n := range notes {
		w.sum.Dropped++
		comment(body, n.File+":"+itoa(n.Line)+": "+n.Text)
	}
	// Definitions first: instances and services refer to them by name.
	for _, n := range root.Children {
		switch n.Key {
		case "vrrp_script":
			w.scripts[arg(n)] = n
		case "vrrp_track_file":
			w.files[arg(n)] = n
		case "virtual_server_group":
			w.groups[arg(n)] = n
		case "vrrp_instance":
			w.instances[arg(n)] = true
		}
	}
	var ipvs []*Node
	for _, n := range root.Children {
		switch n.Key {
		case "global_defs":
			w.globalDefs(body, n, &ipvs)
		case "vrrp_instance":
			w.vrrpInstance(body, n)
			w.sum.Instances++
		case "vrrp_sync_group":
			w.syncGroup(body, n)
		case "virtual_server":
			w.virtualServer(body, n)
			w.sum.Services++
		case "vrrp_script", "vrrp_track_file", "virtual_server_group":
			// used where referred to
		case "lvs_timeouts", "lvs_sync_daemon":
			// global_defs' keywords, also read at the top
			ipvs = append(ipvs, n)
		default:
			w.drop(body, n, "no directord equivalent")
		}
	}
	ipvs = append(ipvs, w.syncd...)
	if len(ipvs) > 0 {
		w.ipvsBlock(body, ipvs)
	}
	return withNewline(hclwrite.Format(w.f.Bytes())), w.sum
}

// ipvsBlock writes lvs_sync_daemon and lvs_timeouts.
func (w *kaWriter) ipvsBlock(root *hclwrite.Body, ns []*Node) {
	root.AppendNewline()
	b := root.AppendNewBlock("ipvs", nil).Body()
	for _, n := range ns {
		switch n.Key {
		case "lvs_timeouts":
			for i := 0; i+1 < len(n.Args); i += 2 {
				name := map[string]string{"tcp": "tcp_timeout", "tcpfin": "tcpfin_timeout", "udp": "udp_timeout"}[n.Args[i]]
				if name == "" {
					w.drop(b, n, n.Args[i]+" is not a timeout directord sets")
					continue
				}
				w.setSecs(b, name, &Node{Args: n.Args[i+1:], File: n.File, Line: n.Line, Key: n.Key})
			}
		case "lvs_tcp_timeout", "lvs_tcpfin_timeout", "lvs_udp_timeout":
			w.setSecs(b, n.Key[4:], n)
		case "lvs_sync_daemon":
			if len(n.Args) < 2 {
				w.drop(b, n, "needs an interface and a vrrp_instance")
				continue
			}
			sd := b.AppendNewBlock("sync_daemon", nil).Body()
			setStr(sd, "interface", n.Args[0])
			setStr(sd, "vrrp_instance", n.Args[1])
			for i := 2; i+1 < len(n.Args); i += 2 {
				switch n.Args[i] {
				case "id":
					w.setNum(sd, "sync_id", &Node{Args: n.Args[i+1:], File: n.File, Line: n.Line, Key: "id"})
				case "maxlen":
					w.setNum(sd, "max_len", &Node{Args: n.Args[i+1:], File: n.File, Line: n.Line, Key: "maxlen"})
				case "port":
					w.setNum(sd, "port", &Node{Args: n.Args[i+1:], File: n.File, Line: n.Line, Key: "port"})
				case "ttl":
					w.setNum(sd, "ttl", &Node{Args: n.Args[i+1:], File: n.File, Line: n.Line, Key: "ttl"})
				case "group":
					setStr(sd, "group", n.Args[i+1])
				default:
					w.drop(sd, n, n.Args[i]+" is not a sync daemon setting directord has")
				}
			}
		}
	}
}
