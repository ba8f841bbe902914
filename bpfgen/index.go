package bpfgen

import (
	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
)

// fpIndexBase is the stack slot that keeps the address being indexed while
// an index of nesting 0 (a plain variable) is computed; an index nesting n
// levels deeper uses the slot 8*n bytes below. Only statement programs use
// these slots; the return program's string comparison buffer overlaps them.
const fpIndexBase = fpStrPtr - 8

// indexNesting is how many levels of indexed steps v's access path holds.
func indexNesting(v *ir.Var) int {
	n := 0
	for _, s := range v.Steps {
		if x, ok := stepValue(s).(ir.StepIndex); ok {
			n = max(n, 1+indexNesting(&x.Index))
		}
	}
	return n
}

// compileIndex adds the scaled index of s to the address in R0, or jumps to
// fail when the index cannot be read or is out of bounds. The index's own
// evaluation may use every register and the expression stack, so R0 waits in
// a stack slot private to this nesting level.
func compileIndex(e *emitter, st *Stmt, s *ir.StepIndex, fail string) error {
	iv := s.Index
	name := iv.Name
	if name == "" {
		name = "?"
	}
	nest := indexNesting(&iv)
	if nest >= ir.MaxIndexNesting {
		return unsup("index %s nests indexes %d levels deep, at most %d", name, nest+1, ir.MaxIndexNesting)
	}
	if iv.Str != 0 {
		return unsup("index %s is a string", name)
	}
	if s.Scale == 0 {
		return unsup("index %s scales by 0 bytes", name)
	}
	save := int16(fpIndexBase - 8*nest)
	e.emit(asm.StoreMem(asm.RFP, save, asm.R0, asm.DWord))
	if err := compileVar(e, st, &iv, fail); err != nil {
		return unsup("index %s: %v", name, err)
	}
	if s.Add != 0 {
		e.loadConst(asm.R1, s.Add)
		e.emit(asm.Add.Reg(asm.R0, asm.R1))
	}
	if s.Len > 0 {
		// Unsigned, so a negative index is out of bounds too.
		e.loadConst(asm.R1, s.Len)
		e.emit(asm.JGE.Reg(asm.R0, asm.R1, fail))
	}
	if s.Scale != 1 {
		e.loadConst(asm.R1, s.Scale)
		e.emit(asm.Mul.Reg(asm.R0, asm.R1))
	}
	e.emit(asm.LoadMem(asm.R1, asm.RFP, save, asm.DWord),
		asm.Add.Reg(asm.R0, asm.R1))
	return nil
}
