package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// StepIndex moves the address by (value of Index + Add) * Scale bytes: an
// array element whose index is another variable ($argv[$i], $a[$n+1]). Index
// is read at the same statement, from its own location, exactly as a
// recorded variable would be (its own access path included); when it cannot
// be read there, the whole variable is unavailable, never read with a
// guessed index. Index must be a scalar (Size 1, 2, 4 or 8, Signed as its
// type; Str 0). Len, when positive, is the number of elements of the array
// indexed: an index outside [0, Len) makes the variable unavailable rather
// than read memory beside the array. Like StepAdd it needs an address.
//
// An index may itself contain an indexed step ($a[$b[$i]]), at most
// MaxIndexNesting levels deep: each level keeps the address being indexed
// in its own stack slot while the index is computed.
type StepIndex struct {
	Index Var
	Add   int64
	Scale int64
	Len   int64
}

func (StepIndex) isStep() {}

// String renders the step as "+[i+add]*scale" (C's pointer arithmetic).
func (s StepIndex) String() string {
	i := s.Index.Name
	if s.Add != 0 {
		i = fmt.Sprintf("%s%+d", i, s.Add)
	}
	return fmt.Sprintf("+[%s]*%d", i, s.Scale)
}

// MaxIndexNesting bounds indexes inside indexes: $a[$i] is one level,
// $a[$b[$i]] two.
const MaxIndexNesting = 2

// fpIndexBase is the stack slot that keeps the address being indexed while
// an index of nesting 0 (a plain variable) is computed; an index nesting n
// levels deeper uses the slot 8*n bytes below. Only statement programs use
// these slots; the return program's string comparison buffer overlaps them.
const fpIndexBase = fpStrPtr - 8

// indexNesting is how many levels of indexed steps v's access path holds.
func indexNesting(v *Var) int {
	n := 0
	for _, s := range v.Steps {
		if x, ok := stepValue(s).(StepIndex); ok {
			n = max(n, 1+indexNesting(&x.Index))
		}
	}
	return n
}

// compileIndex adds the scaled index of s to the address in R0, or jumps to
// fail when the index cannot be read or is out of bounds. The index's own
// evaluation may use every register and the expression stack, so R0 waits in
// a stack slot private to this nesting level.
func compileIndex(e *emitter, st *Stmt, s *StepIndex, fail string) error {
	iv := s.Index
	name := iv.Name
	if name == "" {
		name = "?"
	}
	nest := indexNesting(&iv)
	if nest >= MaxIndexNesting {
		return unsup("index %s nests indexes %d levels deep, at most %d", name, nest+1, MaxIndexNesting)
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
