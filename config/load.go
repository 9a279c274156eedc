package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
)

// DefaultPath is where the daemon and every subcommand look for the
// configuration unless --config says otherwise.
const DefaultPath = "/etc/directord/directord.hcl"

// DiagnosticsError is returned when a file is not a valid configuration.
// It carries every problem found, not only the first, each with a source
// range.
type DiagnosticsError struct {
	Diags hcl.Diagnostics
	files map[string]*hcl.File
}

func (e *DiagnosticsError) Error() string {
	var b strings.Builder
	n := 0
	for _, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if n > 0 {
			b.WriteString("; ")
		}
		n++
		if d.Subject != nil {
			b.WriteString(position(d.Subject) + ": ")
		}
		b.WriteString(d.Summary)
	}
	return b.String()
}

// Write prints the diagnostics with file:line:col, the reason and the
// source snippet, using hcl's text writer.
func (e *DiagnosticsError) Write(w io.Writer, color bool) error {
	return WriteDiagnostics(w, e.files, e.Diags, color)
}

// WriteDiagnostics prints diags with hcl's text writer, prefixing each
// summary with its file:line:col so editors and terminals can jump to it.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) error {
	wr := hcl.NewDiagnosticTextWriter(w, files, 0, color)
	for _, d := range diags {
		dd := *d
		if d.Subject != nil {
			dd.Summary = position(d.Subject) + ": " + d.Summary
		}
		if err := wr.WriteDiagnostic(&dd); err != nil {
			return err
		}
	}
	return nil
}

func position(r *hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// Load reads and validates the file at path, and checks it against this
// host: every program it names (hooks, track scripts, exec checks) must
// exist and be changeable by root alone, and script_user must be a user.
// A file that cannot be read gives the os error; an invalid file gives a
// *DiagnosticsError.
//
// path may name a directory: every *.hcl file in it, in name order, is
// one configuration, as if the files were one (a name declared in two of
// them is a located error).
func Load(path string) (*Config, error) {
	srcs, err := read(path)
	if err != nil {
		return nil, err
	}
	return parse(path, srcs, true)
}

// Digest is the SHA-256 that Load would give the configuration at path
// (Config.SHA256), without decoding it: a reload of a file whose digest
// is the running one's has nothing to do. The configuration is a pure
// function of its bytes (no function reads the environment or a file).
func Digest(path string) (string, error) {
	srcs, err := read(path)
	if err != nil {
		return "", err
	}
	return digestOf(srcs), nil
}

func read(path string) ([]source, error) {
	names, err := Files(path)
	if err != nil {
		return nil, err
	}
	srcs := make([]source, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		srcs = append(srcs, source{n, b})
	}
	return srcs, nil
}

// digestOf is the configuration's SHA-256: a file's bytes, or for a
// directory each file's name, size and bytes.
func digestOf(srcs []source) string {
	digest := sha256.New()
	for _, s := range srcs {
		if len(srcs) > 1 {
			fmt.Fprintf(digest, "%s\x00%d\x00", s.name, len(s.src))
		}
		digest.Write(s.src)
	}
	return hex.EncodeToString(digest.Sum(nil))
}

// Files lists the files a configuration path stands for: the path itself,
// or every *.hcl file of a directory in name order.
func Files(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	names, err := filepath.Glob(filepath.Join(path, "*.hcl"))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("read config: directory %s has no *.hcl file", path)
	}
	sort.Strings(names)
	return names, nil
}

// source is one file's name and bytes.
type source struct {
	name string
	src  []byte
}

// Parse validates src as if read from filename. It has no side effects and
// reads nothing from the host except its hostname (the default router_id).
func Parse(filename string, src []byte) (*Config, error) {
	return parse(filename, []source{{filename, src}}, false)
}

// parse is Parse, checking the host as well when host is set: the
// programs the file names must exist and be changeable by root alone,
// and script_user must be a user.
func parse(path string, srcs []source, host bool) (*Config, error) {
	if len(srcs) == 1 {
		if cfg := streamFile(srcs[0], host, parseChunk); cfg != nil {
			cfg.Path, cfg.SHA256 = path, digestOf(srcs)
			return cfg, nil
		}
	}
	return parseWhole(path, srcs, host)
}

// parseWhole is parse without streamFile's fast path: every file's whole
// syntax tree, then one decoding, then one resolution.
func parseWhole(path string, srcs []source, host bool) (*Config, error) {
	var (
		diags  hcl.Diagnostics
		files  []*hcl.File
		byName = map[string]*hcl.File{}
	)
	for _, s := range srcs {
		f, d := parseFile(s.src, s.name, parseChunk)
		diags = append(diags, d...)
		files = append(files, f)
		byName[s.name] = f
	}
	fail := func(d hcl.Diagnostics) error {
		sortDiags(d)
		return &DiagnosticsError{Diags: d, files: byName}
	}
	if diags.HasErrors() {
		return nil, fail(diags)
	}
	body := files[0].Body
	if len(files) > 1 {
		body = hcl.MergeFiles(files)
	}
	// locals and functions first, then dynamic blocks expanded with
	// them: every expression below is evaluated in that context, and
	// its diagnostics still point into the file.
	ctx, d := evalContext(body)
	diags = append(diags, d...)
	var raw rawFile
	diags = append(diags, decodeFile(dynblock.Expand(body, ctx), ctx, &raw)...)
	r := &resolver{host: host}
	cfg := r.file(&raw, nil)
	diags = dropCascades(diags, r.diags)
	if diags.HasErrors() {
		return nil, fail(diags)
	}
	cfg.Path = path
	cfg.SHA256 = digestOf(srcs)
	sortDiags(diags)
	cfg.Warnings = diags
	if len(diags) > 0 {
		// Kept to print the warnings' snippets; without warnings the
		// syntax tree (large for large files) can go.
		cfg.files = byName
	}
	return cfg, nil
}

// sortDiags orders diagnostics by position: gohcl decodes attributes in map
// order, and a stable order makes output readable and testable.
func sortDiags(d hcl.Diagnostics) {
	sort.SliceStable(d, func(i, j int) bool {
		a, b := d[i].Subject, d[j].Subject
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
}

// dropCascades joins the decoder's diagnostics and the resolver's, without
// the ones that only repeat an expression's error: gohcl's "Unsuitable
// value type" for a value whose evaluation already failed, and the
// resolver's complaint about the zero value left in its place.
func dropCascades(decoded, resolved hcl.Diagnostics) hcl.Diagnostics {
	var causes []*hcl.Range
	for _, d := range decoded {
		if d.Severity == hcl.DiagError && d.Subject != nil && d.Summary != "Unsuitable value type" {
			causes = append(causes, d.Subject)
		}
	}
	repeats := func(d *hcl.Diagnostic) bool {
		if d.Severity != hcl.DiagError || d.Subject == nil {
			return false
		}
		for _, c := range causes {
			if c != d.Subject && d.Subject.Overlaps(*c) {
				return true
			}
		}
		return false
	}
	var out hcl.Diagnostics
	for _, d := range decoded {
		if !(d.Summary == "Unsuitable value type" && repeats(d)) {
			out = append(out, d)
		}
	}
	for _, d := range resolved {
		if !repeats(d) {
			out = append(out, d)
		}
	}
	return out
}
