package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// Load reads Size bytes of user memory at the value of Addr plus Off, at
// return: stap's $param->member, *$param and $param[i] in conditions, where
// the parameter is its value at entry and the memory is read when the
// function returns. A read that faults makes the whole condition false in
// the return program (elsewhere it yields 0).
type Load struct {
	Addr   Cond
	Off    int64
	Size   int
	Signed bool
	Text   string // the user's spelling, for String
}

func (Load) isCond() {}

// String renders the expression as the user wrote it.
func (l Load) String() string {
	if l.Text != "" {
		return l.Text
	}
	return fmt.Sprintf("*(%v + %d)", l.Addr, l.Off)
}

func compileLoad(e *emitter, l Load, n int) error {
	switch l.Size {
	case 1, 2, 4, 8:
	default:
		return fmt.Errorf("%v: size %d is not a scalar size", l, l.Size)
	}
	if err := compileCond(e, l.Addr, n); err != nil {
		return err
	}
	fail, done := e.newLabel("loadfail"), e.newLabel("loaddone")
	e.emit(asm.LoadMem(asm.R3, asm.RFP, slot(n), asm.DWord))
	if l.Off != 0 {
		e.loadConst(asm.R1, l.Off)
		e.emit(asm.Add.Reg(asm.R3, asm.R1))
	}
	e.emit(asm.Mov.Imm(asm.R1, 0), asm.StoreMem(asm.RFP, slot(n), asm.R1, asm.DWord))
	e.stackPtr(asm.R1, int(slot(n)))
	e.emit(asm.Mov.Imm(asm.R2, int32(l.Size)),
		e.probeRead().Call(),
		asm.JNE.Imm(asm.R0, 0, fail),
		asm.LoadMem(asm.R0, asm.RFP, slot(n), asm.DWord))
	e.extend(asm.R0, l.Size, l.Signed)
	e.emit(asm.Ja.Label(done))
	e.mark(fail)
	if e.condFault != "" {
		e.emit(asm.Ja.Label(e.condFault))
	} else {
		e.emit(asm.Mov.Imm(asm.R0, 0))
	}
	e.mark(done)
	return nil
}
