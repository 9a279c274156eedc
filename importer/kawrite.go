package importer

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// kaWriter turns a keepalived.conf tree into directord's HCL, counting
// what it carried over, approximated and dropped.
type kaWriter struct {
	f       *hclwrite.File
	sum     Summary
	scripts map[string]*Node // vrrp_script by name
	files   map[string]*Node // vrrp_track_file by name
	groups  map[string]*Node // virtual_server_group by name
	// instances are the vrrp_instance names.
	instances map[string]bool
	// syncd are sync daemons named inside instances.
	syncd   []*Node
	version int // global vrrp_version
}

// drop writes a comment for a keyword not carried over.
func (w *kaWriter) drop(b *hclwrite.Body, n *Node, why string) {
	w.sum.Dropped++
	comment(b, fmt.Sprintf("%s: %s dropped: %s", n.Where(), strings.TrimSpace(n.Key+" "+strings.Join(n.Args, " ")), why))
}

// approx writes a comment for a keyword carried over not quite as it was.
func (w *kaWriter) approx(b *hclwrite.Body, n *Node, how string) {
	w.sum.Approximated++
	comment(b, fmt.Sprintf("%s: %s: %s", n.Where(), n.Key, how))
}

// arg is the node's first word, or "".
func arg(n *Node) string {
	if len(n.Args) == 0 {
		return ""
	}
	return n.Args[0]
}

// intArg reads the first word as an integer.
func intArg(n *Node) (int, bool) {
	v, err := strconv.Atoi(arg(n))
	return v, err == nil
}

// seconds reads keepalived's seconds (maybe fractional) as a duration
// string: "1s", "100ms".
func seconds(n *Node) (string, bool) {
	f, err := strconv.ParseFloat(arg(n), 64)
	if err != nil || f < 0 {
		return "", false
	}
	return time.Duration(f * float64(time.Second)).String(), true
}

func setStr(b *hclwrite.Body, name, v string) { b.SetAttributeValue(name, cty.StringVal(v)) }
func setInt(b *hclwrite.Body, name string, v int) {
	b.SetAttributeValue(name, cty.NumberIntVal(int64(v)))
}
func setBool(b *hclwrite.Body, name string, v bool) { b.SetAttributeValue(name, cty.BoolVal(v)) }
func setList(b *hclwrite.Body, name string, vs []string) {
	var l []cty.Value
	for _, v := range vs {
		l = append(l, cty.StringVal(v))
	}
	if len(l) == 0 {
		b.SetAttributeValue(name, cty.ListValEmpty(cty.String))
		return
	}
	b.SetAttributeValue(name, cty.ListVal(l))
}

// argv splits a keepalived script line into words, quotes respected.
func argv(words []string) []string {
	if len(words) == 1 && strings.ContainsAny(words[0], " \t") {
		return splitWords(words[0])
	}
	return words
}

// setNum sets name from n's first word if it is an integer, else drops.
func (w *kaWriter) setNum(b *hclwrite.Body, name string, n *Node) {
	if v, ok := intArg(n); ok {
		setInt(b, name, v)
		return
	}
	w.drop(b, n, "not a number")
}

// setSecs sets name from n's first word as seconds, else drops.
func (w *kaWriter) setSecs(b *hclwrite.Body, name string, n *Node) {
	if d, ok := seconds(n); ok {
		setStr(b, name, d)
		return
	}
	w.drop(b, n, "not a number of seconds")
}

// addr reads an address, dropping n when it is not one.
func (w *kaWriter) addr(b *hclwrite.Body, n *Node, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		w.drop(b, n, fmt.Sprintf("%q is not an address", s))
		return netip.Addr{}, false
	}
	return a, true
}
