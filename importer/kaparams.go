package importer

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// keepalived's parameters (keepalived.conf(5), "Parameter substitution",
// "Pre-defined definitions", "Sequence blocks"):
//   - $NAME=VALUE defines; a value whose lines end in "\" is multiline;
//   - ${NAME} is replaced anywhere, $NAME only when whitespace or the end
//     of the line follows it; an undefined one stays as written;
//   - replacement is recursive and happens where the parameter is used;
//     what it produces is read again, conditionals and all;
//   - ${_PWD}, ${_INSTANCE}, ${_HASH} and ${_BANG} are pre-defined;
//   - "~SEQ(VAR, START, STEP, END) rest" reads rest once per value.

// multilineStart reads "$NAME= \", the first line of a multiline
// parameter (keepalived wants nothing after the "=", but a first line of
// the value there is taken too).
func multilineStart(line string) (name, first string, ok bool) {
	if line == "" || line[0] != '$' || !strings.HasSuffix(line, "\\") {
		return "", "", false
	}
	name, rest, ok := strings.Cut(line[1:], "=")
	if !ok || !isParamName(name) {
		return "", "", false
	}
	return name, strings.TrimSpace(strings.TrimSuffix(rest, "\\")), true
}

// multiline reads the rest of a multiline definition: up to the first
// non-blank line that does not end in "\".
func (p *kaParser) multiline(sc *bufio.Scanner, n *int, first string) string {
	body := []string{}
	if first != "" {
		body = append(body, first)
	}
	for sc.Scan() {
		*n++
		l := strings.TrimSpace(stripComment(sc.Text()))
		if l == "" {
			continue
		}
		more := strings.HasSuffix(l, "\\")
		if l = strings.TrimSpace(strings.TrimSuffix(l, "\\")); l != "" {
			body = append(body, l)
		}
		if !more {
			break
		}
	}
	return strings.Join(body, "\n")
}

// condRest is a line without its "@ID " or "@^ID " guard.
func condRest(line string) string {
	if line == "" || line[0] != '@' {
		return line
	}
	f := strings.Fields(line[1:])
	if len(f) == 0 {
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line[1:]), f[0]))
}

// line reads one line of a file: a conditional, a parameter definition,
// a sequence, an include, or words. A line its parameters change is read
// again (nest deep), one line at a time if they made several.
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
	if name, value, ok := strings.Cut(line[1:], "="); line[0] == '$' && ok && isParamName(name) {
		p.params[name] = strings.TrimSpace(value)
		return nil
	}
	if strings.HasPrefix(line, "~SEQ") {
		return p.sequence(path, n, line, toks, depth, nest)
	}
	if expanded := p.expand(path, line); expanded != line {
		for _, l := range strings.Split(expanded, "\n") {
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

// expand replaces the parameters of one line, left to right; what a value
// brings in is expanded when line reads the result again.
func (p *kaParser) expand(path, line string) string {
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
				if v, ok := p.value(path, name); ok {
					b.WriteString(v)
					i += len(name) + 2
					continue
				}
			}
		} else if name := paramPrefix(rest); name != "" {
			after := rest[len(name):]
			if v, ok := p.value(path, name); ok && (after == "" || after[0] == ' ' || after[0] == '\t') {
				b.WriteString(v)
				i += len(name)
				continue
			}
		}
		b.WriteByte('$')
	}
	return b.String()
}

// value is a parameter's value, the pre-defined ones included.
func (p *kaParser) value(path, name string) (string, bool) {
	switch name {
	case "_PWD":
		abs, err := filepath.Abs(path)
		return filepath.Dir(abs), err == nil
	case "_INSTANCE":
		// keepalived's default, the host name, is not this machine's.
		return p.opt.ConfigID, p.opt.ConfigID != ""
	case "_HASH":
		return "#", true
	case "_BANG":
		return "!", true
	}
	v, ok := p.params[name]
	return v, ok
}

// sequence reads "~SEQ(VAR, [START, [STEP,]] END) rest" (or ~SEQx, the
// values in hexadecimal) as rest once for each value of VAR.
func (p *kaParser) sequence(path string, n int, line string, toks *[]token, depth, nest int) error {
	hex := strings.HasPrefix(line, "~SEQx(")
	open := strings.IndexByte(line, '(')
	inside, rest, ok := strings.Cut(line[open+1:], ")")
	if open < 0 || !ok {
		return fmt.Errorf("%s:%d: %q: a sequence is ~SEQ(VAR, START, STEP, END)", path, n, line)
	}
	args := strings.Split(inside, ",")
	name := strings.TrimSpace(args[0])
	var nums []int64
	for _, a := range args[1:] {
		v, err := strconv.ParseInt(strings.TrimSpace(a), 0, 64)
		if err != nil {
			return fmt.Errorf("%s:%d: ~SEQ: %q is not a number", path, n, strings.TrimSpace(a))
		}
		nums = append(nums, v)
	}
	if !isParamName(name) || len(nums) < 1 || len(nums) > 3 {
		return fmt.Errorf("%s:%d: %q: a sequence is ~SEQ(VAR, START, STEP, END)", path, n, line)
	}
	end := nums[len(nums)-1]
	start := map[bool]int64{true: 1, false: -1}[end > 0]
	if len(nums) > 1 {
		start = nums[0]
	}
	step := map[bool]int64{true: 1, false: -1}[end >= start]
	if len(nums) == 3 {
		step = nums[1]
	}
	if step == 0 || (end-start)/step > 65535 {
		return fmt.Errorf("%s:%d: ~SEQ from %d to %d by %d: at most 65,536 values", path, n, start, end, step)
	}
	rest = strings.TrimSpace(rest)
	for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
		p.params[name] = strconv.FormatInt(v, map[bool]int{true: 16, false: 10}[hex])
		if rest != "" {
			if err := p.line(path, n, rest, toks, depth, nest+1); err != nil {
				return err
			}
		}
	}
	delete(p.params, name)
	return nil
}

// paramPrefix is the parameter name s starts with: letters, digits and
// "_", not starting with a digit.
func paramPrefix(s string) string {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	return s[:i]
}

func isParamName(s string) bool { return s != "" && paramPrefix(s) == s }
