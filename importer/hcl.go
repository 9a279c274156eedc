package importer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Summary counts what an import carried over.
type Summary struct {
	Instances, Services, Reals, Checks, Dropped, Approximated int
}

func (s Summary) String() string {
	vrrp := ""
	if s.Instances > 0 {
		vrrp = fmt.Sprintf("%d VRRP instances, ", s.Instances)
	}
	checks := ""
	if s.Checks > 0 {
		checks = fmt.Sprintf(", %d checks", s.Checks)
	}
	return fmt.Sprintf("%s%d virtual services and %d real servers%s translated, %d approximated, %d dropped (see the comments)",
		vrrp, s.Services, s.Reals, checks, s.Approximated, s.Dropped)
}

func itoa(n int) string { return fmt.Sprint(n) }

// RenderIPVSAdm writes svcs as virtual_server blocks, each note as a
// comment in the block of the service whose lines it is about.
func RenderIPVSAdm(svcs []*Service, notes []Note) ([]byte, Summary) {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	sum := Summary{Services: len(svcs)}
	comment(body, fmt.Sprintf("Imported by `directord import ipvsadm` from `ipvsadm -Sn`: %d virtual services.", len(svcs)))
	comment(body, "ipvsadm has no health checks: add health_check blocks, or every real server is always up.")
	for _, s := range svcs {
		body.AppendNewline()
		vs := body.AppendNewBlock("virtual_server", []string{serviceName(s)}).Body()
		for _, n := range notes {
			if n.Line == s.Line || slices.ContainsFunc(s.Reals, func(r Real) bool { return r.Line == n.Line }) {
				comment(vs, fmt.Sprintf("line %d: %s", n.Line, n.Text))
				if n.Dropped {
					sum.Dropped++
				} else {
					sum.Approximated++
				}
			}
		}
		serviceAttrs(vs, s)
		fwd := mostCommonForwarding(s.Reals)
		vs.SetAttributeValue("forwarding", cty.StringVal(fwd))
		for _, r := range s.Reals {
			sum.Reals++
			rb := vs.AppendNewBlock("real_server", []string{r.Addr.Addr().String()}).Body()
			if r.Addr.Port() != 0 && (s.FWMark != 0 || r.Addr.Port() != s.Addr.Port()) {
				rb.SetAttributeValue("port", cty.NumberIntVal(int64(r.Addr.Port())))
			}
			rb.SetAttributeValue("weight", cty.NumberIntVal(int64(r.Weight)))
			if r.Forwarding != fwd {
				rb.SetAttributeValue("forwarding", cty.StringVal(r.Forwarding))
			}
			if r.Upper > 0 {
				rb.SetAttributeValue("upper_threshold", cty.NumberIntVal(int64(r.Upper)))
			}
			if r.Lower > 0 {
				rb.SetAttributeValue("lower_threshold", cty.NumberIntVal(int64(r.Lower)))
			}
		}
	}
	return withNewline(hclwrite.Format(f.Bytes())), sum
}

// withNewline ends b with a newline, as a file should.
func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

func serviceAttrs(vs *hclwrite.Body, s *Service) {
	if s.FWMark != 0 {
		vs.SetAttributeValue("fwmark", cty.NumberIntVal(int64(s.FWMark)))
		if s.IPv6 {
			vs.SetAttributeValue("family", cty.StringVal("inet6"))
		}
	} else {
		vs.SetAttributeValue("address", cty.StringVal(s.Addr.Addr().String()))
		vs.SetAttributeValue("port", cty.NumberIntVal(int64(s.Addr.Port())))
		vs.SetAttributeValue("protocol", cty.StringVal(s.Protocol))
	}
	vs.SetAttributeValue("scheduler", cty.StringVal(s.Sched))
	if len(s.Flags) > 0 {
		var flags []cty.Value
		for _, fl := range s.Flags {
			flags = append(flags, cty.StringVal(fl))
		}
		vs.SetAttributeValue("scheduler_flags", cty.ListVal(flags))
	}
	if s.Persistent {
		vs.SetAttributeValue("persistence_timeout", cty.StringVal(fmt.Sprintf("%ds", s.Timeout)))
		if m := s.Netmask; m != "" && m != "255.255.255.255" && m != "128" {
			vs.SetAttributeValue("persistence_netmask", cty.StringVal(m))
		}
	}
}

// serviceName names a service after what identifies it, as a label the
// CLI can take: "tcp_192_168_11_100_80", "fwmark_1".
func serviceName(s *Service) string {
	if s.FWMark != 0 {
		if s.IPv6 {
			return fmt.Sprintf("fwmark_%d_inet6", s.FWMark)
		}
		return fmt.Sprintf("fwmark_%d", s.FWMark)
	}
	addr := strings.Map(func(r rune) rune {
		if r == '.' || r == ':' {
			return '_'
		}
		return r
	}, s.Addr.Addr().String())
	return fmt.Sprintf("%s_%s_%d", s.Protocol, addr, s.Addr.Port())
}

// mostCommonForwarding is the service's forwarding: that of most of its
// reals (the first such on a tie), direct routing for none.
func mostCommonForwarding(reals []Real) string {
	count := map[string]int{}
	var order []string
	for _, r := range reals {
		if count[r.Forwarding] == 0 {
			order = append(order, r.Forwarding)
		}
		count[r.Forwarding]++
	}
	best, n := "dr", 0
	for _, f := range order {
		if count[f] > n {
			best, n = f, count[f]
		}
	}
	return best
}

func comment(b *hclwrite.Body, text string) {
	b.AppendUnstructuredTokens(hclwrite.Tokens{
		{Type: hclsyntax.TokenComment, Bytes: []byte("# " + text + "\n")},
	})
}
