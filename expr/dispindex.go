package expr

import (
	"math"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
)

// indexExpr is a variable array index in VARIABLE: the value of leaf, read
// at the statement, plus the constant add.
type indexExpr struct {
	leaf Leaf
	add  int64
}

// index lowers a non-constant array index of a VARIABLE expression: a
// $variable (or a member, element or dereference of one, or @var) of an
// integer type, plus or minus constants. It is read at each statement like
// the value it indexes, so anything fancier would need the condition's
// arithmetic in statement programs; these forms cover loops ($a[$i],
// $a[$i+1], $a[$n-1]).
func (d *displayer) index(n Node) (indexExpr, error) {
	switch x := n.(type) {
	case *Binary:
		if x.Op != "+" && x.Op != "-" {
			break
		}
		if k, ok := constOf(x.R); ok {
			ix, err := d.index(x.L)
			if err != nil {
				return indexExpr{}, err
			}
			if x.Op == "-" {
				if k == math.MinInt64 {
					return indexExpr{}, d.errf(x.R, "index offset %s is too large", Format(x.R))
				}
				k = -k
			}
			return d.addIndex(x, ix, k)
		}
		if k, ok := constOf(x.L); ok && x.Op == "+" {
			ix, err := d.index(x.R)
			if err != nil {
				return indexExpr{}, err
			}
			return d.addIndex(x, ix, k)
		}
		return indexExpr{}, d.errf(x, "an index is a $variable plus or minus a constant; %s is not supported in VARIABLE", Format(x))
	case *Var, *Member, *Index, *AtVar, *Cast, *Unary:
		if u, ok := x.(*Unary); ok && u.Op != "*" {
			break
		}
		c, err := d.lower(n)
		if err != nil {
			return indexExpr{}, err
		}
		if c.ptrTo != nil {
			return indexExpr{}, d.errf(n, "an index must be an integer; %s is an address", Format(n))
		}
		ti := c.t.Info()
		if ti.Kind != debuginfo.KindInt {
			return indexExpr{}, d.errf(n, "an index must be an integer; %s is a %s", Format(n), c.t.Name())
		}
		switch ti.Size {
		case 1, 2, 4, 8:
		default:
			return indexExpr{}, d.errf(n, "an index must be an integer of 1, 2, 4 or 8 bytes; %s is %d bytes", Format(n), ti.Size)
		}
		l := c.leaf
		l.Size, l.Signed = ti.Size, ti.Signed
		if nest := leafNesting(&l); nest >= ir.MaxIndexNesting {
			return indexExpr{}, d.errf(n, "indexes nest at most %d deep ($a[$b[$i]])", ir.MaxIndexNesting)
		}
		return indexExpr{leaf: l}, nil
	}
	return indexExpr{}, d.errf(n, "an index is a constant, or a $variable plus or minus a constant; %s is not supported in VARIABLE", Format(n))
}

// addIndex adds the constant k to an index, refusing sums that overflow.
func (d *displayer) addIndex(n Node, ix indexExpr, k int64) (indexExpr, error) {
	s := ix.add + k
	if (k > 0 && s < ix.add) || (k < 0 && s > ix.add) {
		return indexExpr{}, d.errf(n, "index offset overflows 64 bits")
	}
	ix.add = s
	return ix, nil
}

// leafNesting is how many levels of variable indexes l's path holds.
func leafNesting(l *Leaf) int {
	n := 0
	for _, s := range l.Steps {
		if s.Kind == StepIndex && s.Index != nil {
			n = max(n, 1+leafNesting(s.Index))
		}
	}
	return n
}
