package expr

import (
	"fmt"
	"sort"
	"strings"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
)

// Env says what names a condition can use.
type Env struct {
	// Params are the function's parameters that can be read at return
	// (their values at entry, as stap defines them).
	Params map[string]ir.Param
	// Unreadable names parameters that exist but cannot be read (passed on
	// the stack or in vector registers), with the reason.
	Unreadable map[string]string
	// Types are the parameters' types, for $param->member, *$param and
	// $param[i], read at return through the value at entry.
	Types map[string]debuginfo.Type
	// Data finds the globals of @var and the types of @cast; nil: neither
	// can be used.
	Data *debuginfo.Data
	// GOT is Scope.GOT, for @var in conditions.
	GOT func(name string, addr uint64) (uint64, bool)
}

// Compile checks n against env and builds the bpfgen condition. A constant
// condition that is true compiles to nil (commit everything).
func Compile(input string, n Node, env Env) (ir.Cond, error) {
	c := &compiler{in: input, env: env}
	cond, err := c.node(n)
	if err != nil {
		return nil, err
	}
	if k, ok := cond.(ir.Const); ok && k.V != 0 {
		return nil, nil
	}
	return cond, nil
}

type compiler struct {
	in  string
	env Env
}

func (c *compiler) errf(n Node, format string, a ...any) error {
	return &Error{"condition", c.in, n.Col(), fmt.Sprintf(format, a...)}
}

var binOps = map[string]ir.Op{
	"==": ir.OpEq, "!=": ir.OpNe, "<": ir.OpLt, "<=": ir.OpLe,
	">": ir.OpGt, ">=": ir.OpGe, "&&": ir.OpLogAnd, "||": ir.OpLogOr,
	"+": ir.OpAdd, "-": ir.OpSub, "&": ir.OpBitAnd, "|": ir.OpBitOr,
	"*": ir.OpMul, "^": ir.OpXor, "<<": ir.OpShl, ">>": ir.OpShr,
}

func (c *compiler) node(n Node) (ir.Cond, error) {
	switch n := n.(type) {
	case *Num:
		return ir.Const{V: n.V}, nil
	case *Var:
		if n.Name == "return" {
			return ir.Return{}, nil
		}
		if p, ok := c.env.Params[n.Name]; ok {
			return p, nil
		}
		if why, ok := c.env.Unreadable[n.Name]; ok {
			return nil, c.errf(n, "$%s cannot be read at return: %s", n.Name, why)
		}
		var names []string
		for k := range c.env.Params {
			names = append(names, "$"+k)
		}
		sort.Strings(names)
		msg := fmt.Sprintf("unknown variable $%s", n.Name)
		if len(names) > 0 {
			msg += "; the parameters are " + strings.Join(names, " ") + ", and $return"
		} else {
			msg += "; only $return is available"
		}
		return nil, c.errf(n, "%s", msg)
	case *Unary:
		x, err := c.node(n.X)
		if err != nil {
			return nil, err
		}
		if k, ok := x.(ir.Const); ok {
			switch n.Op {
			case "-":
				return ir.Const{V: -k.V}, nil
			case "!":
				return ir.Const{V: b2i(k.V == 0)}, nil
			case "~":
				return ir.Const{V: ^k.V}, nil
			}
		}
		switch n.Op {
		case "*":
			return c.load(n)
		case "-":
			return ir.BinOp{Op: ir.OpSub, L: ir.Const{V: 0}, R: x}, nil
		case "!":
			return ir.BinOp{Op: ir.OpEq, L: x, R: ir.Const{V: 0}}, nil
		case "~":
			return ir.Unary{Op: ir.UnBitNot, X: x}, nil
		}
		return nil, c.errf(n, "operator %s is not supported in conditions", n.Op)
	case *Binary:
		if cond, ok, err := c.strCompare(n); ok {
			return cond, err
		}
		l, err := c.node(n.L)
		if err != nil {
			return nil, err
		}
		r, err := c.node(n.R)
		if err != nil {
			return nil, err
		}
		lk, lok := l.(ir.Const)
		rk, rok := r.(ir.Const)
		if lok && rok {
			v, err := fold(n.Op, lk.V, rk.V)
			if err != nil {
				return nil, c.errf(n, "%v", err)
			}
			return ir.Const{V: v}, nil
		}
		op, ok := binOps[n.Op]
		if !ok {
			return nil, c.errf(n, "operator %s on a variable is not supported yet", n.Op)
		}
		return ir.BinOp{Op: op, L: l, R: r}, nil
	case *Str:
		return nil, c.errf(n, "a string can only be compared with execname() or user_string(...)")
	case *Call:
		return c.call(n)
	case *VarSet:
		return nil, c.errf(n, "$$%s is a list of variables, not a value: name one variable", n.Kind)
	case *Pretty:
		return nil, c.errf(n, "pretty printing ($) has no value in a condition")
	case *Member, *Index, *AtVar, *Cast:
		return c.load(n)
	}
	return nil, fmt.Errorf("condition %q: unexpected node %T", c.in, n)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func fold(op string, a, b int64) (int64, error) {
	switch op {
	case "==":
		return b2i(a == b), nil
	case "!=":
		return b2i(a != b), nil
	case "<":
		return b2i(a < b), nil
	case "<=":
		return b2i(a <= b), nil
	case ">":
		return b2i(a > b), nil
	case ">=":
		return b2i(a >= b), nil
	case "&&":
		return b2i(a != 0 && b != 0), nil
	case "||":
		return b2i(a != 0 || b != 0), nil
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/", "%":
		if b == 0 {
			return 0, fmt.Errorf("division by zero")
		}
		if op == "/" {
			return a / b, nil
		}
		return a % b, nil
	case "&":
		return a & b, nil
	case "|":
		return a | b, nil
	case "^":
		return a ^ b, nil
	case "<<":
		return a << uint64(b&63), nil
	case ">>":
		return a >> uint64(b&63), nil
	}
	return 0, fmt.Errorf("unknown operator %s", op)
}
