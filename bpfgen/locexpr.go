package bpfgen

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/internal/leb128"
	"github.com/whythefail/whythefail/target/abi"
)

// DWARF expression opcodes this package knows (DWARF 5, section 7.7.1).
const (
	opAddr          = 0x03
	opDeref         = 0x06
	opConst1u       = 0x08
	opConst1s       = 0x09
	opConst2u       = 0x0a
	opConst2s       = 0x0b
	opConst4u       = 0x0c
	opConst4s       = 0x0d
	opConst8u       = 0x0e
	opConst8s       = 0x0f
	opConstu        = 0x10
	opConsts        = 0x11
	opDup           = 0x12
	opDrop          = 0x13
	opOver          = 0x14
	opPick          = 0x15
	opSwap          = 0x16
	opRot           = 0x17
	opAbs           = 0x19
	opAnd           = 0x1a
	opDiv           = 0x1b
	opMinus         = 0x1c
	opMod           = 0x1d
	opMul           = 0x1e
	opNeg           = 0x1f
	opNot           = 0x20
	opOr            = 0x21
	opPlus          = 0x22
	opPlusUconst    = 0x23
	opShl           = 0x24
	opShr           = 0x25
	opShra          = 0x26
	opXor           = 0x27
	opBra           = 0x28
	opEq            = 0x29
	opGe            = 0x2a
	opGt            = 0x2b
	opLe            = 0x2c
	opLt            = 0x2d
	opNe            = 0x2e
	opSkip          = 0x2f
	opLit0          = 0x30
	opLit31         = 0x4f
	opReg0          = 0x50
	opReg31         = 0x6f
	opBreg0         = 0x70
	opBreg31        = 0x8f
	opRegx          = 0x90
	opFbreg         = 0x91
	opBregx         = 0x92
	opPiece         = 0x93
	opDerefSize     = 0x94
	opNop           = 0x96
	opCallFrameCFA  = 0x9c
	opBitPiece      = 0x9d
	opImplicitValue = 0x9e
	opStackValue    = 0x9f
	opEntryValue    = 0xa3
	opGNUEntryValue = 0xf3
)

// op is one decoded DWARF operation.
type op struct {
	code byte
	u    uint64 // first operand (unsigned view)
	s    int64  // signed operand (breg/fbreg/bregx offset, constNs)
	blk  []byte // implicit_value bytes, entry_value sub-expression
	len  int    // encoded length, opcode included
}

var errShort = errors.New("expression ends inside an operand")

// decodeExpr splits a DWARF expression into operations. Opcodes it cannot
// compile are reported here, so a half-understood expression never runs.
func decodeExpr(b []byte) ([]op, error) {
	var ops []op
	for len(b) > 0 {
		o := op{code: b[0]}
		start := len(b)
		b = b[1:]
		var err error
		fixed := func(n int) uint64 {
			if len(b) < n {
				err = errShort
				return 0
			}
			var v uint64
			for i := n - 1; i >= 0; i-- {
				v = v<<8 | uint64(b[i])
			}
			b = b[n:]
			return v
		}
		uleb := func() uint64 {
			v, n := leb128.Uint(b)
			if n == 0 {
				err = errShort
				return 0
			}
			b = b[n:]
			return v
		}
		sleb := func() int64 {
			v, n := leb128.Int(b)
			if n == 0 {
				err = errShort
				return 0
			}
			b = b[n:]
			return v
		}
		switch c := o.code; {
		case c == opAddr:
			o.u = fixed(8)
		case c == opConst1u:
			o.u = fixed(1)
		case c == opConst2u:
			o.u = fixed(2)
		case c == opConst4u:
			o.u = fixed(4)
		case c == opConst8u:
			o.u = fixed(8)
		case c == opConst1s:
			o.u = uint64(int64(int8(fixed(1))))
		case c == opConst2s:
			o.u = uint64(int64(int16(fixed(2))))
		case c == opConst4s:
			o.u = uint64(int64(int32(fixed(4))))
		case c == opConst8s:
			o.u = fixed(8)
		case c == opConstu, c == opPlusUconst, c == opRegx, c == opPiece,
			c == opAddrx, c == opConstx, c == opGNUAddrIndex, c == opGNUConstIndex:
			o.u = uleb()
		case c == opConsts:
			o.u = uint64(sleb())
		case c == opPick, c == opDerefSize:
			o.u = fixed(1)
		case c >= opBreg0 && c <= opBreg31, c == opFbreg:
			o.s = sleb()
		case c == opBregx:
			o.u = uleb()
			o.s = sleb()
		case c == opImplicitValue, c == opEntryValue, c == opGNUEntryValue:
			n := uleb()
			if err == nil {
				if n > uint64(len(b)) {
					err = errShort
				} else {
					o.blk, b = b[:n], b[n:]
				}
			}
		case c == opDeref, c == opDup, c == opDrop, c == opOver, c == opSwap, c == opRot,
			c == opAnd, c == opMinus, c == opMul, c == opNeg, c == opNot, c == opOr, c == opPlus,
			c == opShl, c == opShr, c == opShra, c == opXor,
			c == opEq, c == opGe, c == opGt, c == opLe, c == opLt, c == opNe,
			c >= opLit0 && c <= opLit31, c >= opReg0 && c <= opReg31,
			c == opNop, c == opCallFrameCFA, c == opStackValue:
		default:
			return nil, fmt.Errorf("unsupported DWARF operation 0x%02x", c)
		}
		if err != nil {
			return nil, fmt.Errorf("operation 0x%02x: %w", o.code, err)
		}
		o.len = start - len(b)
		ops = append(ops, o)
	}
	return ops, nil
}

// locKind says what a location expression left behind.
type locKind int

const (
	locMem      locKind = iota // top of stack is the variable's address
	locReg                     // the variable is in register reg
	locValue                   // top of stack is the value (DW_OP_stack_value)
	locImplicit                // the value is the constant imm (DW_OP_implicit_value)
)

// locCompiler turns one variable's location expression into instructions that
// leave its value in R0, or jump to fail when reading memory fails.
type locCompiler struct {
	e     *emitter
	stmt  *Stmt
	v     *Var
	fail  string
	depth int // DWARF stack depth, known statically since branches are refused
}

type unsupported string

func (u unsupported) Error() string { return string(u) }

func unsup(format string, args ...any) error { return unsupported(fmt.Sprintf(format, args...)) }

// loadReg puts the value of a DWARF register in dst.
func (c *locCompiler) loadReg(dst asm.Register, reg uint64) error {
	off, ok := abi.PtRegsOffset(reg)
	if !ok {
		return unsup("register %d is not in pt_regs", reg)
	}
	c.e.emit(asm.LoadMem(dst, rCtx, off, asm.DWord))
	return nil
}

// push stores src as the new top of the expression stack.
func (c *locCompiler) push(src asm.Register) error {
	if c.depth >= stackSlots {
		return unsup("expression stack deeper than %d", stackSlots)
	}
	c.e.emit(asm.StoreMem(asm.RFP, slot(c.depth), src, asm.DWord))
	c.depth++
	return nil
}

// top loads stack entry n from the top (0 = top) into dst.
func (c *locCompiler) top(dst asm.Register, n int) error {
	if n >= c.depth {
		return unsup("expression stack underflow")
	}
	c.e.emit(asm.LoadMem(dst, asm.RFP, slot(c.depth-1-n), asm.DWord))
	return nil
}

// read reads size bytes of user memory at the address in addr into R0
// (zero-extended), jumping to fail when the read faults.
func (c *locCompiler) read(addr asm.Register, size int) error {
	var sz asm.Size
	switch size {
	case 1:
		sz = asm.Byte
	case 2:
		sz = asm.Half
	case 4:
		sz = asm.Word
	case 8:
		sz = asm.DWord
	default:
		return unsup("cannot read %d bytes", size)
	}
	if addr != asm.R3 {
		c.e.emit(asm.Mov.Reg(asm.R3, addr))
	}
	c.e.stackPtr(asm.R1, fpReadTmp)
	c.e.emit(asm.Mov.Imm(asm.R2, int32(size)))
	c.e.probeRead()
	c.e.emit(asm.JNE.Imm(asm.R0, 0, c.fail),
		asm.LoadMem(asm.R0, asm.RFP, fpReadTmp, sz))
	return nil
}

// cfa puts the canonical frame address in R0.
func (c *locCompiler) cfa() error {
	if !c.stmt.CFA.known() {
		return unsup("no CFA rule at this address")
	}
	if err := c.loadReg(asm.R0, c.stmt.CFA.Reg); err != nil {
		return err
	}
	c.e.loadConst(asm.R1, c.stmt.CFA.Offset)
	c.e.emit(asm.Add.Reg(asm.R0, asm.R1))
	return nil
}

// run compiles ops, which must form one simple location (no pieces), and says
// what kind of location it produced. reg is set for locReg, imm for locImplicit.
func (c *locCompiler) run(ops []op, frameBase bool) (kind locKind, reg uint64, imm uint64, err error) {
	e := c.e
	kind = locMem
	for i, o := range ops {
		if kind != locMem {
			return 0, 0, 0, unsup("operation 0x%02x after a register or value location", o.code)
		}
		var binop asm.ALUOp = 0xff
		switch cd := o.code; {
		case cd >= opLit0 && cd <= opLit31:
			e.emit(asm.Mov.Imm(asm.R0, int32(cd-opLit0)))
			err = c.push(asm.R0)
		case cd == opConst1u, cd == opConst1s, cd == opConst2u, cd == opConst2s, cd == opConst4u,
			cd == opConst4s, cd == opConst8u, cd == opConst8s, cd == opConstu, cd == opConsts:
			e.loadConst(asm.R0, int64(o.u))
			err = c.push(asm.R0)
		case cd == opAddr:
			// The load bias is how far the probed pc moved at run
			// time: ip - link-time pc (zero for non-PIE).
			e.probedPC(asm.R0)
			e.loadConst(asm.R1, int64(o.u-c.stmt.PC))
			e.emit(asm.Add.Reg(asm.R0, asm.R1))
			err = c.push(asm.R0)
		case cd >= opReg0 && cd <= opReg31, cd == opRegx:
			reg = uint64(cd - opReg0)
			if cd == opRegx {
				reg = o.u
			}
			if _, ok := abi.PtRegsOffset(reg); !ok {
				return 0, 0, 0, unsup("register %d is not in pt_regs", reg)
			}
			kind = locReg
		case cd >= opBreg0 && cd <= opBreg31, cd == opBregx:
			r := uint64(cd - opBreg0)
			if cd == opBregx {
				r = o.u
			}
			if err = c.loadReg(asm.R0, r); err != nil {
				break
			}
			e.loadConst(asm.R1, o.s)
			e.emit(asm.Add.Reg(asm.R0, asm.R1))
			err = c.push(asm.R0)
		case cd == opFbreg:
			if frameBase {
				return 0, 0, 0, unsup("DW_OP_fbreg inside the frame base")
			}
			if err = c.frameBase(); err != nil {
				break
			}
			if err = c.top(asm.R0, 0); err != nil {
				break
			}
			e.loadConst(asm.R1, o.s)
			e.emit(asm.Add.Reg(asm.R0, asm.R1),
				asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R0, asm.DWord))
		case cd == opCallFrameCFA:
			if err = c.cfa(); err == nil {
				err = c.push(asm.R0)
			}
		case cd == opEntryValue, cd == opGNUEntryValue:
			sub, derr := decodeExpr(o.blk)
			if derr != nil {
				return 0, 0, 0, unsup("entry value: %v", derr)
			}
			var r uint64
			switch {
			case len(sub) == 1 && sub[0].code >= opReg0 && sub[0].code <= opReg31:
				r = uint64(sub[0].code - opReg0)
			case len(sub) == 1 && sub[0].code == opRegx:
				r = sub[0].u
			default:
				return 0, 0, 0, unsup("entry value of something other than a register")
			}
			idx, ok := abi.ArgIndex(r)
			if !ok {
				return 0, 0, 0, unsup("entry value of register %d, which is not an argument register", r)
			}
			e.emit(asm.LoadMem(asm.R0, rBuf, int16(OffArgs+8*idx), asm.DWord))
			err = c.push(asm.R0)
		case cd == opDeref, cd == opDerefSize:
			n := 8
			if cd == opDerefSize {
				n = int(o.u)
			}
			if err = c.top(asm.R3, 0); err != nil {
				break
			}
			if err = c.read(asm.R3, n); err != nil {
				break
			}
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R0, asm.DWord))
		case cd == opDup:
			if err = c.top(asm.R0, 0); err == nil {
				err = c.push(asm.R0)
			}
		case cd == opOver:
			if err = c.top(asm.R0, 1); err == nil {
				err = c.push(asm.R0)
			}
		case cd == opPick:
			if err = c.top(asm.R0, int(o.u)); err == nil {
				err = c.push(asm.R0)
			}
		case cd == opDrop:
			if c.depth == 0 {
				return 0, 0, 0, unsup("expression stack underflow")
			}
			c.depth--
		case cd == opSwap:
			if err = c.top(asm.R0, 0); err != nil {
				break
			}
			if err = c.top(asm.R1, 1); err != nil {
				break
			}
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R1, asm.DWord),
				asm.StoreMem(asm.RFP, slot(c.depth-2), asm.R0, asm.DWord))
		case cd == opRot:
			if c.depth < 3 {
				return 0, 0, 0, unsup("expression stack underflow")
			}
			// (a b c -- c a b): top moves down two places.
			_ = c.top(asm.R0, 0)
			_ = c.top(asm.R1, 1)
			_ = c.top(asm.R2, 2)
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R1, asm.DWord),
				asm.StoreMem(asm.RFP, slot(c.depth-2), asm.R2, asm.DWord),
				asm.StoreMem(asm.RFP, slot(c.depth-3), asm.R0, asm.DWord))
		case cd == opNeg, cd == opNot, cd == opAbs, cd == opPlusUconst:
			if err = c.top(asm.R0, 0); err != nil {
				break
			}
			switch cd {
			case opNeg:
				e.emit(asm.Neg.Imm(asm.R0, 0))
			case opNot:
				e.emit(asm.Xor.Imm(asm.R0, -1))
			case opAbs:
				skip := e.newLabel("abs")
				e.emit(asm.JSGE.Imm(asm.R0, 0, skip), asm.Neg.Imm(asm.R0, 0))
				e.mark(skip)
			case opPlusUconst:
				e.loadConst(asm.R1, int64(o.u))
				e.emit(asm.Add.Reg(asm.R0, asm.R1))
			}
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R0, asm.DWord))
		case cd == opPlus:
			binop = asm.Add
		case cd == opMinus:
			binop = asm.Sub
		case cd == opMul:
			binop = asm.Mul
		case cd == opAnd:
			binop = asm.And
		case cd == opOr:
			binop = asm.Or
		case cd == opXor:
			binop = asm.Xor
		case cd == opShl:
			binop = asm.LSh
		case cd == opShr:
			binop = asm.RSh
		case cd == opShra:
			binop = asm.ArSh
		case cd == opEq, cd == opNe, cd == opLt, cd == opLe, cd == opGt, cd == opGe:
			if err = c.top(asm.R2, 0); err != nil {
				break
			}
			if err = c.top(asm.R1, 1); err != nil {
				break
			}
			jop := map[byte]asm.JumpOp{opEq: asm.JEq, opNe: asm.JNE, opLt: asm.JSLT,
				opLe: asm.JSLE, opGt: asm.JSGT, opGe: asm.JSGE}[cd]
			done := e.newLabel("cmp")
			e.emit(asm.Mov.Imm(asm.R0, 1), jop.Reg(asm.R1, asm.R2, done), asm.Mov.Imm(asm.R0, 0))
			e.mark(done)
			c.depth--
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R0, asm.DWord))
		case cd == opStackValue:
			if c.depth == 0 {
				return 0, 0, 0, unsup("DW_OP_stack_value on an empty stack")
			}
			kind = locValue
		case cd == opImplicitValue:
			if i != 0 || len(o.blk) > 8 {
				return 0, 0, 0, unsup("implicit value of %d bytes", len(o.blk))
			}
			for j := len(o.blk) - 1; j >= 0; j-- {
				imm = imm<<8 | uint64(o.blk[j])
			}
			kind = locImplicit
		case cd == opNop:
		default:
			return 0, 0, 0, unsup("DWARF operation 0x%02x not supported here", cd)
		}
		if err != nil {
			return 0, 0, 0, err
		}
		if binop != 0xff {
			if err = c.top(asm.R2, 0); err != nil {
				return 0, 0, 0, err
			}
			if err = c.top(asm.R1, 1); err != nil {
				return 0, 0, 0, err
			}
			e.emit(binop.Reg(asm.R1, asm.R2))
			c.depth--
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R1, asm.DWord))
		}
	}
	if kind == locMem && c.depth == 0 {
		return 0, 0, 0, unsup("empty location")
	}
	return kind, reg, imm, nil
}

// frameBase pushes the frame base of the enclosing subprogram.
func (c *locCompiler) frameBase() error {
	if len(c.v.FrameBase) == 0 {
		return unsup("DW_OP_fbreg without a frame base")
	}
	ops, err := decodeExpr(c.v.FrameBase)
	if err != nil {
		return unsup("frame base: %v", err)
	}
	kind, reg, _, err := c.run(ops, true)
	if err != nil {
		return err
	}
	switch kind {
	case locReg:
		// A register location as frame base means the register's
		// contents are the base address.
		if err := c.loadReg(asm.R0, reg); err != nil {
			return err
		}
		return c.push(asm.R0)
	case locMem, locValue:
		return nil // the address is on top of the stack
	}
	return unsup("frame base is an implicit value")
}

// piece is one part of a composite location.
type piece struct {
	ops  []op
	size int
}

// compileVar emits code leaving the value of v in R0 (truncated to its size
// and extended) or jumping to fail. An error means the variable cannot be read
// exactly at this statement; nothing usable was emitted then and the caller
// discards the instructions.
func compileVar(e *emitter, st *Stmt, v *Var, fail string) error {
	if v.Errno {
		compileErrnoRead(e, fail)
		return nil
	}
	if len(v.Steps) > 0 {
		return compileAccess(e, st, v, fail)
	}
	switch v.Size {
	case 1, 2, 4, 8:
	default:
		return unsup("size %d is not a scalar size", v.Size)
	}
	if len(v.Expr) == 0 {
		return unsup("no location at this address")
	}
	ops, err := decodeExpr(v.Expr)
	if err != nil {
		return unsup("%v", err)
	}
	var pieces []piece
	start := 0
	for i, o := range ops {
		if o.code == opBitPiece {
			return unsup("DW_OP_bit_piece")
		}
		if o.code == opPiece {
			pieces = append(pieces, piece{ops: ops[start:i], size: int(o.u)})
			start = i + 1
		}
	}
	if len(pieces) == 0 {
		return compilePiece(e, st, v, ops, v.Size, fail)
	}
	if start != len(ops) {
		return unsup("operations after the last DW_OP_piece")
	}
	if pieces[0].size >= v.Size && len(pieces[0].ops) > 0 {
		// The first piece covers the whole scalar.
		return compilePiece(e, st, v, pieces[0].ops, v.Size, fail)
	}
	// Assemble pieces into one value, low bytes first. Every byte of the
	// scalar must come from a real location, or the value would be wrong.
	total := 0
	for _, p := range pieces {
		if len(p.ops) == 0 {
			return unsup("part of the value is optimized out")
		}
		switch p.size {
		case 1, 2, 4, 8:
		default:
			return unsup("piece of %d bytes", p.size)
		}
		total += p.size
		if total >= v.Size {
			break
		}
	}
	if total < v.Size || total > 8 {
		return unsup("composite location of %d bytes for a %d-byte variable", total, v.Size)
	}
	e.emit(asm.Mov.Imm(asm.R0, 0), asm.StoreMem(asm.RFP, fpStack-8*stackSlots, asm.R0, asm.DWord))
	off := 0
	for _, p := range pieces {
		if off >= v.Size {
			break
		}
		if err := compilePiece(e, st, v, p.ops, p.size, fail); err != nil {
			return err
		}
		e.extend(asm.R0, p.size, false)
		if off > 0 {
			e.emit(asm.LSh.Imm(asm.R0, int32(8*off)))
		}
		e.emit(asm.LoadMem(asm.R1, asm.RFP, fpStack-8*stackSlots, asm.DWord),
			asm.Or.Reg(asm.R1, asm.R0),
			asm.StoreMem(asm.RFP, fpStack-8*stackSlots, asm.R1, asm.DWord))
		off += p.size
	}
	e.emit(asm.LoadMem(asm.R0, asm.RFP, fpStack-8*stackSlots, asm.DWord))
	e.extend(asm.R0, v.Size, v.Signed)
	return nil
}

// compilePiece evaluates one simple location and fetches size bytes of it
// into R0, extended as the variable asks.
func compilePiece(e *emitter, st *Stmt, v *Var, ops []op, size int, fail string) error {
	c := &locCompiler{e: e, stmt: st, v: v, fail: fail}
	kind, reg, imm, err := c.run(ops, false)
	if err != nil {
		return err
	}
	switch kind {
	case locReg:
		if err := c.loadReg(asm.R0, reg); err != nil {
			return err
		}
	case locValue:
		if err := c.top(asm.R0, 0); err != nil {
			return err
		}
	case locImplicit:
		e.loadConst(asm.R0, int64(imm))
	case locMem:
		if err := c.top(asm.R3, 0); err != nil {
			return err
		}
		if err := c.read(asm.R3, size); err != nil {
			return err
		}
	}
	e.extend(asm.R0, size, v.Signed)
	return nil
}
