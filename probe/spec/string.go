package spec

import (
	"strconv"
	"strings"
)

// String returns the canonical stap form of the probe point, such as
// process("/bin/prog").function("main@prog.c:10-20").return. Parse accepts
// it and gives back an equal Spec (columns aside).
func (s *Spec) String() string {
	var b strings.Builder
	switch s.Target {
	case Process:
		b.WriteString("process(")
		writeQuoted(&b, s.Path)
		b.WriteString(")")
	case Module:
		b.WriteString("module(")
		writeQuoted(&b, s.Path)
		b.WriteString(")")
	default:
		b.WriteString("kernel")
	}
	if s.Point == Statement {
		b.WriteString(".statement(")
	} else {
		b.WriteString(".function(")
	}
	writeQuoted(&b, s.Pattern())
	b.WriteString(")")
	switch s.Suffix {
	case Call:
		b.WriteString(".call")
	case Return:
		b.WriteString(".return")
	case Inline:
		b.WriteString(".inline")
	}
	return b.String()
}

// Pattern returns FUNC[@FILE[:LINE]] as written inside the quotes, without
// escapes. stap -L prints it this way for each resolved probe point.
func (s *Spec) Pattern() string {
	p := s.Func
	if s.File == "" {
		return p
	}
	p += "@" + s.File
	if l := s.Lines.String(); l != "" {
		p += ":" + l
	}
	return p
}

// String returns the LINE part without the colon: "", "*", "N" or "N-M".
func (l Lines) String() string {
	switch l.Kind {
	case AnyLine:
		return "*"
	case OneLine:
		return strconv.Itoa(l.From)
	case LineRange:
		return strconv.Itoa(l.From) + "-" + strconv.Itoa(l.To)
	default:
		return ""
	}
}

// writeQuoted writes s as a stap string literal: only '"' and '\' need
// escaping, and Parse knows no other escape.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}
