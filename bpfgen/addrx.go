package bpfgen

import (
	"encoding/binary"
	"fmt"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/internal/dwop"
)

// ResolveAddrx rewrites the .debug_addr-indexed operations of a location
// expression (DW_OP_addrx, DW_OP_constx and their GNU forms, which clang
// emits for globals) into DW_OP_addr and DW_OP_const8u, using addr to look up
// an index (the caller knows the unit's DW_AT_addr_base). The generator
// itself never sees .debug_addr. Other operations are copied unchanged.
func ResolveAddrx(expr []byte, addr func(index uint64) (uint64, error)) ([]byte, error) {
	ops, err := decodeExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("resolving DW_OP_addrx: %w", err)
	}
	var out []byte
	at := 0
	for _, o := range ops {
		switch o.code {
		case dwop.Addrx, dwop.Constx, dwop.GNUAddrIndex, dwop.GNUConstIndex:
			a, err := addr(o.u)
			if err != nil {
				return nil, fmt.Errorf("resolving DW_OP_addrx index %d: %w", o.u, err)
			}
			code := byte(dwop.Addr)
			if o.code == dwop.Constx || o.code == dwop.GNUConstIndex {
				code = dwop.Const8u
			}
			out = append(out, code)
			out = binary.LittleEndian.AppendUint64(out, a)
		default:
			out = append(out, expr[at:at+o.len]...)
		}
		at += o.len
	}
	return out, nil
}

// RelocateAddr rewrites every DW_OP_addr of v's location expression, and
// of the index variables of its access path, into DW_OP_const8u of the
// address reloc gives for the operand: an absolute address, which the
// generated code uses as it is instead of moving it by the probed pc's
// load bias (DW_OP_addr). This places the data of a kernel module, whose
// sections the kernel loads each on its own, away from its code. It
// reports whether anything was rewritten; on an error (reloc's) v is
// unchanged. An expression that does not decode is left as it is, for
// generation to report.
func RelocateAddr(v *ir.Var, reloc func(addr uint64) (uint64, error)) (bool, error) {
	expr, changed, err := relocateExpr(v.Expr, reloc)
	if err != nil {
		return false, err
	}
	steps := append([]ir.Step(nil), v.Steps...)
	for i, s := range steps {
		idx, ok := stepValue(s).(ir.StepIndex)
		if !ok {
			continue
		}
		ie, c, err := relocateExpr(idx.Index.Expr, reloc)
		if err != nil {
			return false, err
		}
		if c {
			idx.Index.Expr = ie
			steps[i] = idx
			changed = true
		}
	}
	if changed {
		v.Expr, v.Steps = expr, steps
	}
	return changed, nil
}

func relocateExpr(expr []byte, reloc func(uint64) (uint64, error)) ([]byte, bool, error) {
	if len(expr) == 0 {
		return expr, false, nil
	}
	ops, err := decodeExpr(expr)
	if err != nil {
		// Generation says why it cannot read such a variable.
		return expr, false, nil
	}
	var out []byte
	at, changed := 0, false
	for _, o := range ops {
		if o.code == dwop.Addr {
			a, err := reloc(o.u)
			if err != nil {
				return nil, false, err
			}
			out = append(out, dwop.Const8u)
			out = binary.LittleEndian.AppendUint64(out, a)
			changed = true
		} else {
			out = append(out, expr[at:at+o.len]...)
		}
		at += o.len
	}
	return out, changed, nil
}
