package bpfgen

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/internal/dwop"
	"github.com/whythefail/whythefail/internal/leb128"
	"github.com/whythefail/whythefail/target/abi"
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
		case c == dwop.Addr:
			o.u = fixed(8)
		case c == dwop.Const1u:
			o.u = fixed(1)
		case c == dwop.Const2u:
			o.u = fixed(2)
		case c == dwop.Const4u:
			o.u = fixed(4)
		case c == dwop.Const8u:
			o.u = fixed(8)
		case c == dwop.Const1s:
			o.u = uint64(int64(int8(fixed(1))))
		case c == dwop.Const2s:
			o.u = uint64(int64(int16(fixed(2))))
		case c == dwop.Const4s:
			o.u = uint64(int64(int32(fixed(4))))
		case c == dwop.Const8s:
			o.u = fixed(8)
		case c == dwop.Constu, c == dwop.PlusUconst, c == dwop.Regx, c == dwop.Piece,
			c == dwop.Addrx, c == dwop.Constx, c == dwop.GNUAddrIndex, c == dwop.GNUConstIndex:
			o.u = uleb()
		case c == dwop.Consts:
			o.u = uint64(sleb())
		case c == dwop.Pick, c == dwop.DerefSize:
			o.u = fixed(1)
		case c >= dwop.Breg0 && c <= dwop.Breg31, c == dwop.Fbreg:
			o.s = sleb()
		case c == dwop.Bregx:
			o.u = uleb()
			o.s = sleb()
		case c == dwop.ImplicitValue, c == dwop.EntryValue, c == dwop.GNUEntryValue:
			n := uleb()
			if err == nil {
				if n > uint64(len(b)) {
					err = errShort
				} else {
					o.blk, b = b[:n], b[n:]
				}
			}
		case c == dwop.Deref, c == dwop.Dup, c == dwop.Drop, c == dwop.Over, c == dwop.Swap, c == dwop.Rot,
			c == dwop.And, c == dwop.Minus, c == dwop.Mul, c == dwop.Neg, c == dwop.Not, c == dwop.Or, c == dwop.Plus,
			c == dwop.Shl, c == dwop.Shr, c == dwop.Shra, c == dwop.Xor,
			c == dwop.Eq, c == dwop.Ge, c == dwop.Gt, c == dwop.Le, c == dwop.Lt, c == dwop.Ne,
			c >= dwop.Lit0 && c <= dwop.Lit31, c >= dwop.Reg0 && c <= dwop.Reg31,
			c == dwop.Nop, c == dwop.CallFrameCFA, c == dwop.StackValue:
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
	v     *ir.Var
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
		case cd >= dwop.Lit0 && cd <= dwop.Lit31:
			e.emit(asm.Mov.Imm(asm.R0, int32(cd-dwop.Lit0)))
			err = c.push(asm.R0)
		case cd == dwop.Const1u, cd == dwop.Const1s, cd == dwop.Const2u, cd == dwop.Const2s, cd == dwop.Const4u,
			cd == dwop.Const4s, cd == dwop.Const8u, cd == dwop.Const8s, cd == dwop.Constu, cd == dwop.Consts:
			e.loadConst(asm.R0, int64(o.u))
			err = c.push(asm.R0)
		case cd == dwop.Addr:
			// The load bias is how far the probed pc moved at run
			// time: ip - link-time pc (zero for non-PIE).
			e.probedPC(asm.R0)
			e.loadConst(asm.R1, int64(o.u-c.stmt.PC))
			e.emit(asm.Add.Reg(asm.R0, asm.R1))
			err = c.push(asm.R0)
		case cd >= dwop.Reg0 && cd <= dwop.Reg31, cd == dwop.Regx:
			reg = uint64(cd - dwop.Reg0)
			if cd == dwop.Regx {
				reg = o.u
			}
			if _, ok := abi.PtRegsOffset(reg); !ok {
				return 0, 0, 0, unsup("register %d is not in pt_regs", reg)
			}
			kind = locReg
		case cd >= dwop.Breg0 && cd <= dwop.Breg31, cd == dwop.Bregx:
			r := uint64(cd - dwop.Breg0)
			if cd == dwop.Bregx {
				r = o.u
			}
			if err = c.loadReg(asm.R0, r); err != nil {
				break
			}
			e.loadConst(asm.R1, o.s)
			e.emit(asm.Add.Reg(asm.R0, asm.R1))
			err = c.push(asm.R0)
		case cd == dwop.Fbreg:
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
		case cd == dwop.CallFrameCFA:
			if err = c.cfa(); err == nil {
				err = c.push(asm.R0)
			}
		case cd == dwop.EntryValue, cd == dwop.GNUEntryValue:
			sub, derr := decodeExpr(o.blk)
			if derr != nil {
				return 0, 0, 0, unsup("entry value: %v", derr)
			}
			var r uint64
			switch {
			case len(sub) == 1 && sub[0].code >= dwop.Reg0 && sub[0].code <= dwop.Reg31:
				r = uint64(sub[0].code - dwop.Reg0)
			case len(sub) == 1 && sub[0].code == dwop.Regx:
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
		case cd == dwop.Deref, cd == dwop.DerefSize:
			n := 8
			if cd == dwop.DerefSize {
				n = int(o.u)
			}
			if err = c.top(asm.R3, 0); err != nil {
				break
			}
			if err = c.read(asm.R3, n); err != nil {
				break
			}
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R0, asm.DWord))
		case cd == dwop.Dup:
			if err = c.top(asm.R0, 0); err == nil {
				err = c.push(asm.R0)
			}
		case cd == dwop.Over:
			if err = c.top(asm.R0, 1); err == nil {
				err = c.push(asm.R0)
			}
		case cd == dwop.Pick:
			if err = c.top(asm.R0, int(o.u)); err == nil {
				err = c.push(asm.R0)
			}
		case cd == dwop.Drop:
			if c.depth == 0 {
				return 0, 0, 0, unsup("expression stack underflow")
			}
			c.depth--
		case cd == dwop.Swap:
			if err = c.top(asm.R0, 0); err != nil {
				break
			}
			if err = c.top(asm.R1, 1); err != nil {
				break
			}
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R1, asm.DWord),
				asm.StoreMem(asm.RFP, slot(c.depth-2), asm.R0, asm.DWord))
		case cd == dwop.Rot:
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
		case cd == dwop.Neg, cd == dwop.Not, cd == dwop.Abs, cd == dwop.PlusUconst:
			if err = c.top(asm.R0, 0); err != nil {
				break
			}
			switch cd {
			case dwop.Neg:
				e.emit(asm.Neg.Imm(asm.R0, 0))
			case dwop.Not:
				e.emit(asm.Xor.Imm(asm.R0, -1))
			case dwop.Abs:
				skip := e.newLabel("abs")
				e.emit(asm.JSGE.Imm(asm.R0, 0, skip), asm.Neg.Imm(asm.R0, 0))
				e.mark(skip)
			case dwop.PlusUconst:
				e.loadConst(asm.R1, int64(o.u))
				e.emit(asm.Add.Reg(asm.R0, asm.R1))
			}
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R0, asm.DWord))
		case cd == dwop.Plus:
			binop = asm.Add
		case cd == dwop.Minus:
			binop = asm.Sub
		case cd == dwop.Mul:
			binop = asm.Mul
		case cd == dwop.And:
			binop = asm.And
		case cd == dwop.Or:
			binop = asm.Or
		case cd == dwop.Xor:
			binop = asm.Xor
		case cd == dwop.Shl:
			binop = asm.LSh
		case cd == dwop.Shr:
			binop = asm.RSh
		case cd == dwop.Shra:
			binop = asm.ArSh
		case cd == dwop.Eq, cd == dwop.Ne, cd == dwop.Lt, cd == dwop.Le, cd == dwop.Gt, cd == dwop.Ge:
			if err = c.top(asm.R2, 0); err != nil {
				break
			}
			if err = c.top(asm.R1, 1); err != nil {
				break
			}
			jop := map[byte]asm.JumpOp{dwop.Eq: asm.JEq, dwop.Ne: asm.JNE, dwop.Lt: asm.JSLT,
				dwop.Le: asm.JSLE, dwop.Gt: asm.JSGT, dwop.Ge: asm.JSGE}[cd]
			done := e.newLabel("cmp")
			e.emit(asm.Mov.Imm(asm.R0, 1), jop.Reg(asm.R1, asm.R2, done), asm.Mov.Imm(asm.R0, 0))
			e.mark(done)
			c.depth--
			e.emit(asm.StoreMem(asm.RFP, slot(c.depth-1), asm.R0, asm.DWord))
		case cd == dwop.StackValue:
			if c.depth == 0 {
				return 0, 0, 0, unsup("DW_OP_stack_value on an empty stack")
			}
			kind = locValue
		case cd == dwop.ImplicitValue:
			if i != 0 || len(o.blk) > 8 {
				return 0, 0, 0, unsup("implicit value of %d bytes", len(o.blk))
			}
			for j := len(o.blk) - 1; j >= 0; j-- {
				imm = imm<<8 | uint64(o.blk[j])
			}
			kind = locImplicit
		case cd == dwop.Nop:
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
func compileVar(e *emitter, st *Stmt, v *ir.Var, fail string) error {
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
		if o.code == dwop.BitPiece {
			return unsup("DW_OP_bit_piece")
		}
		if o.code == dwop.Piece {
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
func compilePiece(e *emitter, st *Stmt, v *ir.Var, ops []op, size int, fail string) error {
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
