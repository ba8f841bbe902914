package expr

import (
	"fmt"
	"strconv"
	"strings"
)

// Format prints a parsed expression back in SystemTap syntax, fully
// parenthesised where operators nest, so that tests and error messages can
// show how it was read.
func Format(n Node) string {
	switch n := n.(type) {
	case *Num:
		if n.Name != "" {
			return n.Name
		}
		if n.V < 0 { // a literal above MaxInt64, read as unsigned
			return "0x" + strconv.FormatUint(uint64(n.V), 16)
		}
		return strconv.FormatInt(n.V, 10)
	case *Str:
		return quote(n.S)
	case *Var:
		return "$" + n.Name
	case *VarSet:
		return "$$" + n.Kind
	case *AtVar:
		if n.File != "" {
			return "@var(" + quote(n.Name+"@"+n.File) + ")"
		}
		return "@var(" + quote(n.Name) + ")"
	case *Cast:
		if n.Module != "" {
			return "@cast(" + Format(n.X) + ", " + quote(n.Type) + ", " + quote(n.Module) + ")"
		}
		return "@cast(" + Format(n.X) + ", " + quote(n.Type) + ")"
	case *Call:
		var args []string
		for _, a := range n.Args {
			args = append(args, Format(a))
		}
		return n.Fn + "(" + strings.Join(args, ", ") + ")"
	case *Member:
		return Format(n.X) + "->" + n.Field
	case *Index:
		return Format(n.X) + "[" + Format(n.I) + "]"
	case *Pretty:
		if n.Deep {
			return Format(n.X) + "$$"
		}
		return Format(n.X) + "$"
	case *Unary:
		return "(" + n.Op + Format(n.X) + ")"
	case *Binary:
		return "(" + Format(n.L) + " " + n.Op + " " + Format(n.R) + ")"
	}
	return fmt.Sprintf("<%T>", n)
}

// quote writes a string literal the lexer reads back: only quotes,
// backslashes, newlines and tabs are escaped.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
