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
		if name, first, ok := multilineStart(condRest(line)); ok {
			// "$NAME= \" and the lines that follow, each but the last
			// ending in "\" (blank ones skipped): the value is those
			// lines. A conditional before it keeps or drops it whole.
			body := p.multiline(sc, &n, first)
			if line[0] != '@' {
				p.params[name] = body
			} else if _, ok := p.conditional(path, n, line); ok {
				p.params[name] = body
			}
			continue
		}
		if err := p.line(path, n, line, toks, depth, 0); err != nil {
			return err
		}
	}
	return sc.Err()
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
	param := false // inside a ${NAME} left as written (undefined)
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
		case r == '{' && strings.HasSuffix(cur.String(), "$"), r == '}' && param:
			param = r == '{'
			cur.WriteRune(r)
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
