package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
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
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, src, true)
}

// Parse validates src as if read from filename. It has no side effects and
// reads nothing from the host except its hostname (the default router_id).
func Parse(filename string, src []byte) (*Config, error) { return parse(filename, src, false) }

// parse is Parse, checking the host as well when host is set: the
// programs the file names must exist and be changeable by root alone,
// and script_user must be a user.
func parse(filename string, src []byte, host bool) (*Config, error) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	fail := func(d hcl.Diagnostics) error {
		sortDiags(d)
		return &DiagnosticsError{Diags: d, files: p.Files()}
	}
	if diags.HasErrors() {
		return nil, fail(diags)
	}
	var raw rawFile
	diags = append(diags, gohcl.DecodeBody(f.Body, nil, &raw)...)
	r := &resolver{host: host}
	cfg := r.file(&raw)
	diags = append(diags, r.diags...)
	if diags.HasErrors() {
		return nil, fail(diags)
	}
	sum := sha256.Sum256(src)
	cfg.Path = filename
	cfg.SHA256 = hex.EncodeToString(sum[:])
	sortDiags(diags)
	cfg.Warnings = diags
	if len(diags) > 0 {
		// Kept to print the warnings' snippets; without warnings the
		// syntax tree (large for large files) can go.
		cfg.files = p.Files()
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
