package config

import (
	"fmt"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// streamSources are valid files streamFile takes: the examples, and
// generated ones with locals, large services and checks after reals.
func streamSources(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	files, _ := filepath.Glob("../examples/*/*.hcl")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = b
	}
	var many strings.Builder
	many.WriteString("locals {\n  port = 8080\n}\ndirector {\n  router_id = \"r\"\n}\n")
	for v := 0; v < 30; v++ {
		fmt.Fprintf(&many, "virtual_server \"v-%d\" {\n  address = \"10.0.%d.1\"\n  port = local.port\n  scheduler = \"wrr\"\n  forwarding = \"nat\"\n", v, v)
		many.WriteString("  health_check \"http\" {\n    path = \"/h\"\n    status = [\"200\", \"301-302\"]\n  }\n")
		for i := 0; i < 1+v; i++ {
			fmt.Fprintf(&many, "  real_server \"10.1.%d.%d\" {\n    weight = %d\n    port = %d\n  }\n", v, i+1, i, 80+i)
		}
		if v%3 == 0 {
			many.WriteString("  quorum = 1\n") // after the reals
		}
		many.WriteString("}\n")
	}
	out["generated"] = []byte(many.String())
	// Without attributes after reals, every large service is streamed.
	out["generated, in order"] = []byte(strings.ReplaceAll(many.String(), "  quorum = 1\n", ""))
	return out
}

// streamFile resolves a file as parseWhole does, in any piece size, or
// leaves it to parseWhole.
func TestStreamFileMatchesParseWhole(t *testing.T) {
	streamed := 0
	if streamFile(source{"g", streamSources(t)["generated, in order"]}, false, 200) == nil {
		t.Error("streamFile does not take the generated file in pieces of 200 bytes")
	}
	for name, src := range streamSources(t) {
		want, err := parseWhole(name, []source{{name, src}}, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, chunk := range []int{1, 200, 1000, parseChunk} {
			got := streamFile(source{name, src}, false, chunk)
			if got == nil {
				continue
			}
			streamed++
			got.Path, got.SHA256 = want.Path, want.SHA256
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, pieces of %d: streamFile gives\n%+v\nwant\n%+v", name, chunk, got, want)
			}
		}
	}
	if streamed < 10 {
		t.Errorf("streamFile took only %d of the files and piece sizes", streamed)
	}
}

// manyLocals defines x0 to x(n-1), one a line.
func manyLocals(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  x%d = %d\n", i, i)
	}
	return b.String()
}

// Where streamFile gives up, parse still reports as parseWhole does.
func TestStreamFileGivesUp(t *testing.T) {
	big := string(streamSources(t)["generated, in order"])
	for name, src := range map[string]string{
		"an error":             big + "virtual_server \"x\" {\n  port = \"http\"\n}\n",
		"a warning":            strings.Replace(big, "scheduler = \"wrr\"", "scheduler = \"wrr\"\n  announce = \"bgp\"", 1),
		"locals after":         big + "locals {\n  x = 1\n}\n",
		"large locals after":   big + "locals {\n" + manyLocals(50) + "  y = nosuchfunction(1)\n}\n",
		"a top-level dynamic":  big + "dynamic \"virtual_server\" {\n  for_each = {}\n  labels = [\"d\"]\n  content {}\n}\n",
		"a duplicate service":  big + big[strings.Index(big, "virtual_server \"v-3\""):],
		"duplicate reals":      strings.Replace(big, "\"10.1.5.2\" {\n    weight = 1\n    port = 81", "\"10.1.5.1\" {\n    weight = 1\n    port = 80", 1),
		"an unknown attribute": strings.Replace(big, "weight = 3", "wieght = 3", 1),
	} {
		if streamFile(source{"g.hcl", []byte(src)}, false, 200) != nil {
			t.Errorf("%s: streamFile took it", name)
		}
		_, err := Parse("g.hcl", []byte(src))
		_, want := parseWhole("g.hcl", []source{{"g.hcl", []byte(src)}}, false)
		if fmt.Sprint(err) != fmt.Sprint(want) {
			t.Errorf("%s: Parse = %v, want %v", name, err, want)
		}
	}
}

// Parsed in pieces, any file gives ParseConfig's tree and diagnostics,
// and a file streamFile takes resolves as parseWhole resolves it.
func FuzzStreamFile(f *testing.F) {
	for _, src := range streamSources(f) {
		f.Add(src)
	}
	for _, src := range splitSources() {
		f.Add([]byte(src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		want, wantDiags := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos)
		got, diags := parseFile(src, "f.hcl", 64)
		if !reflect.DeepEqual(diagStrings(diags), diagStrings(wantDiags)) {
			t.Fatalf("diagnostics %v, want %v", diags, wantDiags)
		}
		if !wantDiags.HasErrors() && !reflect.DeepEqual(got.Body, want.Body) {
			t.Fatalf("the trees differ")
		}
		cfg := streamFile(source{"f.hcl", src}, false, 64)
		if cfg == nil {
			return
		}
		whole, err := parseWhole("f.hcl", []source{{"f.hcl", src}}, false)
		if err != nil {
			t.Fatalf("streamFile took a file parseWhole refuses: %v", err)
		}
		cfg.Path, cfg.SHA256 = whole.Path, whole.SHA256
		if !reflect.DeepEqual(cfg, whole) {
			t.Fatalf("streamFile gives %+v, parseWhole %+v", cfg, whole)
		}
	})
}
