package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/target/abi"
)

// compileCond emits code storing the value of c in expression slot n. The
// return value must already be in the buffer header (rBuf).
func compileCond(e *emitter, c Cond, n int) error {
	if n >= stackSlots {
		return fmt.Errorf("condition nests deeper than %d", stackSlots)
	}
	switch c := c.(type) {
	case Const:
		e.loadConst(asm.R0, c.V)
	case *Const:
		return compileCond(e, *c, n)
	case Return, *Return:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffReturn, asm.DWord))
	case Param:
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
	case *Param:
		return compileCond(e, *c, n)
	case BinOp:
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
		case OpAdd:
			e.emit(asm.Add.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case OpSub:
			e.emit(asm.Sub.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case OpBitAnd:
			e.emit(asm.And.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case OpBitOr:
			e.emit(asm.Or.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case OpMul:
			e.emit(asm.Mul.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case OpXor:
			e.emit(asm.Xor.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		case OpShl, OpShr:
			// Shift counts are taken modulo 64, as x86 does, so the
			// result never depends on the JIT.
			e.emit(asm.And.Imm(asm.R2, 63))
			if c.Op == OpShl {
				e.emit(asm.LSh.Reg(asm.R1, asm.R2))
			} else {
				e.emit(asm.ArSh.Reg(asm.R1, asm.R2))
			}
			e.emit(asm.Mov.Reg(asm.R0, asm.R1))
		case OpLogAnd, OpLogOr:
			// Normalise both sides to 0/1, then combine bitwise.
			for _, r := range []asm.Register{asm.R1, asm.R2} {
				z := e.newLabel("bool")
				e.emit(asm.JEq.Imm(r, 0, z), asm.Mov.Imm(r, 1))
				e.mark(z)
			}
			if c.Op == OpLogAnd {
				e.emit(asm.And.Reg(asm.R1, asm.R2))
			} else {
				e.emit(asm.Or.Reg(asm.R1, asm.R2))
			}
			e.emit(asm.Mov.Reg(asm.R0, asm.R1))
		case OpEq:
			jop = asm.JEq
		case OpNe:
			jop = asm.JNE
		case OpLt:
			jop = asm.JSLT
		case OpLe:
			jop = asm.JSLE
		case OpGt:
			jop = asm.JSGT
		case OpGe:
			jop = asm.JSGE
		default:
			return fmt.Errorf("unknown operator %v", c.Op)
		}
		if jop != 0 || c.Op == OpEq {
			done := e.newLabel("cmp")
			e.emit(asm.Mov.Imm(asm.R0, 1), jop.Reg(asm.R1, asm.R2, done), asm.Mov.Imm(asm.R0, 0))
			e.mark(done)
		}
	case *BinOp:
		return compileCond(e, *c, n)
	case Unary:
		if err := compileCond(e, c.X, n); err != nil {
			return err
		}
		e.emit(asm.LoadMem(asm.R0, asm.RFP, slot(n), asm.DWord))
		switch c.Op {
		case UnNot:
			done := e.newLabel("not")
			e.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R0, 1), asm.JEq.Imm(asm.R1, 0, done), asm.Mov.Imm(asm.R0, 0))
			e.mark(done)
		case UnNeg:
			e.emit(asm.Neg.Imm(asm.R0, 0))
		case UnBitNot:
			e.emit(asm.Xor.Imm(asm.R0, -1))
		default:
			return fmt.Errorf("unknown unary operator %v", c.Op)
		}
	case *Unary:
		return compileCond(e, *c, n)
	case GlobalAddr:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffBias, asm.DWord))
		e.loadConst(asm.R1, int64(c.Addr))
		e.emit(asm.Add.Reg(asm.R0, asm.R1))
	case *GlobalAddr:
		return compileCond(e, *c, n)
	case Errno, *Errno:
		compileErrnoCond(e)
	case Pid, *Pid:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffPID, asm.Word))
	case Tid, *Tid:
		e.emit(asm.LoadMem(asm.R0, rBuf, OffTID, asm.Word))
	case Uid, *Uid:
		e.emit(asm.FnGetCurrentUidGid.Call(), asm.LSh.Imm(asm.R0, 32), asm.RSh.Imm(asm.R0, 32))
	case Randint:
		if c.N <= 0 {
			return fmt.Errorf("randint(%d): the bound must be positive", c.N)
		}
		e.emit(asm.FnGetPrandomU32.Call())
		e.loadConst(asm.R1, c.N)
		e.emit(asm.Mod.Reg(asm.R0, asm.R1))
	case *Randint:
		return compileCond(e, *c, n)
	case CommEq:
		compileCommEq(e, c.S)
	case *CommEq:
		return compileCond(e, *c, n)
	case UserStrEq:
		if err := compileUserStrEq(e, c, n); err != nil {
			return err
		}
	case Load:
		if err := compileLoad(e, c, n); err != nil {
			return err
		}
	case *UserStrEq:
		return compileCond(e, *c, n)
	case nil:
		e.emit(asm.Mov.Imm(asm.R0, 1))
	default:
		return fmt.Errorf("unknown condition node %T", c)
	}
	e.emit(asm.StoreMem(asm.RFP, slot(n), asm.R0, asm.DWord))
	return nil
}
