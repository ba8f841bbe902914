package expr

import (
	"encoding/binary"
	"fmt"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/internal/dwop"
	"github.com/whythefail/whythefail/target/abi"
)

// read turns one leaf into what the generator reads at the statement.
func (sc Scope) read(l Leaf) ir.Var {
	bv := ir.Var{FrameBase: sc.FrameBase, Size: l.Size, Signed: l.Signed, Str: l.Str}
	for _, s := range l.Steps {
		switch s.Kind {
		case StepAdd:
			bv.Steps = append(bv.Steps, ir.StepAdd{Off: s.Off})
		case StepDeref:
			bv.Steps = append(bv.Steps, ir.StepDeref{})
		case StepAddrOf:
			bv.Steps = append(bv.Steps, ir.StepAddrOf{})
		case StepIndex:
			// The index is located at this statement like any
			// variable; unavailable there, it has no location and the
			// generator makes the whole value unavailable.
			var idx ir.Var
			if s.Index != nil {
				idx = sc.read(*s.Index)
			}
			bv.Steps = append(bv.Steps, ir.StepIndex{Index: idx, Add: s.Off, Scale: s.Scale, Len: s.Len})
		}
	}
	switch {
	case l.Errno:
		bv.Name, bv.Errno = "errno()", true
	case l.Global:
		bv.Name = fmt.Sprintf("global@%#x", l.Addr)
		e := make([]byte, 9)
		e[0] = dwop.Addr
		binary.LittleEndian.PutUint64(e[1:], l.Addr)
		bv.Expr = e
	case l.Var == nil || l.Unavailable:
		if l.Var != nil {
			bv.Name = l.Var.Name
		}
	default:
		v := l.Var
		bv.Name = v.Name
		if sc.BeforePrologue {
			if prm, ok := sc.Params[v.Name]; ok && v.Param {
				bv.Expr = []byte{dwop.Reg0 + byte(abi.ArgRegs[prm.Index])}
			}
			break
		}
		// display found the location at this statement (Leaf.Loc).
		if sc.Addrx == nil || len(l.Loc) == 0 {
			break
		}
		if e, err := sc.Addrx(l.Loc, v.AddrIndex); err == nil {
			bv.Expr = e
		}
	}
	return bv
}
