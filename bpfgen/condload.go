package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
)

func compileLoad(e *emitter, l ir.Load, n int) error {
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
	e.emit(asm.Mov.Imm(asm.R2, int32(l.Size)))
	e.probeRead()
	e.emit(asm.JNE.Imm(asm.R0, 0, fail),
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
