package bpfgen

import (
	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/target/abi"
)

// retAddrFilter jumps to skip unless the return address at the top of the
// stack (8 bytes at regs->sp: a function's entry, or its ret) less the
// invocation's load bias lies in one of st.ReturnInto's ranges: a callee
// probed for the calls one function makes (follow.NewAtCallees) records
// nothing when called from anywhere else, deeper in the same invocation.
// rBuf holds the invocation's buffer; R1-R5 are clobbered.
func retAddrFilter(e *emitter, st *Stmt, skip string) {
	keep := e.newLabel("keep")
	sp, _ := abi.PtRegsOffset(abi.RSP)
	e.stackPtr(asm.R1, fpReadTmp)
	e.emit(asm.Mov.Imm(asm.R2, 8),
		asm.LoadMem(asm.R3, rCtx, sp, asm.DWord))
	e.probeRead()
	e.emit(asm.JNE.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.RFP, fpReadTmp, asm.DWord),
		asm.LoadMem(asm.R2, rBuf, OffBias, asm.DWord),
		asm.Sub.Reg(asm.R1, asm.R2))
	for _, r := range st.ReturnInto {
		next := e.newLabel("range")
		e.loadConst(asm.R2, int64(r[0]))
		e.emit(asm.JLT.Reg(asm.R1, asm.R2, next))
		e.loadConst(asm.R2, int64(r[1]))
		e.emit(asm.JLT.Reg(asm.R1, asm.R2, keep))
		e.mark(next)
	}
	e.emit(asm.Ja.Label(skip))
	e.mark(keep)
}
