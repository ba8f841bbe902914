package verdict

import (
	"strconv"
	"strings"
)

// term is one operand of a source condition's top-level && and ||: a
// comparison (L Op R) or a truth test of L (Op empty), negated by a leading
// !.
type term struct {
	Text  string
	L, R  string
	Op    string
	Neg   bool
	whole bool // the term is the whole condition
}

// condition extracts the condition of an if, while or for statement on a
// source line (the text between the parentheses after the keyword, or the
// middle clause of a for); ok is false when the line has none.
func condition(line string) (string, bool) {
	s := line
	for _, kw := range []string{"if", "while", "for"} {
		i := keyword(s, kw)
		if i < 0 {
			continue
		}
		rest := strings.TrimLeft(s[i+len(kw):], " \t")
		if !strings.HasPrefix(rest, "(") {
			continue
		}
		inner, ok := balanced(rest)
		if !ok {
			return "", false
		}
		if kw == "for" {
			parts := strings.Split(inner, ";")
			if len(parts) != 3 {
				return "", false
			}
			inner = parts[1]
		}
		return strings.TrimSpace(inner), strings.TrimSpace(inner) != ""
	}
	return "", false
}

// keyword finds kw as a whole word in s.
func keyword(s, kw string) int {
	for i := 0; ; {
		j := strings.Index(s[i:], kw)
		if j < 0 {
			return -1
		}
		j += i
		before := j == 0 || !isIdent(s[j-1])
		after := j+len(kw) >= len(s) || !isIdent(s[j+len(kw)])
		if before && after {
			return j
		}
		i = j + len(kw)
	}
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// balanced returns what is inside the parenthesis s starts with.
func balanced(s string) (string, bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[1:i], true
			}
		}
	}
	return "", false
}

// terms splits a condition on its top-level && and ||.
func terms(cond string) []term {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(cond); i++ {
		switch c := cond[i]; {
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case depth == 0 && i+1 < len(cond) && (cond[i:i+2] == "&&" || cond[i:i+2] == "||"):
			parts = append(parts, cond[start:i])
			start = i + 2
			i++
		}
	}
	parts = append(parts, cond[start:])
	var out []term
	for _, p := range parts {
		out = append(out, parseTerm(strings.TrimSpace(p)))
	}
	if len(out) == 1 {
		out[0].whole = true
	}
	return out
}

// parseTerm parses one term.
func parseTerm(s string) term {
	t := term{Text: s}
	for {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "!") && !strings.HasPrefix(s, "!=") {
			t.Neg = !t.Neg
			s = s[1:]
			continue
		}
		if strings.HasPrefix(s, "(") {
			if in, ok := balanced(s); ok && len(in)+2 == len(s) {
				s = in
				continue
			}
		}
		break
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '(' || c == '[':
			depth++
			continue
		case c == ')' || c == ']':
			depth--
			continue
		}
		if depth != 0 {
			continue
		}
		for _, op := range []string{"==", "!=", "<=", ">="} {
			if strings.HasPrefix(s[i:], op) {
				t.L, t.Op, t.R = strings.TrimSpace(s[:i]), op, strings.TrimSpace(s[i+2:])
				return t
			}
		}
		if c == '<' || c == '>' {
			// Not ->, <<, >>.
			if (c == '>' && i > 0 && s[i-1] == '-') || (i+1 < len(s) && s[i+1] == c) || (i > 0 && s[i-1] == c) {
				continue
			}
			t.L, t.Op, t.R = strings.TrimSpace(s[:i]), string(c), strings.TrimSpace(s[i+1:])
			return t
		}
	}
	t.L = s
	return t
}

// literal parses a C integer literal (decimal, hex, octal, a character,
// NULL); ok is false for anything else.
func literal(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "NULL" || s == "nullptr" || s == "false" {
		return 0, true
	}
	if s == "true" {
		return 1, true
	}
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, strings.TrimSpace(s[1:])
	}
	if len(s) == 3 && s[0] == '\'' && s[2] == '\'' {
		v := int64(s[1])
		if neg {
			v = -v
		}
		return v, true
	}
	s = strings.TrimRight(s, "uUlL")
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// flip gives the relation with its sides swapped (a < b is b > a).
func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case ">":
		return "<"
	case "<=":
		return ">="
	case ">=":
		return "<="
	}
	return op
}

// holds evaluates a op b.
func holds(a int64, op string, b int64, unsigned bool) bool {
	if unsigned {
		x, y := uint64(a), uint64(b)
		switch op {
		case "<":
			return x < y
		case ">":
			return x > y
		case "<=":
			return x <= y
		case ">=":
			return x >= y
		}
	}
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case ">":
		return a > b
	case "<=":
		return a <= b
	case ">=":
		return a >= b
	}
	return false
}
