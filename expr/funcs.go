package expr

import "github.com/whythefail/whythefail/bpfgen"

// call compiles a function call in a condition. The string functions only
// make sense compared with a string; the comparison is handled in node.
func (c *compiler) call(n *Call) (bpfgen.Cond, error) {
	switch n.Fn {
	case "pid", "tid", "uid", "execname":
		if len(n.Args) != 0 {
			return nil, c.errf(n, "%s() takes no arguments", n.Fn)
		}
	}
	switch n.Fn {
	case "execname", "user_string":
		return nil, c.errf(n, "%s() gives a string: compare it with a string, as in %s(...) == \"x\"", n.Fn, n.Fn)
	}
	return nil, c.errf(n, "unknown function %s(): conditions know pid(), tid(), uid(), execname(), randint(N) and user_string(p)", n.Fn)
}
