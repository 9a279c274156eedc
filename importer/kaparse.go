package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Node is one keepalived.conf keyword with its words and, for a block,
// its children.
type Node struct {
	Key      string
	Args     []string
	Children []*Node
	Block    bool
	File     string
	Line     int
}

// Where is "file:line".
func (n *Node) Where() string { return fmt.Sprintf("%s:%d", n.File, n.Line) }

// Child is the first child with key, or nil.
func (n *Node) Child(key string) *Node {
	for _, c := range n.Children {
		if c.Key == key {
			return c
		}
	}
	return nil
}

// KAOptions say how keepalived would have been run.
type KAOptions struct {
	// ConfigID is keepalived's -i: lines "@ID ..." apply when it is ID,
	// "@^ID ..." when it is not. Empty: every conditional line is
	// dropped with a note, as keepalived without -i would (its config
	// id is then the host name, unknown here).
	ConfigID string
}

// ParseKeepalived reads a keepalived.conf, following include (globs,
// relative to the including file), expanding $NAME parameters
// ($NAME=value lines, and multiline ones whose lines end in "\\") and
// applying conditional lines as keepalived does.
func ParseKeepalived(path string, opt KAOptions) (*Node, []Note, error) {
	p := &kaParser{opt: opt, params: map[string]string{}, seen: map[string]bool{}}
	root := &Node{Key: "", Block: true, File: path}
	var toks []token
	if err := p.read(path, &toks, 0); err != nil {
		return nil, nil, err
	}
	i := 0
	if err := p.build(root, toks, &i, true); err != nil {
		return nil, nil, err
	}
	return root, p.notes, nil
}

type token struct {
	word string
	file string
	line int
}

type kaParser struct {
	opt    KAOptions
	params map[string]string
	notes  []Note
	seen   map[string]bool
}

func (p *kaParser) note(file string, line int, dropped bool, format string, args ...any) {
	p.notes = append(p.notes, Note{Line: line, File: file, Dropped: dropped, Text: fmt.Sprintf(format, args...)})
}

// read tokenises one file into toks, following include.
func (p *kaParser) read(path string, toks *[]token, depth int) error {
	if depth > 8 {
		return fmt.Errorf("%s: include nested more than 8 deep", path)
	}
	abs, _ := filepath.Abs(path)
	if p.seen[abs] {
		return fmt.Errorf("%s: included twice (an include loop?)", path)
	}
	p.seen[abs] = true
	defer delete(p.seen, abs)
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(stripComment(sc.Text()))
		if line == "" {
			continue
		}
		if name, first, ok := multilineStart(line); ok {
			// "$NAME= \" and the lines that follow, each but the last
			// ending in "\": the value is those lines.
			body := []string{}
			if first != "" {
				body = append(body, first)
			}
			for more := true; more && sc.Scan(); {
				n++
				l := strings.TrimSpace(stripComment(sc.Text()))
				more = strings.HasSuffix(l, "\\")
				if l = strings.TrimSpace(strings.TrimSuffix(l, "\\")); l != "" {
					body = append(body, l)
				}
			}
			p.params[name] = strings.Join(body, "\n")
			continue
		}
		if err := p.line(path, n, line, toks, depth, 0); err != nil {
			return err
		}
	}
	return sc.Err()
}

// multilineStart reads "$NAME= \", the first line of a multiline
// parameter (keepalived wants nothing after the "=", but a first line of
// the value there is taken too).
func multilineStart(line string) (name, first string, ok bool) {
	if line[0] != '$' || !strings.HasSuffix(line, "\\") {
		return "", "", false
	}
	name, rest, ok := strings.Cut(line[1:], "=")
	if !ok || name == "" || strings.ContainsAny(name, " \t{}") {
		return "", "", false
	}
	return name, strings.TrimSpace(strings.TrimSuffix(rest, "\\")), true
}

// line reads one line of a file: a conditional, a parameter definition,
// an include, or words. A line whose parameters expand to several lines
// (a multiline parameter) reads each of those, nest deep.
func (p *kaParser) line(path string, n int, line string, toks *[]token, depth, nest int) error {
	if nest > 16 {
		return fmt.Errorf("%s:%d: parameters expand more than 16 deep (a parameter that uses itself?)", path, n)
	}
	if line[0] == '@' {
		var ok bool
		if line, ok = p.conditional(path, n, line); !ok {
			return nil
		}
	}
	if line[0] == '$' && strings.Contains(line, "=") && !strings.ContainsAny(strings.SplitN(line, "=", 2)[0], " \t") {
		kv := strings.SplitN(line[1:], "=", 2)
		p.params[kv[0]] = strings.TrimSpace(kv[1])
		return nil
	}
	expanded := p.expand(line)
	if expanded != line && strings.Contains(expanded, "$") && !strings.Contains(expanded, "\n") {
		// A value that uses other parameters.
		return p.line(path, n, expanded, toks, depth, nest+1)
	}
	line = expanded
	if strings.Contains(line, "\n") {
		for _, l := range strings.Split(line, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				if err := p.line(path, n, l, toks, depth, nest+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	words := splitWords(line)
	if len(words) >= 2 && words[0] == "include" {
		return p.include(path, n, words[1], toks, depth)
	}
	for _, w := range words {
		*toks = append(*toks, token{w, path, n})
	}
	*toks = append(*toks, token{"\n", path, n})
	return nil
}

func (p *kaParser) include(from string, line int, pattern string, toks *[]token, depth int) error {
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return fmt.Errorf("%s:%d: include %s: %w", from, line, pattern, err)
	}
	if len(files) == 0 {
		p.note(from, line, true, "include %s matches no file", pattern)
	}
	sort.Strings(files)
	for _, f := range files {
		if err := p.read(f, toks, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// conditional applies "@ID rest" and "@^ID rest".
func (p *kaParser) conditional(file string, n int, line string) (string, bool) {
	fields := strings.Fields(line[1:])
	if len(fields) == 0 {
		p.note(file, n, true, "a lone @ is no conditional")
		return "", false
	}
	id, rest := fields[0], strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line[1:]), fields[0]))
	neg := strings.HasPrefix(id, "^")
	id = strings.TrimPrefix(id, "^")
	if p.opt.ConfigID == "" {
		p.note(file, n, true, "conditional line for config id %q dropped: give --config-id to choose one", id)
		return "", false
	}
	if (id == p.opt.ConfigID) == neg || rest == "" {
		return "", false
	}
	return rest, true
}

// expand replaces $NAME and ${NAME} with the parameters defined so far,
// left to right; what a value brings in is not expanded here (line reads
// it again), so that a multiline value's own definitions and uses happen
// in its order. An unknown name stays as written.
func (p *kaParser) expand(line string) string {
	if !strings.Contains(line, "$") {
		return line
	}
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] != '$' {
			b.WriteByte(line[i])
			continue
		}
		rest := line[i+1:]
		if strings.HasPrefix(rest, "{") {
			if name, _, ok := strings.Cut(rest[1:], "}"); ok {
				if v, ok := p.params[name]; ok {
					b.WriteString(v)
					i += len(name) + 2
					continue
				}
			}
		} else if name := p.longestParam(rest); name != "" {
			b.WriteString(p.params[name])
			i += len(name)
			continue
		}
		b.WriteByte('$')
	}
	return b.String()
}

// longestParam is the longest defined name s starts with, so that $AB
// is not read as $A followed by B.
func (p *kaParser) longestParam(s string) string {
	best := ""
	for name := range p.params {
		if len(name) > len(best) && strings.HasPrefix(s, name) {
			best = name
		}
	}
	return best
}

// stripComment cuts a line at "#" or "!" outside quotes.
func stripComment(s string) string {
	inQ := false
	for i, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
		case !inQ && (r == '#' || r == '!'):
			return s[:i]
		}
	}
	return s
}

// splitWords splits on blanks, keeps "quoted words" whole (without the
// quotes) and makes { and } words of their own.
func splitWords(s string) []string {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	flush := func() {
		if have {
			out = append(out, cur.String())
			cur.Reset()
			have = false
		}
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			have = true
		case inQ:
			cur.WriteRune(r)
		case r == ' ' || r == '\t':
			flush()
		case r == '{' || r == '}':
			flush()
			out = append(out, string(r))
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	flush()
	return out
}

// build reads statements into parent until its closing brace.
func (p *kaParser) build(parent *Node, toks []token, i *int, top bool) error {
	for *i < len(toks) {
		t := toks[*i]
		switch t.word {
		case "\n":
			*i++
			continue
		case "}":
			*i++
			if top {
				p.note(t.file, t.line, true, "a } without its {")
				continue
			}
			return nil
		case "{":
			// A block without a keyword: keepalived's unnamed groups
			// (virtual_ipaddress members never open one); skip it.
			*i++
			anon := &Node{Key: "", Block: true, File: t.file, Line: t.line}
			if err := p.build(anon, toks, i, false); err != nil {
				return err
			}
			parent.Children = append(parent.Children, anon.Children...)
			continue
		}
		n := &Node{Key: t.word, File: t.file, Line: t.line}
		*i++
		for *i < len(toks) && toks[*i].word != "\n" && toks[*i].word != "{" && toks[*i].word != "}" {
			n.Args = append(n.Args, toks[*i].word)
			*i++
		}
		// "keyword args {" may put the brace on the next line.
		j := *i
		for j < len(toks) && toks[j].word == "\n" {
			j++
		}
		if j < len(toks) && toks[j].word == "{" {
			*i = j + 1
			n.Block = true
			if err := p.build(n, toks, i, false); err != nil {
				return err
			}
		}
		parent.Children = append(parent.Children, n)
	}
	if !top {
		p.note(parent.File, parent.Line, true, "block %s is not closed", parent.Key)
	}
	return nil
}
