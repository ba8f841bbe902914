package spec

import (
	"fmt"
	"strconv"
	"strings"
)

// SyntaxError reports what is wrong with a probe point and where.
//
// Col is the 1-based byte column in Input, so a caller can print Input with a
// caret under the offending character (see Caret).
type SyntaxError struct {
	Input string
	Col   int
	Msg   string
}

// Error returns one line: the column and what was expected or wrong there.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("probe point: column %d: %s", e.Col, e.Msg)
}

// Caret returns two lines: the input and a caret under column Col. Terminals
// show it under the error line so the user sees the spot without counting.
func (e *SyntaxError) Caret() string {
	col := e.Col
	if col < 1 {
		col = 1
	}
	return e.Input + "\n" + strings.Repeat(" ", col-1) + "^"
}

// maxLine bounds line numbers: no source file has more lines, and the bound
// keeps arithmetic on From/To far from overflow.
const maxLine = 1<<31 - 1

// parser walks the input byte by byte; pos is a 0-based byte offset.
type parser struct {
	in  string
	pos int
}

// Parse parses a SystemTap probe point such as
//
//	process("/bin/prog").function("main@prog.c:10-20").return
//
// It is strict: whitespace outside strings, unknown parts and suffixes that
// stap would reject are errors, and every error is a *SyntaxError.
func Parse(s string) (*Spec, error) {
	p := &parser{in: s}
	sp := &Spec{}
	if err := p.target(sp); err != nil {
		return nil, err
	}
	if err := p.point(sp); err != nil {
		return nil, err
	}
	if err := p.suffix(sp); err != nil {
		return nil, err
	}
	return sp, nil
}

// errAt builds a SyntaxError at 0-based byte offset off.
func (p *parser) errAt(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Input: p.in, Col: off + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.in) }

// describe names the byte at off for an error message.
func (p *parser) describe(off int) string {
	if off >= len(p.in) {
		return "end of input"
	}
	c := p.in[off]
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
		return "whitespace (not allowed in a probe point outside strings)"
	case c < 0x20 || c >= 0x7f:
		return fmt.Sprintf("byte %#02x", c)
	default:
		return strconv.Quote(string(c))
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// word consumes an identifier and returns it with its start offset; the
// word is empty when the next byte cannot start one.
func (p *parser) word() (string, int) {
	start := p.pos
	for !p.eof() && isWordByte(p.in[p.pos]) {
		p.pos++
	}
	return p.in[start:p.pos], start
}

// expect consumes byte c or fails; why says where c belongs.
func (p *parser) expect(c byte, why string) error {
	if p.eof() || p.in[p.pos] != c {
		return p.errAt(p.pos, "expected %q %s, found %s", string(c), why, p.describe(p.pos))
	}
	p.pos++
	return nil
}

func (p *parser) target(sp *Spec) error {
	w, start := p.word()
	switch w {
	case "process", "module":
		if w == "process" {
			sp.Target = Process
		} else {
			sp.Target = Module
		}
		if p.eof() || p.in[p.pos] != '(' {
			what := "PATH"
			if w == "module" {
				what = "NAME"
			}
			return p.errAt(p.pos, `%s needs a quoted argument: %s("%s"), found %s`, w, w, what, p.describe(p.pos))
		}
		p.pos++
		arg, col, err := p.str(w + "(")
		if err != nil {
			return err
		}
		if arg.s == "" {
			return p.errAt(col, "empty %s name in %s(\"\")", map[string]string{"process": "path", "module": "module"}[w], w)
		}
		sp.Path, sp.PathCol = arg.s, col+2
		return p.expect(')', `to close "`+w+`("`)
	case "kernel":
		sp.Target = Kernel
		return nil
	case "":
		return p.errAt(start, `expected "process", "kernel" or "module", found %s`, p.describe(start))
	default:
		return p.errAt(start, `expected "process", "kernel" or "module", found %q`, w)
	}
}

// targetText is how error messages name the target already parsed.
func targetText(sp *Spec) string {
	switch sp.Target {
	case Process:
		return "process(...)"
	case Module:
		return "module(...)"
	default:
		return "kernel"
	}
}

func (p *parser) point(sp *Spec) error {
	if p.eof() || p.in[p.pos] != '.' {
		return p.errAt(p.pos, `expected ".function" or ".statement" after %q, found %s`, targetText(sp), p.describe(p.pos))
	}
	p.pos++
	w, start := p.word()
	switch w {
	case "function":
		sp.Point = Function
	case "statement":
		sp.Point = Statement
	case "":
		return p.errAt(start, `expected "function" or "statement" after %q, found %s`, targetText(sp)+".", p.describe(start))
	default:
		return p.errAt(start, `expected "function" or "statement" after %q, found %q`, targetText(sp)+".", w)
	}
	if err := p.expect('(', `after "`+w+`"`); err != nil {
		return err
	}
	pat, col, err := p.str(w + "(")
	if err != nil {
		return err
	}
	if err := p.pattern(sp, pat, col); err != nil {
		return err
	}
	return p.expect(')', `to close "`+w+`("`)
}

func (p *parser) suffix(sp *Spec) error {
	if p.eof() {
		return nil
	}
	pointText := `".function(...)"`
	if sp.Point == Statement {
		pointText = `".statement(...)"`
	}
	if p.in[p.pos] != '.' {
		return p.errAt(p.pos, "unexpected %s after %s", p.describe(p.pos), pointText)
	}
	p.pos++
	w, start := p.word()
	if sp.Point == Statement {
		if w == "" {
			return p.errAt(start, "statement probes take no suffix, found %s", p.describe(start))
		}
		return p.errAt(start, `statement probes take no suffix: ".%s" is only valid after ".function(...)"`, w)
	}
	switch w {
	case "call":
		sp.Suffix = Call
	case "return":
		sp.Suffix = Return
	case "inline":
		sp.Suffix = Inline
	case "":
		return p.errAt(start, `expected "call", "return" or "inline" after ".function(...).", found %s`, p.describe(start))
	default:
		return p.errAt(start, `expected "call", "return" or "inline" after ".function(...).", found %q`, w)
	}
	if !p.eof() {
		return p.errAt(p.pos, "unexpected %s after %q", p.describe(p.pos), "."+w)
	}
	return nil
}

// quoted is the contents of a string literal after unescaping, with the
// 0-based input offset of every byte so errors inside patterns point into
// the input even past escape sequences.
type quoted struct {
	s    string
	offs []int
}

// str consumes a double-quoted string. It returns the unescaped contents and
// the offset of the opening quote.
func (p *parser) str(after string) (quoted, int, error) {
	start := p.pos
	if p.eof() || p.in[p.pos] != '"' {
		return quoted{}, start, p.errAt(start, "expected a double-quoted string after %q, found %s", after, p.describe(start))
	}
	p.pos++
	var b strings.Builder
	var offs []int
	for {
		if p.eof() {
			return quoted{}, start, p.errAt(start, "unterminated string: add the closing '\"'")
		}
		c := p.in[p.pos]
		switch c {
		case '"':
			p.pos++
			return quoted{s: b.String(), offs: offs}, start, nil
		case '\\':
			if p.pos+1 >= len(p.in) {
				return quoted{}, start, p.errAt(start, "unterminated string: add the closing '\"'")
			}
			e := p.in[p.pos+1]
			if e != '"' && e != '\\' {
				return quoted{}, start, p.errAt(p.pos, `unknown escape %q in string: only \" and \\ are allowed`, `\`+string(e))
			}
			offs = append(offs, p.pos)
			b.WriteByte(e)
			p.pos += 2
		default:
			offs = append(offs, p.pos)
			b.WriteByte(c)
			p.pos++
		}
	}
}

// pattern splits FUNC[@FILE[:LINE]] at the first '@' and the first ':'
// after it, so a parsed FUNC never holds '@' and a FILE never holds ':' and
// String can print them back unambiguously.
func (p *parser) pattern(sp *Spec, q quoted, quote int) error {
	at := func(i int) int { // input offset of pattern byte i
		if i < len(q.offs) {
			return q.offs[i]
		}
		return quote + 1 + len(q.s) // closing quote, approximately
	}
	s := q.s
	fn, rest, hasFile := strings.Cut(s, "@")
	if fn == "" {
		if s == "" {
			return p.errAt(quote, "empty pattern: expected FUNC[@FILE[:LINE]]")
		}
		return p.errAt(at(0), "missing function name before '@': use \"*\" for any function")
	}
	if i, msg := checkGlob(fn); msg != "" {
		return p.errAt(at(i), "bad function pattern: %s", msg)
	}
	sp.Func, sp.FuncCol = fn, at(0)+1
	if !hasFile {
		return nil
	}
	fileOff := len(fn) + 1
	file, line, hasLine := strings.Cut(rest, ":")
	if file == "" {
		return p.errAt(at(fileOff), "missing file name after '@': use \"@*\" for any file")
	}
	if i, msg := checkGlob(file); msg != "" {
		return p.errAt(at(fileOff+i), "bad file pattern: %s", msg)
	}
	sp.File, sp.FileCol = file, at(fileOff)+1
	if !hasLine {
		return nil
	}
	lineOff := fileOff + len(file) + 1
	if line == "" {
		return p.errAt(at(lineOff), `missing line after ':': expected N, N-M or "*"`)
	}
	sp.LineCol = at(lineOff) + 1
	if line == "*" {
		sp.Lines = Lines{Kind: AnyLine}
		return nil
	}
	from, to, isRange := strings.Cut(line, "-")
	a, err := p.lineNumber(from, at(lineOff))
	if err != nil {
		return err
	}
	if !isRange {
		sp.Lines = Lines{Kind: OneLine, From: a, To: a}
		return nil
	}
	toOff := lineOff + len(from) + 1
	b, err := p.lineNumber(to, at(toOff))
	if err != nil {
		return err
	}
	if a > b {
		return p.errAt(at(lineOff), "line range %d-%d is backwards: write %d-%d", a, b, b, a)
	}
	sp.Lines = Lines{Kind: LineRange, From: a, To: b}
	return nil
}

// lineNumber parses a decimal line number whose first byte is at input
// offset off.
func (p *parser) lineNumber(s string, off int) (int, error) {
	if s == "" {
		return 0, p.errAt(off, `missing line number: expected N, N-M or "*"`)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, p.errAt(off, `bad line %q: expected N, N-M or "*"`, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxLine {
		return 0, p.errAt(off, "line number %s is too large", s)
	}
	if n == 0 {
		return 0, p.errAt(off, "line numbers start at 1")
	}
	return int(n), nil
}
