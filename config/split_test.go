package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// splitSources are files parseFile cuts, and files it must not cut.
func splitSources() map[string]string {
	var many, big strings.Builder
	for v := 0; v < 40; v++ {
		fmt.Fprintf(&many, "# service %d\nvirtual_server \"v-%d\" {\n  address = \"10.0.0.%d\"\n  port = 80\n", v, v, v+1)
		many.WriteString("  health_check \"http\" {\n    path = \"/h?x=${\"{\"}\" # a comment with \" and {\n    status = [\"200\", \"301-302\"]\n  }\n")
		for i := 0; i < 5; i++ {
			fmt.Fprintf(&many, "  real_server \"10.1.%d.%d\" {\n    weight = %d\n    /* a { block\n comment */\n  }\n", v, i, i)
		}
		many.WriteString("}\n\n")
	}
	big.WriteString("locals {\n  w = 3\n}\nvirtual_server \"one\" {\n  address = \"10.0.0.1\"\n  port    = 80\n  scheduler = \"wrr\" // why\n\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&big, "  real_server \"10.2.%d.%d\" {\n    weight = local.w + %d\n  }\n", i/250, i%250, i)
	}
	big.WriteString("  health_check \"tcp\" {}\n  }\nvirtual_server \"two\" { address = \"10.0.0.2\" }\n")
	return map[string]string{
		"many services":     many.String(),
		"one large service": big.String(),
		"heredoc":           many.String() + "locals {\n  x = <<EOT\n}\nEOT\n}\n",
		"no final newline":  strings.TrimRight(many.String(), "\n"),
		"syntax error":      many.String() + "virtual_server \"x\" {\n  port = \n}\n",
		"unclosed block":    big.String() + "virtual_server \"x\" {\n",
		"duplicate":         "virtual_server \"one\" {\n" + strings.Repeat("  port = 1\n", 3) + "}\n",
	}
}

// parseFile gives the tree ParseConfig gives, in every piece size, and
// the same diagnostics.
func TestParseFileMatchesParseConfig(t *testing.T) {
	for name, src := range splitSources() {
		want, wantDiags := hclsyntax.ParseConfig([]byte(src), "s.hcl", hcl.InitialPos)
		for _, chunk := range []int{1, 100, 1000, 4096, parseChunk} {
			got, diags := parseFile([]byte(src), "s.hcl", chunk)
			_, pieces := splitFile([]byte(src), "s.hcl", chunk)
			if cut := name == "many services" || name == "one large service"; cut != (pieces > 1) && chunk < len(src) {
				t.Errorf("%s, pieces of %d: parsed in %d pieces", name, chunk, pieces)
			}
			if !reflect.DeepEqual(diagStrings(diags), diagStrings(wantDiags)) {
				t.Errorf("%s, pieces of %d: diagnostics %v, want %v", name, chunk, diags, wantDiags)
			}
			if !reflect.DeepEqual(got.Body, want.Body) {
				t.Errorf("%s, pieces of %d: the trees differ", name, chunk)
				gb, wb := got.Body.(*hclsyntax.Body), want.Body.(*hclsyntax.Body)
				t.Logf("ranges %v %v / %v %v", gb.SrcRange, gb.EndRange, wb.SrcRange, wb.EndRange)
				for i := range wb.Blocks {
					if i < len(gb.Blocks) && !reflect.DeepEqual(gb.Blocks[i], wb.Blocks[i]) {
						t.Logf("block %d: %+v\nwant %+v", i, *gb.Blocks[i], *wb.Blocks[i])
						break
					}
				}
			}
			for _, off := range []int{0, len(src) / 3, len(src) / 2, len(src) - 2} {
				if g, w := got.Nav.(interface{ ContextString(int) string }).ContextString(off),
					want.Nav.(interface{ ContextString(int) string }).ContextString(off); g != w {
					t.Errorf("%s: context at %d is %q, want %q", name, off, g, w)
				}
			}
		}
	}
}

// The scanner cuts at the newlines between items, not inside strings,
// templates or comments.
func TestScanItems(t *testing.T) {
	src := "a \"x\" {\n  s = \"}\\\"${\"\\n}\"}\"\n  # }\n  /* }\n */\n}\nb = [\n  1,\n]\n"
	items, ok := scanItems([]byte(src))
	if !ok || len(items) != 2 {
		t.Fatalf("scanItems = %v, %v; want two items", items, ok)
	}
	if got := src[items[0].start:items[0].end]; !strings.HasSuffix(got, "*/\n}\n") {
		t.Errorf("first item %q", got)
	}
	if len(items[0].inner) != 4 || items[1].open >= 0 {
		t.Errorf("items %+v", items)
	}
	for _, bad := range []string{"a = \"x\n", "a = <<EOT\nx\nEOT\n", "a {\n", "a }\n", "a = 1"} {
		if _, ok := scanItems([]byte(bad)); ok {
			t.Errorf("scanItems(%q) is sure of itself", bad)
		}
	}
}
