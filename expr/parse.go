package expr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/whythefail/whythefail/internal/nearest"
)

// Node is a parsed expression.
type Node interface {
	Col() int // 1-based column of the node in the source
}

// Num is an integer literal or a named constant (errno name, NULL).
type Num struct {
	V    int64
	Name string // the errno name or NULL, when it was one
	C    int
}

// Str is a string literal.
type Str struct {
	S string
	C int
}

// Var is $return or a $name.
type Var struct {
	Name string // "return" for $return
	C    int
}

// VarSet is $$vars, $$locals or $$parms.
type VarSet struct {
	Kind string // "vars", "locals", "parms"
	C    int
}

// AtVar is @var("name") or @var("name@file").
type AtVar struct {
	Name, File string
	C          int
}

// Cast is @cast(X, "type") or @cast(X, "type", "module").
type Cast struct {
	X            Node
	Type, Module string
	C            int
}

// Call is a function call: pid(), execname(), user_string($p), ...
type Call struct {
	Fn   string
	Args []Node
	C    int
}

// Member is X->field (stap writes -> for members of structs and of
// pointers to structs alike; . is accepted too).
type Member struct {
	X     Node
	Field string
	C     int
}

// Index is X[I].
type Index struct {
	X, I Node
	C    int
}

// Pretty is X$ (pretty-print) or X$$ (also follow pointers one level).
type Pretty struct {
	X    Node
	Deep bool
	C    int
}

// Unary is -x, !x, ~x, *x or &x.
type Unary struct {
	Op string
	X  Node
	C  int
}

// Binary is x OP y.
type Binary struct {
	Op   string
	L, R Node
	C    int
}

func (n *Num) Col() int    { return n.C }
func (n *Str) Col() int    { return n.C }
func (n *Var) Col() int    { return n.C }
func (n *VarSet) Col() int { return n.C }
func (n *AtVar) Col() int  { return n.C }
func (n *Cast) Col() int   { return n.C }
func (n *Call) Col() int   { return n.C }
func (n *Member) Col() int { return n.C }
func (n *Index) Col() int  { return n.C }
func (n *Pretty) Col() int { return n.C }
func (n *Unary) Col() int  { return n.C }
func (n *Binary) Col() int { return n.C }

// Error points at the column of a mistake in a CONDITION or VARIABLE
// expression: a syntax error (Parse), or a semantic one found when compiling
// a condition (Compile) or lowering a VARIABLE expression (Display). It is
// the only error type of the package.
type Error struct {
	What  string // "condition" or "variable"
	Input string
	Col   int
	Msg   string
}

// Error renders the mistake as `what "input": column N: message`.
func (e *Error) Error() string {
	what := e.What
	if what == "" {
		what = "expression"
	}
	return fmt.Sprintf("%s %q: column %d: %s", what, e.Input, e.Col, e.Msg)
}

type token struct {
	kind string // "num", "str", "var", "varset", "pretty", "at", "ident", "op", "eof"
	text string
	col  int
}

func lex(what, s string) ([]token, error) {
	var toks []token
	i := 0
	fail := func(col int, format string, a ...any) error {
		return &Error{what, s, col, fmt.Sprintf(format, a...)}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			toks = append(toks, token{"num", s[i:j], i + 1})
			i = j
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(s[j])
					}
					continue
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fail(i+1, "unterminated string")
			}
			toks = append(toks, token{"str", b.String(), i + 1})
			i = j + 1
		case c == '$':
			j := i + 1
			switch {
			case j < len(s) && isIdent(s[j]):
				for j < len(s) && isIdent(s[j]) {
					j++
				}
				toks = append(toks, token{"var", s[i+1 : j], i + 1})
			case j+1 < len(s) && s[j] == '$' && isIdent(s[j+1]):
				j++
				for j < len(s) && isIdent(s[j]) {
					j++
				}
				toks = append(toks, token{"varset", s[i+2 : j], i + 1})
			default:
				toks = append(toks, token{"pretty", "$", i + 1})
			}
			i = j
		case c == '@':
			j := i + 1
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, fail(i+1, "expected @var or @cast")
			}
			toks = append(toks, token{"at", s[i+1 : j], i + 1})
			i = j
		case isIdent(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			toks = append(toks, token{"ident", s[i:j], i + 1})
			i = j
		default:
			op := ""
			for _, o := range []string{"->", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "(", ")", "[", "]", ",", "."} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fail(i+1, "unexpected character %q", c)
			}
			toks = append(toks, token{"op", op, i + 1})
			i += len(op)
		}
	}
	return append(toks, token{"eof", "", len(s) + 1}), nil
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// precedence of binary operators, C's order.
var precedence = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7, ">=": 7,
	"<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

type parser struct {
	what string
	in   string
	toks []token
	pos  int
}

// Parse parses a condition expression.
func Parse(s string) (Node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &Error{"condition", s, 1, "empty condition (use 1 to trace every invocation)"}
	}
	return parse("condition", s)
}

// ParseVariable parses a VARIABLE expression.
func ParseVariable(s string) (Node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &Error{"variable", s, 1, "empty expression (the default is $$vars)"}
	}
	return parse("variable", s)
}

func parse(what, s string) (Node, error) {
	toks, err := lex(what, s)
	if err != nil {
		return nil, err
	}
	p := &parser{what: what, in: s, toks: toks}
	n, err := p.binary(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, p.errf(t, "unexpected %q after the end of the expression", t.text)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *parser) errf(t token, format string, a ...any) error {
	return &Error{p.what, p.in, t.col, fmt.Sprintf(format, a...)}
}

func (p *parser) expectOp(op, why string) (token, error) {
	t := p.next()
	if t.kind != "op" || t.text != op {
		found := t.text
		if t.kind == "eof" {
			found = "the end"
		}
		return t, p.errf(t, "expected %s %s, found %q", op, why, found)
	}
	return t, nil
}

func (p *parser) binary(minPrec int) (Node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := precedence[t.text]
		if t.kind != "op" || !ok || prec < minPrec {
			return l, nil
		}
		p.next()
		r, err := p.binary(prec + 1)
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: t.text, L: l, R: r, C: t.col}
	}
}

func (p *parser) unary() (Node, error) {
	t := p.peek()
	if t.kind == "op" && strings.Contains("- ! ~ + * &", t.text) && len(t.text) == 1 {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if t.text == "+" {
			return x, nil
		}
		return &Unary{Op: t.text, X: x, C: t.col}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (Node, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == "op" && (t.text == "->" || t.text == "."):
			p.next()
			f := p.next()
			if f.kind != "ident" {
				return nil, p.errf(f, "expected a member name after %s", t.text)
			}
			n = &Member{X: n, Field: f.text, C: t.col}
		case t.kind == "op" && t.text == "[":
			p.next()
			i, err := p.binary(1)
			if err != nil {
				return nil, err
			}
			if _, err := p.expectOp("]", "to close the ["); err != nil {
				return nil, err
			}
			n = &Index{X: n, I: i, C: t.col}
		case t.kind == "pretty":
			p.next()
			deep := false
			if p.peek().kind == "pretty" {
				p.next()
				deep = true
			}
			n = &Pretty{X: n, Deep: deep, C: t.col}
			if p.peek().kind == "pretty" {
				return nil, p.errf(p.peek(), "at most two $ after an expression ($ or $$)")
			}
			return n, nil
		default:
			return n, nil
		}
	}
}

func (p *parser) stringArg(what string) (token, error) {
	t := p.next()
	if t.kind != "str" {
		return t, p.errf(t, "%s takes a quoted string here", what)
	}
	return t, nil
}

func (p *parser) primary() (Node, error) {
	t := p.next()
	switch t.kind {
	case "num":
		v, err := strconv.ParseInt(t.text, 0, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(t.text, 0, 64)
			if uerr != nil {
				return nil, p.errf(t, "bad number %q", t.text)
			}
			v = int64(u)
		}
		return &Num{V: v, C: t.col}, nil
	case "str":
		return &Str{S: t.text, C: t.col}, nil
	case "var":
		return &Var{Name: t.text, C: t.col}, nil
	case "varset":
		switch t.text {
		case "vars", "locals", "parms":
			return &VarSet{Kind: t.text, C: t.col}, nil
		}
		return nil, p.errf(t, "unknown $$%s: use $$vars, $$locals or $$parms", t.text)
	case "at":
		switch t.text {
		case "var":
			if _, err := p.expectOp("(", "after @var"); err != nil {
				return nil, err
			}
			s, err := p.stringArg("@var")
			if err != nil {
				return nil, err
			}
			if _, err := p.expectOp(")", "to close @var("); err != nil {
				return nil, err
			}
			name, file, _ := strings.Cut(s.text, "@")
			if name == "" {
				return nil, p.errf(s, "@var needs a variable name, as in @var(\"counter\") or @var(\"counter@file.c\")")
			}
			return &AtVar{Name: name, File: file, C: t.col}, nil
		case "cast":
			if _, err := p.expectOp("(", "after @cast"); err != nil {
				return nil, err
			}
			x, err := p.binary(1)
			if err != nil {
				return nil, err
			}
			if _, err := p.expectOp(",", "between @cast's expression and type"); err != nil {
				return nil, err
			}
			ty, err := p.stringArg("@cast")
			if err != nil {
				return nil, err
			}
			c := &Cast{X: x, Type: ty.text, C: t.col}
			if p.peek().text == "," && p.peek().kind == "op" {
				p.next()
				m, err := p.stringArg("@cast's module")
				if err != nil {
					return nil, err
				}
				c.Module = m.text
			}
			if _, err := p.expectOp(")", "to close @cast("); err != nil {
				return nil, err
			}
			return c, nil
		}
		return nil, p.errf(t, "unknown @%s: use @var(\"name\") or @cast(expr, \"type\")", t.text)
	case "ident":
		if p.peek().kind == "op" && p.peek().text == "(" {
			p.next()
			call := &Call{Fn: t.text, C: t.col}
			if p.peek().text == ")" && p.peek().kind == "op" {
				p.next()
				return call, nil
			}
			for {
				a, err := p.binary(1)
				if err != nil {
					return nil, err
				}
				call.Args = append(call.Args, a)
				sep := p.next()
				if sep.kind == "op" && sep.text == ")" {
					return call, nil
				}
				if sep.kind != "op" || sep.text != "," {
					return nil, p.errf(sep, "expected , or ) in the arguments of %s()", t.text)
				}
			}
		}
		if t.text == "NULL" {
			return &Num{V: 0, Name: "NULL", C: t.col}, nil
		}
		if v, ok := errnos[t.text]; ok {
			return &Num{V: v, Name: t.text, C: t.col}, nil
		}
		msg := fmt.Sprintf("unknown name %q: use $%s for a variable", t.text, t.text)
		if t.text == "errno" {
			msg = `unknown name "errno": the calling thread's errno is errno()`
		}
		if len(t.text) > 1 && t.text[0] == 'E' && strings.ToUpper(t.text) == t.text {
			msg = fmt.Sprintf("unknown errno name %q", t.text)
			if near := nearestErrno(t.text); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			}
		}
		return nil, p.errf(t, "%s", msg)
	case "op":
		if t.text == "(" {
			n, err := p.binary(1)
			if err != nil {
				return nil, err
			}
			if _, err := p.expectOp(")", fmt.Sprintf("to close the ( at column %d", t.col)); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, p.errf(t, "expected a value, found %q", t.text)
	case "pretty":
		return nil, p.errf(t, "expected a variable name after $")
	}
	return nil, p.errf(t, "expected a value at the end of the expression")
}

// nearestErrno suggests the errno name closest to a misspelt one.
func nearestErrno(s string) string {
	best, bestD := "", 3
	for name := range errnos {
		if d := nearest.Distance(s, name); d < bestD || d == bestD && best != "" && name < best {
			best, bestD = name, d
		}
	}
	return best
}
