package expr

import (
	"debug/dwarf"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
)

// object is memory a condition reads at return: Size bytes at the value of
// base plus off, of type t.
type object struct {
	base ir.Cond
	off  int64
	t    debuginfo.Type
}

// pointee turns a pointer-valued expression into the object it points to.
func (c *compiler) pointee(n Node) (object, error) {
	switch x := n.(type) {
	case *Var:
		p, ok := c.env.Params[x.Name]
		if !ok {
			_, err := c.node(x)
			if err == nil {
				err = c.errf(x, "$%s is not a parameter", x.Name)
			}
			return object{}, err
		}
		t, ok := c.env.Types[x.Name]
		if !ok {
			return object{}, c.errf(x, "the type of $%s is unknown", x.Name)
		}
		tt, ok := t.Target()
		if !ok || t.Tag() == dwarf.TagArrayType {
			return object{}, c.errf(x, "$%s is a %s, not a pointer", x.Name, t.Name())
		}
		return object{base: p, t: tt}, nil
	}
	o, err := c.object(n)
	if err != nil {
		return object{}, err
	}
	switch o.t.Tag() {
	case dwarf.TagPointerType, dwarf.TagReferenceType:
		tt, _ := o.t.Target()
		return object{base: ir.Load{Addr: o.base, Off: o.off, Size: 8, Text: Format(n)}, t: tt}, nil
	}
	return object{}, c.errf(n, "%s is a %s, not a pointer", Format(n), o.t.Name())
}

// object lowers a member, element or dereference to the memory it names.
func (c *compiler) object(n Node) (object, error) {
	switch x := n.(type) {
	case *Member:
		var o object
		var err error
		if v, ok := x.X.(*Var); ok {
			o, err = c.pointee(v)
		} else if inner, ierr := c.object(x.X); ierr == nil && (inner.t.Tag() == dwarf.TagStructType || inner.t.Tag() == dwarf.TagUnionType || inner.t.Tag() == dwarf.TagClassType) {
			o = inner
		} else {
			o, err = c.pointee(x.X)
		}
		if err != nil {
			return object{}, err
		}
		switch o.t.Tag() {
		case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagClassType:
		default:
			return object{}, c.errf(x, "member %s of %s, which is not a struct, a union or a pointer to one", x.Field, o.t.Name())
		}
		m, ok := o.t.Member(x.Field)
		if !ok {
			return object{}, c.errf(x, "%s has no member %s; its members are %s", o.t.Name(), x.Field, o.t.MemberNames())
		}
		if m.BitField {
			return object{}, c.errf(x, "member %s is a bit field, which cannot be read yet", x.Field)
		}
		if m.NoOffset {
			return object{}, c.errf(x, "member %s has a location expression whythefail cannot evaluate", x.Field)
		}
		return object{base: o.base, off: o.off + m.Offset, t: m.Type}, nil
	case *Index:
		// A constant index is folded into the offset; any other is
		// evaluated at return, like the rest of the condition.
		i, isConst := constOf(x.I)
		var idx ir.Cond
		if !isConst {
			var err error
			if idx, err = c.index(x.I); err != nil {
				return object{}, err
			}
			if k, ok := idx.(ir.Const); ok {
				i, isConst = k.V, true
			}
		}
		var o object
		if inner, err := c.object(x.X); err == nil && inner.t.Tag() == dwarf.TagArrayType {
			el, _ := inner.t.Target()
			o = object{base: inner.base, off: inner.off, t: el}
		} else {
			p, err := c.pointee(x.X)
			if err != nil {
				return object{}, err
			}
			o = p
		}
		size := o.t.Size()
		if size <= 0 {
			return object{}, c.errf(x, "elements of %s have no known size", o.t.Name())
		}
		if isConst {
			return object{base: o.base, off: o.off + i*size, t: o.t}, nil
		}
		scaled := ir.BinOp{Op: ir.OpMul, L: idx, R: ir.Const{V: size}}
		return object{base: ir.BinOp{Op: ir.OpAdd, L: o.base, R: scaled}, off: o.off, t: o.t}, nil
	case *Unary:
		if x.Op == "*" {
			return c.pointee(x.X)
		}
	case *AtVar:
		if c.env.Data == nil {
			return object{}, c.errf(x, "@var needs the target's debug info")
		}
		g, err := findGlobal(c.env.Data, x)
		if err != nil {
			return object{}, c.errf(x, "%v", err)
		}
		if c.env.GOT != nil {
			if slot, ok := c.env.GOT(x.Name, g.Addr); ok {
				addr := ir.Load{Addr: ir.GlobalAddr{Addr: slot, Name: x.Name}, Size: 8, Text: "&" + Format(x)}
				return object{base: addr, t: g.Type}, nil
			}
		}
		return object{base: ir.GlobalAddr{Addr: g.Addr, Name: x.Name}, t: g.Type}, nil
	case *Cast:
		if c.env.Data == nil {
			return object{}, c.errf(x, "@cast needs the target's debug info")
		}
		t, ok := c.env.Data.TypeByName(x.Type)
		if !ok {
			return object{}, c.errf(x, "unknown type %q (write it as stap lists it, e.g. \"struct cfg\")", x.Type)
		}
		// @cast(&@var("g"), "T") is g seen as T; otherwise the operand
		// is the address.
		if u, ok := x.X.(*Unary); ok && u.Op == "&" {
			o, err := c.object(u.X)
			if err != nil {
				return object{}, err
			}
			return object{base: o.base, off: o.off, t: t}, nil
		}
		addr, err := c.node(x.X)
		if err != nil {
			return object{}, err
		}
		return object{base: addr, t: t}, nil
	}
	return object{}, c.errf(n, "%s does not name memory", Format(n))
}

// index compiles an array index: any integer expression of the
// condition's values (parameters at entry, $return, memory they point to).
func (c *compiler) index(n Node) (ir.Cond, error) {
	if v, ok := n.(*Var); ok {
		if t, ok := c.env.Types[v.Name]; ok {
			if ti := t.Info(); ti.Kind != debuginfo.KindInt {
				return nil, c.errf(n, "an index must be an integer; $%s is a %s", v.Name, t.Name())
			}
		}
	}
	return c.node(n)
}

// load compiles a member, element or dereference in a condition: read at
// return through the parameter's value at entry.
func (c *compiler) load(n Node) (ir.Cond, error) {
	o, err := c.object(n)
	if err != nil {
		return nil, err
	}
	ti := o.t.Info()
	switch ti.Kind {
	case debuginfo.KindInt, debuginfo.KindPointer:
	default:
		return nil, c.errf(n, "%s is a %s: conditions compare integers and pointers", Format(n), o.t.Name())
	}
	switch ti.Size {
	case 1, 2, 4, 8:
	default:
		return nil, c.errf(n, "%s is %d bytes: conditions read 1, 2, 4 or 8", Format(n), ti.Size)
	}
	return ir.Load{Addr: o.base, Off: o.off, Size: ti.Size, Signed: ti.Signed, Text: Format(n)}, nil
}
