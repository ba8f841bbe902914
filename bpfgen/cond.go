package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/target/abi"
)

// Cond is a condition on an invocation, evaluated by the return program. It is
// a small expression tree so that a parser of the user's condition can target
// it; every node evaluates to a signed 64-bit value, and the condition holds
// when the root is non-zero.
type Cond interface {
	// String renders the condition in the user's syntax.
	String() string
	isCond()
}

// Const is an integer literal.
type Const struct{ V int64 }

// Return is the function's return value ($return), sign-extended from
// Spec.RetSize.
type Return struct{}

// Param is the value a parameter had at function entry, taken from the
// argument registers snapshot.
type Param struct {
	Name   string
	Index  int // position among the integer argument registers: 0 (rdi) .. 5 (r9)
	Size   int // 1, 2, 4 or 8; narrower values are extended
	Signed bool
}

// GlobalAddr is the run-time address of a global variable: Addr, its
// link-time address, plus the load bias the entry program recorded
// (Spec.EntryPC). Name is for String.
type GlobalAddr struct {
	Addr uint64
	Name string
}

// Op is a binary operator.
type Op int

// The operators. Comparisons are signed and yield 0 or 1; && and || yield 0
// or 1 and evaluate both sides (evaluation has no side effects).
const (
	OpEq Op = iota
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpLogAnd
	OpLogOr
	OpAdd
	OpSub
	OpBitAnd
	OpBitOr
	OpMul
	OpXor
	OpShl
	OpShr // arithmetic (signed), as stap's >> on its 64-bit integers
)

var opNames = [...]string{"==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "-", "&", "|", "*", "^", "<<", ">>"}

// String gives the operator as the user writes it.
func (o Op) String() string {
	if int(o) >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// BinOp applies Op to L and R.
type BinOp struct {
	Op   Op
	L, R Cond
}

func (Const) isCond()      {}
func (Return) isCond()     {}
func (Param) isCond()      {}
func (BinOp) isCond()      {}
func (GlobalAddr) isCond() {}

// String renders the address as &@var("name").
func (g GlobalAddr) String() string { return fmt.Sprintf("&@var(%q)", g.Name) }

// String renders the literal in decimal.
func (c Const) String() string { return fmt.Sprint(c.V) }

// String renders $return.
func (Return) String() string { return "$return" }

// String renders the parameter as $name.
func (p Param) String() string { return "$" + p.Name }

// String parenthesises the operation so nesting is unambiguous.
func (b BinOp) String() string { return fmt.Sprintf("(%v %v %v)", b.L, b.Op, b.R) }

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
