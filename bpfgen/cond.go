package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/target/abi"
)

// compileCond emits code storing the value of c in expression slot n. The
// return value must already be in the buffer header (rBuf).
func compileCond(e *emitter, c ir.Cond, n int) error {
	if n >= stackSlots {
		return fmt.Errorf("condition nests deeper than %d", stackSlots)
	}
	switch c := c.(type) {
	case ir.Const:
		e.loadConst(asm.R0, c.V)
	case *ir.Const:
		return compileCond(e, *c, n)
	case ir.Return, *ir.Return:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffReturn, asm.DWord))
	case ir.Param:
		if c.Index < 0 || c.Index >= len(abi.ArgRegs) {
			return fmt.Errorf("parameter %s: argument %d is not passed in a register", c.Name, c.Index)
		}
		switch c.Size {
		case 1, 2, 4, 8:
		default:
			return fmt.Errorf("parameter %s: size %d is not a scalar size", c.Name, c.Size)
		}
		e.emit(asm.LoadMem(asm.R0, rBuf, int16(OffArgs+8*c.Index), asm.DWord))
		e.extend(asm.R0, c.Size, c.Signed)
	case *ir.Param:
		return compileCond(e, *c, n)
	case ir.BinOp:
		if err := compileCond(e, c.L, n); err != nil {
			return err
		}
		if err := compileCond(e, c.R, n+1); err != nil {
			return err
		}
		e.emit(asm.LoadMem(asm.R1, asm.RFP, slot(n), asm.DWord),
			asm.LoadMem(asm.R2, asm.RFP, slot(n+1), asm.DWord))
		var jop asm.JumpOp
		switch c.Op {
		case ir.OpAdd:
			e.emit(asm.Add.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpSub:
			e.emit(asm.Sub.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpBitAnd:
			e.emit(asm.And.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpBitOr:
			e.emit(asm.Or.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpMul:
			e.emit(asm.Mul.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpXor:
			e.emit(asm.Xor.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpShl, ir.OpShr:
			// Shift counts are taken modulo 64, as x86 does, so the
			// result never depends on the JIT.
			e.emit(asm.And.Imm(asm.R2, 63))
			if c.Op == ir.OpShl {
				e.emit(asm.LSh.Reg(asm.R1, asm.R2))
			} else {
				e.emit(asm.ArSh.Reg(asm.R1, asm.R2))
			}
			e.emit(asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpLogAnd, ir.OpLogOr:
			// Normalise both sides to 0/1, then combine bitwise.
			for _, r := range []asm.Register{asm.R1, asm.R2} {
				z := e.newLabel("bool")
				e.emit(asm.JEq.Imm(r, 0, z), asm.Mov.Imm(r, 1))
				e.mark(z)
			}
			if c.Op == ir.OpLogAnd {
				e.emit(asm.And.Reg(asm.R1, asm.R2))
			} else {
				e.emit(asm.Or.Reg(asm.R1, asm.R2))
			}
			e.emit(asm.Mov.Reg(asm.R0, asm.R1))
		case ir.OpEq:
			jop = asm.JEq
		case ir.OpNe:
			jop = asm.JNE
		case ir.OpLt:
			jop = asm.JSLT
		case ir.OpLe:
			jop = asm.JSLE
		case ir.OpGt:
			jop = asm.JSGT
		case ir.OpGe:
			jop = asm.JSGE
		default:
			return fmt.Errorf("unknown operator %v", c.Op)
		}
		if jop != 0 || c.Op == ir.OpEq {
			done := e.newLabel("cmp")
			e.emit(asm.Mov.Imm(asm.R0, 1), jop.Reg(asm.R1, asm.R2, done), asm.Mov.Imm(asm.R0, 0))
			e.mark(done)
		}
	case *ir.BinOp:
		return compileCond(e, *c, n)
	case ir.Unary:
		if err := compileCond(e, c.X, n); err != nil {
			return err
		}
		e.emit(asm.LoadMem(asm.R0, asm.RFP, slot(n), asm.DWord))
		switch c.Op {
		case ir.UnNot:
			done := e.newLabel("not")
			e.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R0, 1), asm.JEq.Imm(asm.R1, 0, done), asm.Mov.Imm(asm.R0, 0))
			e.mark(done)
		case ir.UnNeg:
			e.emit(asm.Neg.Imm(asm.R0, 0))
		case ir.UnBitNot:
			e.emit(asm.Xor.Imm(asm.R0, -1))
		default:
			return fmt.Errorf("unknown unary operator %v", c.Op)
		}
	case *ir.Unary:
		return compileCond(e, *c, n)
	case ir.GlobalAddr:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffBias, asm.DWord))
		e.loadConst(asm.R1, int64(c.Addr))
		e.emit(asm.Add.Reg(asm.R0, asm.R1))
	case *ir.GlobalAddr:
		return compileCond(e, *c, n)
	case ir.Errno, *ir.Errno:
		compileErrnoCond(e)
	case ir.Pid, *ir.Pid:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffPID, asm.Word))
	case ir.Tid, *ir.Tid:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffTID, asm.Word))
	case ir.Uid, *ir.Uid:
		e.emit(asm.FnGetCurrentUidGid.Call(), asm.LSh.Imm(asm.R0, 32), asm.RSh.Imm(asm.R0, 32))
	case ir.Randint:
		if c.N <= 0 {
			return fmt.Errorf("randint(%d): the bound must be positive", c.N)
		}
		e.emit(asm.FnGetPrandomU32.Call())
		e.loadConst(asm.R1, c.N)
		e.emit(asm.Mod.Reg(asm.R0, asm.R1))
	case *ir.Randint:
		return compileCond(e, *c, n)
	case ir.CommEq:
		compileCommEq(e, c.S)
	case *ir.CommEq:
		return compileCond(e, *c, n)
	case ir.UserStrEq:
		if err := compileUserStrEq(e, c, n); err != nil {
			return err
		}
	case ir.Load:
		if err := compileLoad(e, c, n); err != nil {
			return err
		}
	case *ir.UserStrEq:
		return compileCond(e, *c, n)
	case nil:
		e.emit(asm.Mov.Imm(asm.R0, 1))
	default:
		return fmt.Errorf("unknown condition node %T", c)
	}
	e.emit(asm.StoreMem(asm.RFP, slot(n), asm.R0, asm.DWord))
	return nil
}
