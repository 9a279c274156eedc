package config

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// parseChunk is the size of the pieces parseFile parses a file in: small
// pieces keep the token arrays small (4 KB allocated a quarter less than
// 64 KB at 10,000 reals, in less time).
const parseChunk = 4 << 10

// parseFile parses src as hclsyntax.ParseConfig does, giving the same
// syntax tree, but in pieces of about chunk bytes: hclsyntax lexes a whole
// file into tokens before parsing it (96 bytes a token, a few tokens a
// word), and at 10,000 real servers that token array, with its copies as
// it grows, was the largest part of the peak memory. A piece is whole
// top-level items, or whole items of one large block's body (a
// virtual_server with thousands of reals), cut at newlines found by a
// small scanner of HCL's strings, comments and brackets, each parsed with
// its own start position. Anything the scanner is not sure of (a heredoc,
// a block it cannot cut cleanly) and any piece with a diagnostic sends the
// whole file to ParseConfig, so errors are reported exactly as before.
func parseFile(src []byte, filename string, chunk int) (*hcl.File, hcl.Diagnostics) {
	if f, _ := splitFile(src, filename, chunk); f != nil {
		return f, nil
	}
	return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
}

// splitFile is parseFile's cutting: the file and the number of pieces it
// was parsed in, or nil when it is not sure of the cuts or a piece has a
// diagnostic.
func splitFile(src []byte, filename string, chunk int) (*hcl.File, int) {
	if len(src) <= chunk || src[len(src)-1] != '\n' {
		return nil, 0
	}
	items, ok := scanItems(src)
	if !ok {
		return nil, 0
	}
	s := newSplitter(src, filename)
	if !s.walk(items, chunk, s.piece, func(it item) bool { return s.bigBlock(it, chunk) }) {
		return nil, 0
	}
	eof := s.pos(len(src))
	s.top.SrcRange = hcl.Range{Filename: filename, Start: s.first, End: eof}
	s.top.EndRange = hcl.Range{Filename: filename, Start: eof, End: eof}
	return &hcl.File{Body: s.top, Bytes: src, Nav: navigation{s.top}}, s.pieces
}

// item is one top-level item of a file: [start, end) up to and with the
// newline that ends it. For a block, open and close are its braces, and
// inner the offsets just after each newline directly inside its body.
type item struct {
	start, end  int
	open, close int
	inner       []int
}

// scanItems cuts src into top-level items. It is false for anything it
// does not follow: a heredoc, a newline inside a string, an unclosed
// bracket, string or comment, or a file not ending with a newline.
func scanItems(src []byte) ([]item, bool) {
	var items []item
	cur := item{open: -1, close: -1}
	depth := 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '#' || c == '/' && at(src, i+1) == '/':
			j := bytes.IndexByte(src[i:], '\n')
			if j < 0 {
				return nil, false
			}
			i += j - 1 // the newline is looked at next
		case c == '/' && at(src, i+1) == '*':
			j := bytes.Index(src[i+2:], []byte("*/"))
			if j < 0 {
				return nil, false
			}
			i += 2 + j + 1
		case c == '<' && at(src, i+1) == '<':
			return nil, false
		case c == '"':
			j, ok := skipString(src, i)
			if !ok {
				return nil, false
			}
			i = j
		case c == '{' || c == '[' || c == '(':
			if depth == 0 && c == '{' && cur.open < 0 {
				cur.open = i
			}
			depth++
		case c == '}' || c == ']' || c == ')':
			depth--
			if depth < 0 {
				return nil, false
			}
			if depth == 0 && c == '}' && cur.close < 0 {
				cur.close = i
			}
		case c == '\n' && depth == 0:
			cur.end = i + 1
			items = append(items, cur)
			cur = item{start: i + 1, open: -1, close: -1}
		case c == '\n' && depth == 1 && cur.open >= 0 && cur.close < 0:
			cur.inner = append(cur.inner, i+1)
		}
	}
	return items, depth == 0 && cur.start == len(src)
}

func at(src []byte, i int) byte {
	if i < len(src) {
		return src[i]
	}
	return 0
}

// skipString returns the offset of the quote that closes the string
// opening at i, skipping escapes and ${ } and %{ } templates.
func skipString(src []byte, i int) (int, bool) {
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; {
		case c == '\\':
			j++
		case c == '\n':
			return 0, false
		case c == '"':
			return j, true
		case (c == '$' || c == '%') && at(src, j+1) == c && at(src, j+2) == '{':
			j += 2 // $${ and %%{ are literal
		case (c == '$' || c == '%') && at(src, j+1) == '{':
			k, ok := skipTemplate(src, j+2)
			if !ok {
				return 0, false
			}
			j = k
		}
	}
	return 0, false
}

// skipTemplate returns the offset of the brace that closes a template
// expression starting at i. It gives up on what a one-line expression in
// a configuration does not need: newlines, comments, heredocs.
func skipTemplate(src []byte, i int) (int, bool) {
	depth := 0
	for j := i; j < len(src); j++ {
		switch c := src[j]; c {
		case '"':
			k, ok := skipString(src, j)
			if !ok {
				return 0, false
			}
			j = k
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return j, true
			}
			depth--
		case '\n', '#', '/', '<':
			return 0, false
		}
	}
	return 0, false
}

// blockHeader is a block header the splitter cuts after: a type and
// plain quoted labels, then the brace and the end of the line.
var blockHeader = regexp.MustCompile(`^[ \t\r\n]*[A-Za-z_][A-Za-z0-9_-]*([ \t]+"[^"\\$%\n]*")*[ \t]*\{[ \t\r]*\n$`)

func newSplitter(src []byte, filename string) *splitter {
	return &splitter{src: src, filename: filename, top: &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, Blocks: hclsyntax.Blocks{}}}
}

// walk groups items into pieces of about chunk bytes for piece, and gives
// big a large block it can cut; false as soon as either is.
func (s *splitter) walk(items []item, chunk int, piece func(a, b int) bool, big func(item) bool) bool {
	start := 0
	for i, it := range items {
		ok := true
		if it.end-it.start >= chunk && s.cuttable(it) {
			ok = piece(start, it.start) && big(it)
			start = it.end
		} else if it.end-start >= chunk || i == len(items)-1 {
			ok = piece(start, it.end)
			start = it.end
		}
		if !ok {
			return false
		}
	}
	return piece(start, len(s.src))
}

// splitter assembles the pieces' syntax trees into one.
type splitter struct {
	src      []byte
	filename string
	top      *hclsyntax.Body
	// first is the start of the file's first token, where ParseConfig's
	// body starts.
	first hcl.Pos
	begun bool
	// pieces counts the parses.
	pieces int
	// line counts the newlines before offset lineAt.
	line, lineAt int
}

// pos is the position of offset i, the start of a line (or of the file).
func (s *splitter) pos(i int) hcl.Pos {
	if i < s.lineAt {
		s.line, s.lineAt = 0, 0
	}
	s.line += bytes.Count(s.src[s.lineAt:i], []byte("\n"))
	s.lineAt = i
	return hcl.Pos{Line: s.line + 1, Column: 1, Byte: i}
}

// parse parses src[a:b] on its own; false when it has any diagnostic.
func (s *splitter) parse(a, b int) (*hclsyntax.Body, bool) {
	s.pieces++
	f, diags := hclsyntax.ParseConfig(s.src[a:b], s.filename, s.pos(a))
	if len(diags) > 0 {
		return nil, false
	}
	body := f.Body.(*hclsyntax.Body)
	if !s.begun {
		s.first, s.begun = body.SrcRange.Start, true
	}
	return body, true
}

// piece parses top-level items [a, b) into the file's body.
func (s *splitter) piece(a, b int) bool {
	if a == b {
		return true
	}
	body, ok := s.parse(a, b)
	return ok && merge(s.top, body)
}

// merge adds from's items to into; false for an attribute both have
// (ParseConfig's error).
func merge(into, from *hclsyntax.Body) bool {
	for name, a := range from.Attributes {
		if into.Attributes[name] != nil {
			return false
		}
		into.Attributes[name] = a
	}
	into.Blocks = append(into.Blocks, from.Blocks...)
	return true
}

// cuttable reports whether a large item is a block whose body the
// splitter can parse in pieces: a plain header ending its line, and the
// closing brace alone on the last line.
func (s *splitter) cuttable(it item) bool {
	if it.open < 0 || it.close < 0 || len(it.inner) < 2 {
		return false
	}
	lastLine := it.inner[len(it.inner)-1]
	if !blockHeader.Match(s.src[it.start:it.inner[0]]) || it.inner[0] <= it.open {
		return false
	}
	return len(bytes.Trim(s.src[lastLine:it.close], " \t")) == 0 &&
		len(bytes.Trim(s.src[it.close+1:it.end], " \t\r\n")) == 0
}

// bigBlock parses a large block: its header (with an empty body, whose
// ranges are then set to the real one's), then its body's items in
// pieces of about chunk bytes.
func (s *splitter) bigBlock(it item, chunk int) bool {
	blk := s.head(it)
	if blk == nil {
		return false
	}
	ok := s.bodyPieces(it, chunk, func(body *hclsyntax.Body) bool { return merge(blk.Body, body) })
	if !ok {
		return false
	}
	s.closeBlock(blk, it)
	s.top.Blocks = append(s.top.Blocks, blk)
	return true
}

// head parses a large block's header, with an empty body; nil when it
// has a diagnostic.
func (s *splitter) head(it item) *hclsyntax.Block {
	head := append(append([]byte(nil), s.src[it.start:it.inner[0]]...), '}', '\n')
	s.pieces++
	f, diags := hclsyntax.ParseConfig(head, s.filename, s.pos(it.start))
	if len(diags) > 0 || len(f.Body.(*hclsyntax.Body).Blocks) != 1 {
		return nil
	}
	if !s.begun {
		s.first, s.begun = f.Body.(*hclsyntax.Body).SrcRange.Start, true
	}
	blk := f.Body.(*hclsyntax.Body).Blocks[0]
	blk.Body = &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, Blocks: hclsyntax.Blocks{}}
	return blk
}

// bodyPieces parses a large block's body in pieces of about chunk bytes,
// in order, for each.
func (s *splitter) bodyPieces(it item, chunk int, each func(*hclsyntax.Body) bool) bool {
	start := it.inner[0]
	last := it.inner[len(it.inner)-1]
	for _, cut := range it.inner[1:] {
		if cut-start >= chunk || cut == last {
			body, ok := s.parse(start, cut)
			if !ok || !each(body) {
				return false
			}
			start = cut
		}
	}
	return true
}

// closeBlock gives a large block the ranges of its closing brace.
func (s *splitter) closeBlock(blk *hclsyntax.Block, it item) {
	last := it.inner[len(it.inner)-1]
	closeAt := s.pos(last)
	closeAt.Column += it.close - last
	closeAt.Byte = it.close
	end := hcl.Pos{Line: closeAt.Line, Column: closeAt.Column + 1, Byte: it.close + 1}
	blk.CloseBraceRange = hcl.Range{Filename: s.filename, Start: closeAt, End: end}
	blk.Body.SrcRange = hcl.RangeBetween(blk.OpenBraceRange, blk.CloseBraceRange)
	blk.Body.EndRange = hcl.Range{Filename: s.filename, Start: end, End: end}
}

// navigation is hclsyntax's own for a file it parses (which it does not
// export): where a diagnostic's snippet says which block it is in.
type navigation struct{ root *hclsyntax.Body }

func (n navigation) block(offset int) *hclsyntax.Block {
	for _, b := range n.root.Blocks {
		if b.Range().ContainsOffset(offset) {
			return b
		}
	}
	return nil
}

func (n navigation) ContextString(offset int) string {
	b := n.block(offset)
	if b == nil {
		return ""
	}
	var s bytes.Buffer
	s.WriteString(b.Type)
	for _, l := range b.Labels {
		fmt.Fprintf(&s, " %q", l)
	}
	return s.String()
}

func (n navigation) ContextDefRange(offset int) hcl.Range {
	if b := n.block(offset); b != nil {
		return b.DefRange()
	}
	return hcl.Range{}
}
