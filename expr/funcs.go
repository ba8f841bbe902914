package expr

import "github.com/whythefail/whythefail/expr/ir"

// call compiles a function call in a condition. The string functions only
// make sense compared with a string; strCompare handles those.
func (c *compiler) call(n *Call) (ir.Cond, error) {
	switch n.Fn {
	case "pid", "tid", "uid", "execname", "errno":
		if len(n.Args) != 0 {
			return nil, c.errf(n, "%s() takes no arguments", n.Fn)
		}
	}
	switch n.Fn {
	case "pid":
		return ir.Pid{}, nil
	case "tid":
		return ir.Tid{}, nil
	case "uid":
		return ir.Uid{}, nil
	case "errno":
		return ir.Errno{}, nil
	case "randint":
		if len(n.Args) != 1 {
			return nil, c.errf(n, "randint(N) takes one argument")
		}
		k, err := c.node(n.Args[0])
		if err != nil {
			return nil, err
		}
		v, ok := k.(ir.Const)
		if !ok || v.V <= 0 || v.V > 1<<32 {
			return nil, c.errf(n.Args[0], "randint(N) needs a constant N from 1 to 2^32")
		}
		return ir.Randint{N: v.V}, nil
	case "execname", "user_string":
		return nil, c.errf(n, "%s() gives a string: compare it with a string, as in %s(...) == \"x\"", n.Fn, n.Fn)
	}
	return nil, c.errf(n, "unknown function %s(): conditions know pid(), tid(), uid(), errno(), execname(), randint(N) and user_string(p)", n.Fn)
}

// strCompare compiles execname() == "s" and user_string(p) == "s" (and
// !=, either way round). ok is false when b is not such a comparison.
func (c *compiler) strCompare(b *Binary) (cond ir.Cond, ok bool, err error) {
	if b.Op != "==" && b.Op != "!=" {
		return nil, false, nil
	}
	call, cok := b.L.(*Call)
	str, sok := b.R.(*Str)
	if !cok || !sok {
		call, cok = b.R.(*Call)
		str, sok = b.L.(*Str)
	}
	if !sok {
		return nil, false, nil
	}
	if !cok || (call.Fn != "execname" && call.Fn != "user_string") {
		return nil, true, c.errf(str, "a string can only be compared with execname() or user_string(...)")
	}
	switch call.Fn {
	case "execname":
		if len(call.Args) != 0 {
			return nil, true, c.errf(call, "execname() takes no arguments")
		}
		if len(str.S) > 15 {
			return nil, true, c.errf(str, "execname() is at most 15 characters (the kernel's comm): %q never matches", str.S)
		}
		cond = ir.CommEq{S: str.S}
	case "user_string":
		if len(call.Args) != 1 {
			return nil, true, c.errf(call, "user_string(p) takes one argument, a pointer")
		}
		p, err := c.node(call.Args[0])
		if err != nil {
			return nil, true, err
		}
		if len(str.S) > ir.MaxCondStr {
			return nil, true, c.errf(str, "strings compared with user_string() are at most %d bytes", ir.MaxCondStr)
		}
		cond = ir.UserStrEq{Ptr: p, S: str.S}
	}
	if b.Op == "!=" {
		cond = ir.Unary{Op: ir.UnNot, X: cond}
	}
	return cond, true, nil
}

// UsesErrno reports whether n calls errno() anywhere: the tracer must then
// find where the traced processes keep it.
func UsesErrno(n Node) bool {
	switch n := n.(type) {
	case *Call:
		if n.Fn == "errno" {
			return true
		}
		for _, a := range n.Args {
			if UsesErrno(a) {
				return true
			}
		}
	case *Cast:
		return UsesErrno(n.X)
	case *Member:
		return UsesErrno(n.X)
	case *Index:
		return UsesErrno(n.X) || UsesErrno(n.I)
	case *Pretty:
		return UsesErrno(n.X)
	case *Unary:
		return UsesErrno(n.X)
	case *Binary:
		return UsesErrno(n.L) || UsesErrno(n.R)
	}
	return false
}
