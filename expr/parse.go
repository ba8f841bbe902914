package expr

import (
	"fmt"
	"strconv"
	"strings"
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

// Var is $return or a $name.
type Var struct {
	Name string // "return" for $return
	C    int
}

// Unary is -x, !x or ~x.
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
func (n *Var) Col() int    { return n.C }
func (n *Unary) Col() int  { return n.C }
func (n *Binary) Col() int { return n.C }

// SyntaxError points at the column of a mistake in an expression.
type SyntaxError struct {
	Input string
	Col   int
	Msg   string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("condition %q: column %d: %s", e.Input, e.Col, e.Msg)
}

type token struct {
	kind string // "num", "var", "ident", "op", "eof"
	text string
	col  int
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isIdent(s[j])) {
				j++
			}
			toks = append(toks, token{"num", s[i:j], i + 1})
			i = j
		case c == '$':
			j := i + 1
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, &SyntaxError{s, i + 1, "expected a variable name after $"}
			}
			toks = append(toks, token{"var", s[i+1 : j], i + 1})
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
			for _, o := range []string{"==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "(", ")"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, &SyntaxError{s, i + 1, fmt.Sprintf("unexpected character %q", c)}
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
	in   string
	toks []token
	pos  int
}

// Parse parses a condition expression.
func Parse(s string) (Node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &SyntaxError{s, 1, "empty condition (use 1 to trace every invocation)"}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{in: s, toks: toks}
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
	return &SyntaxError{p.in, t.col, fmt.Sprintf(format, a...)}
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
	if t.kind == "op" && (t.text == "-" || t.text == "!" || t.text == "~" || t.text == "+") {
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
	return p.primary()
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
	case "var":
		return &Var{Name: t.text, C: t.col}, nil
	case "ident":
		if t.text == "NULL" {
			return &Num{V: 0, Name: "NULL", C: t.col}, nil
		}
		if v, ok := errnos[t.text]; ok {
			return &Num{V: v, Name: t.text, C: t.col}, nil
		}
		if p.peek().text == "(" {
			return nil, p.errf(t, "function %s() is not supported in conditions yet", t.text)
		}
		return nil, p.errf(t, "unknown name %q: use $%s for a variable, or an errno name such as EINVAL", t.text, t.text)
	case "op":
		if t.text == "(" {
			n, err := p.binary(1)
			if err != nil {
				return nil, err
			}
			if c := p.next(); c.text != ")" {
				return nil, p.errf(c, "expected ) to close the ( at column %d", t.col)
			}
			return n, nil
		}
		return nil, p.errf(t, "expected a value, found %q", t.text)
	}
	return nil, p.errf(t, "expected a value at the end of the condition")
}
