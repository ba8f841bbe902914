package bpfgen

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
)

// Stack space of the return program for string comparisons, below the
// expression stack and the piece accumulator.
const (
	fpCondBuf  = fpStrPtr - 8 - condBufLen // start of the comparison buffer
	condBufLen = ir.MaxCondStr + 2
)

// compileCommEq leaves in R0 whether the task name is s. The kernel pads the
// name with NULs to 16 bytes, so two 8-byte compares against s padded the
// same way decide it.
func compileCommEq(e *emitter, s string) {
	if len(s) > 15 || strings.IndexByte(s, 0) >= 0 {
		e.emit(asm.Mov.Imm(asm.R0, 0))
		return
	}
	var want [16]byte
	copy(want[:], s)
	no, done := e.newLabel("commno"), e.newLabel("commdone")
	e.stackPtr(asm.R1, fpCondBuf)
	e.emit(asm.Mov.Imm(asm.R2, 16), asm.FnGetCurrentComm.Call(), asm.JNE.Imm(asm.R0, 0, no))
	e.equalStack(fpCondBuf, want[:], no)
	e.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(done))
	e.mark(no)
	e.emit(asm.Mov.Imm(asm.R0, 0))
	e.mark(done)
}

// compileUserStrEq leaves in R0 whether the user string at c.Ptr is c.S.
// bpf_probe_read_user_str stops at the NUL and returns the length with it, or
// fills the whole buffer, truncating with a NUL of its own; reading
// len(S)+2 bytes tells an exact match (length len(S)+1) from a longer string
// that starts with S.
func compileUserStrEq(e *emitter, c ir.UserStrEq, n int) error {
	if len(c.S) > ir.MaxCondStr {
		return fmt.Errorf("string of %d bytes: at most %d can be compared", len(c.S), ir.MaxCondStr)
	}
	if err := compileCond(e, c.Ptr, n); err != nil {
		return err
	}
	if strings.IndexByte(c.S, 0) >= 0 {
		e.emit(asm.Mov.Imm(asm.R0, 0))
		return nil
	}
	no, done := e.newLabel("strno"), e.newLabel("strdone")
	e.stackPtr(asm.R1, fpCondBuf)
	e.emit(asm.Mov.Imm(asm.R2, int32(len(c.S)+2)),
		asm.LoadMem(asm.R3, asm.RFP, slot(n), asm.DWord))
	e.probeReadStr()
	if e.condFault != "" {
		// The pointer cannot be read: the condition cannot be evaluated.
		e.emit(asm.JSLT.Imm(asm.R0, 0, e.condFault))
	}
	e.emit(asm.JNE.Imm(asm.R0, int32(len(c.S)+1), no))
	e.equalStack(fpCondBuf, []byte(c.S), no)
	e.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(done))
	e.mark(no)
	e.emit(asm.Mov.Imm(asm.R0, 0))
	e.mark(done)
	return nil
}
