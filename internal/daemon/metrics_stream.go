package daemon

import (
	"bufio"
	"slices"
	"strconv"
	"strings"

	"directord/lvs"
)

// streamed are the metric families with a series per real server, IPVS
// service or destination. They are written to the scrape's response as
// they are read from the status document, in Prometheus's text format,
// instead of going through client_golang: its registry makes an object
// of every series and holds them all until it has sorted them, which at
// 10,000 reals was 135,000 series and about 25 MB of the daemon's
// memory at every scrape.
var streamed = []streamFamily{
	{name: "directord_real_server_up", typ: "gauge", labels: []string{"virtual_server", "real_server"},
		help: "1 when the real server's health check says up.",
		write: func(doc *StatusDoc, s series) {
			for _, rs := range doc.RealServers {
				s(b2f(rs.Up), rs.VirtualServer, rs.RealServer)
			}
		}},
	{name: "directord_real_server_weight", typ: "gauge", labels: []string{"virtual_server", "real_server", "source"},
		help: "Weight of a real server: configured, runtime (an operator's override; absent without one) and effective (asked of the kernel: 0 while drained or down).",
		write: func(doc *StatusDoc, s series) {
			for _, rs := range doc.RealServers {
				s(float64(rs.Weight), rs.VirtualServer, rs.RealServer, "configured")
				s(float64(rs.EffectiveWeight), rs.VirtualServer, rs.RealServer, "effective")
				if rs.RuntimeWeight != nil {
					s(float64(*rs.RuntimeWeight), rs.VirtualServer, rs.RealServer, "runtime")
				}
			}
		}},
	{name: "directord_real_server_drained", typ: "gauge", labels: []string{"virtual_server", "real_server", "by"},
		help: "1 while a real server is drained, by an operator or a maintenance_dir file.",
		write: func(doc *StatusDoc, s series) {
			for _, rs := range doc.RealServers {
				s(b2f(rs.Maintenance), rs.VirtualServer, rs.RealServer, "maintenance")
				s(b2f(rs.Drained), rs.VirtualServer, rs.RealServer, "operator")
			}
		}},
	{name: "directord_ipvs_quorum_lost", typ: "gauge", labels: []string{"virtual_server"},
		help: "1 while a virtual server has lost quorum.",
		write: func(doc *StatusDoc, s series) {
			if doc.IPVS != nil {
				for _, st := range doc.IPVS.Services {
					s(b2f(st.QuorumLost), st.Name)
				}
			}
		}},
	{name: "directord_ipvs_service_connections_total", typ: "counter", labels: []string{"service"},
		help: "Connections scheduled by an IPVS service.",
		write: func(doc *StatusDoc, s series) {
			for _, sv := range table(doc) {
				s(float64(sv.Stats.Connections), sv.Name)
			}
		}},
	{name: "directord_ipvs_service_packets_total", typ: "counter", labels: []string{"service", "direction"},
		help: "Packets through an IPVS service, by direction.",
		write: func(doc *StatusDoc, s series) {
			for _, sv := range table(doc) {
				s(float64(sv.Stats.IncomingPackets), sv.Name, "in")
				s(float64(sv.Stats.OutgoingPackets), sv.Name, "out")
			}
		}},
	{name: "directord_ipvs_service_bytes_total", typ: "counter", labels: []string{"service", "direction"},
		help: "Bytes through an IPVS service, by direction.",
		write: func(doc *StatusDoc, s series) {
			for _, sv := range table(doc) {
				s(float64(sv.Stats.IncomingBytes), sv.Name, "in")
				s(float64(sv.Stats.OutgoingBytes), sv.Name, "out")
			}
		}},
	{name: "directord_ipvs_destination_connections_total", typ: "counter", labels: []string{"service", "destination"},
		help: "Connections scheduled to an IPVS destination.",
		write: func(doc *StatusDoc, s series) {
			eachDest(doc, func(svc string, d *lvs.DestStats) {
				s(float64(d.Stats.Connections), svc, d.Name)
			})
		}},
	{name: "directord_ipvs_destination_active_connections", typ: "gauge", labels: []string{"service", "destination"},
		help: "Active connections of an IPVS destination.",
		write: func(doc *StatusDoc, s series) {
			eachDest(doc, func(svc string, d *lvs.DestStats) {
				s(float64(d.ActiveConns), svc, d.Name)
			})
		}},
	{name: "directord_ipvs_destination_inactive_connections", typ: "gauge", labels: []string{"service", "destination"},
		help: "Inactive connections of an IPVS destination.",
		write: func(doc *StatusDoc, s series) {
			eachDest(doc, func(svc string, d *lvs.DestStats) {
				s(float64(d.InactiveConns), svc, d.Name)
			})
		}},
	{name: "directord_ipvs_destination_weight", typ: "gauge", labels: []string{"service", "destination"},
		help: "Weight of an IPVS destination in the kernel.",
		write: func(doc *StatusDoc, s series) {
			eachDest(doc, func(svc string, d *lvs.DestStats) {
				s(float64(d.Weight), svc, d.Name)
			})
		}},
	{name: "directord_ipvs_destination_bytes_total", typ: "counter", labels: []string{"service", "destination", "direction"},
		help: "Bytes through an IPVS destination, by direction.",
		write: func(doc *StatusDoc, s series) {
			eachDest(doc, func(svc string, d *lvs.DestStats) {
				s(float64(d.Stats.IncomingBytes), svc, d.Name, "in")
				s(float64(d.Stats.OutgoingBytes), svc, d.Name, "out")
			})
		}},
}

// streamFamily is one streamed family: write gives its series, each
// with its labels' values in the order of labels.
type streamFamily struct {
	name, help, typ string
	labels          []string
	write           func(*StatusDoc, series)
}

// series writes one sample of the family being written.
type series func(v float64, labelValues ...string)

func table(doc *StatusDoc) []lvs.ServiceStats {
	if doc.IPVS == nil {
		return nil
	}
	return doc.IPVS.Table
}

// eachDest calls f for each destination of the table, with its
// service's name.
func eachDest(doc *StatusDoc, f func(svc string, d *lvs.DestStats)) {
	for _, sv := range table(doc) {
		for i := range sv.Dests {
			f(sv.Name, &sv.Dests[i])
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// writeStreamed writes the streamed families from doc to w, in the
// text exposition format (version 0.0.4) as client_golang would: HELP,
// TYPE, then the samples, labels sorted by name.
func writeStreamed(w *bufio.Writer, doc *StatusDoc) {
	var line []byte
	for _, f := range streamed {
		line = append(line[:0], "# HELP "...)
		line = append(line, f.name...)
		line = append(line, ' ')
		line = appendEscaped(line, f.help, false)
		line = append(line, "\n# TYPE "...)
		line = append(line, f.name...)
		line = append(line, ' ')
		line = append(line, f.typ...)
		line = append(line, '\n')
		_, _ = w.Write(line)
		order := labelOrder(f.labels)
		f.write(doc, func(v float64, values ...string) {
			line = append(line[:0], f.name...)
			line = append(line, '{')
			for i, j := range order {
				if i > 0 {
					line = append(line, ',')
				}
				line = append(line, f.labels[j]...)
				line = append(line, `="`...)
				line = appendEscaped(line, values[j], true)
				line = append(line, '"')
			}
			line = append(line, "} "...)
			line = strconv.AppendFloat(line, v, 'g', -1, 64)
			line = append(line, '\n')
			_, _ = w.Write(line)
		})
	}
}

// labelOrder is the indexes of labels sorted by name.
func labelOrder(labels []string) []int {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return order
}

// appendEscaped appends s escaped as the text format asks: backslash
// and newline always, the double quote in a label value.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
