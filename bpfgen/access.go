package bpfgen

import (
	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/internal/dwop"
)

// fpStrPtr keeps a string's pointer across the helper calls that read it.
const fpStrPtr = fpStack - 8*(stackSlots+1)

// compileBase evaluates v's location expression and leaves in R0 either the
// object's address (addr true) or its whole 64-bit value (addr false).
// Composite locations (pieces) always give a value: their parts need not be
// contiguous in memory, so no address of the whole exists.
func compileBase(e *emitter, st *Stmt, v *ir.Var, fail string) (addr bool, err error) {
	if len(v.Expr) == 0 {
		return false, unsup("no location at this address")
	}
	ops, err := decodeExpr(v.Expr)
	if err != nil {
		return false, unsup("%v", err)
	}
	for _, o := range ops {
		if o.code == dwop.Piece || o.code == dwop.BitPiece {
			whole := ir.Var{Name: v.Name, Expr: v.Expr, FrameBase: v.FrameBase, Size: 8}
			return false, compileVar(e, st, &whole, fail)
		}
	}
	c := &locCompiler{e: e, stmt: st, v: v, fail: fail}
	kind, reg, imm, err := c.run(ops, false)
	if err != nil {
		return false, err
	}
	switch kind {
	case locMem:
		return true, c.top(asm.R0, 0)
	case locReg:
		return false, c.loadReg(asm.R0, reg)
	case locValue:
		return false, c.top(asm.R0, 0)
	default: // locImplicit
		e.loadConst(asm.R0, int64(imm))
		return false, nil
	}
}

// applySteps walks v's access path from the state compileBase left in R0 and
// says whether R0 now holds an address or a value.
func applySteps(e *emitter, st *Stmt, v *ir.Var, addr bool, fail string) (bool, error) {
	if len(v.Steps) > ir.MaxSteps {
		return false, unsup("access path of %d steps, at most %d", len(v.Steps), ir.MaxSteps)
	}
	c := &locCompiler{e: e, stmt: st, v: v, fail: fail}
	for i, s := range v.Steps {
		switch s := stepValue(s).(type) {
		case ir.StepAdd:
			if !addr {
				return false, unsup("member or element of a value that is not in memory")
			}
			if s.Off != 0 {
				e.loadConst(asm.R1, s.Off)
				e.emit(asm.Add.Reg(asm.R0, asm.R1))
			}
		case ir.StepIndex:
			if !addr {
				return false, unsup("member or element of a value that is not in memory")
			}
			if err := compileIndex(e, st, &s, fail); err != nil {
				return false, err
			}
		case ir.StepDeref:
			if addr {
				if err := c.read(asm.R0, 8); err != nil {
					return false, err
				}
			}
			addr = true
		case ir.StepAddrOf:
			if !addr {
				return false, unsup("address of a value that is not in memory")
			}
			if i != len(v.Steps)-1 {
				return false, unsup("& must be the last step of an access path")
			}
			addr = false
		default:
			return false, unsup("unknown access step %T", s)
		}
	}
	return addr, nil
}

// stepValue accepts pointers to steps as well, like compileCond does for
// conditions; a nil pointer stays as it is and is refused.
func stepValue(s ir.Step) ir.Step {
	switch p := s.(type) {
	case *ir.StepAdd:
		if p != nil {
			return *p
		}
	case *ir.StepDeref:
		if p != nil {
			return *p
		}
	case *ir.StepAddrOf:
		if p != nil {
			return *p
		}
	case *ir.StepIndex:
		if p != nil {
			return *p
		}
	}
	return s
}

// compileAccess leaves in R0 the scalar at the end of v's access path,
// truncated to v.Size and extended, or jumps to fail.
func compileAccess(e *emitter, st *Stmt, v *ir.Var, fail string) error {
	switch v.Size {
	case 1, 2, 4, 8:
	default:
		return unsup("size %d is not a scalar size", v.Size)
	}
	addr, err := compileBase(e, st, v, fail)
	if err != nil {
		return err
	}
	if addr, err = applySteps(e, st, v, addr, fail); err != nil {
		return err
	}
	if addr {
		c := &locCompiler{e: e, stmt: st, v: v, fail: fail}
		if err := c.read(asm.R0, v.Size); err != nil {
			return err
		}
	}
	e.extend(asm.R0, v.Size, v.Signed)
	return nil
}

// pageSize is the x86-64 page size: a string of at most MaxStr bytes spans
// at most two pages.
const pageSize = 4096

// compileString reads the NUL-terminated user string that v (a char*, after
// its access path) points to into the record's slots at off, or jumps to
// fail when the pointer itself cannot be read. When the pointer is NULL or
// the characters cannot be read, the pointer is stored in the first slot
// and bit i of the record's unread mask is set; the variable still counts
// as read.
//
// bpf_probe_read_user_str reads only pages already in memory. With
// e.faultIn, a failed read faults the string's first page in with a
// one-byte bpf_copy_from_user (which may sleep) and tries again, then the
// next page, since a string of at most MaxStr bytes spans two pages at
// most; a one-byte copy never crosses into a page that is not mapped.
//
// bpf_probe_read_user_str always writes a NUL in its last byte, so a string
// of Str-1 bytes and a longer one look alike; when the helper filled the
// whole buffer, the real last byte is read again over that NUL, which leaves
// no NUL exactly when the string did not fit.
func compileString(e *emitter, st *Stmt, v *ir.Var, i int, off int16, fail string) error {
	if !validStr(v.Str) {
		return unsup("string size %d is not a multiple of 8 from 8 to %d", v.Str, ir.MaxStr)
	}
	ptr := *v
	ptr.Size = 8
	ptr.Signed = false
	if err := compileVar(e, st, &ptr, fail); err != nil {
		return err
	}
	got, unread, done := e.newLabel("strgot"), e.newLabel("strunread"), e.newLabel("strdone")
	readStr := func() {
		e.emit(asm.LoadMem(asm.R3, asm.RFP, fpStrPtr, asm.DWord),
			asm.Mov.Reg(asm.R1, rRec),
			asm.Add.Imm(asm.R1, int32(off)),
			asm.Mov.Imm(asm.R2, int32(v.Str)))
		e.probeReadStr()
		e.emit(asm.JSGT.Imm(asm.R0, 0, got))
	}
	// touch faults in the page holding the byte at R3.
	touch := func() {
		e.stackPtr(asm.R1, fpReadTmp)
		e.emit(asm.Mov.Imm(asm.R2, 1),
			asm.FnCopyFromUser.Call(),
			asm.JNE.Imm(asm.R0, 0, unread))
	}
	e.emit(asm.StoreMem(asm.RFP, fpStrPtr, asm.R0, asm.DWord),
		asm.JEq.Imm(asm.R0, 0, unread))
	readStr()
	if e.faultIn {
		e.sleeps = true
		e.emit(asm.LoadMem(asm.R3, asm.RFP, fpStrPtr, asm.DWord))
		touch()
		readStr()
		e.emit(asm.LoadMem(asm.R3, asm.RFP, fpStrPtr, asm.DWord),
			asm.Or.Imm(asm.R3, pageSize-1),
			asm.Add.Imm(asm.R3, 1))
		touch()
		readStr()
	}
	e.emit(asm.Ja.Label(unread))
	e.mark(got)
	e.emit(asm.JNE.Imm(asm.R0, int32(v.Str), done),
		asm.LoadMem(asm.R3, asm.RFP, fpStrPtr, asm.DWord),
		asm.Add.Imm(asm.R3, int32(v.Str-1)),
		asm.Mov.Reg(asm.R1, rRec),
		asm.Add.Imm(asm.R1, int32(off)+int32(v.Str-1)),
		asm.Mov.Imm(asm.R2, 1))
	e.probeRead()
	e.emit(asm.Ja.Label(done))
	e.mark(unread)
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpStrPtr, asm.DWord),
		asm.StoreMem(rRec, off, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, rRec, RecOffUnread, asm.DWord),
		asm.Mov.Imm(asm.R2, 1),
		asm.LSh.Imm(asm.R2, int32(i)),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.StoreMem(rRec, RecOffUnread, asm.R1, asm.DWord))
	e.mark(done)
	return nil
}
