package verdict

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/probe/place"
)

// The verdict reads one branch record per trace: the latest branch probe's
// (bpfgen keeps only the last one an invocation ran, with the count of
// statements before it). A branch after which every path to the function's
// return runs another probed branch can never be that latest one, so its
// probe changes nothing the report reads and is left out: the latest
// branch an invocation ran is the same with or without it.
//
// Proof. Let P be the branches that would be probed and K those of P from
// which some path reaches a return without running another member of P
// (kept). Take an invocation that returns, and the last member X of P it
// ran: the rest of its run is a path from X to a return that runs no
// member of P, so X is in K, and it is also the last member of K it ran;
// every other probe fires as before. So the branch record (its statement
// id, its values read at the same instruction, the count of statements
// before it) is the same whether P or K is probed, and an invocation that
// ran no member of P ran no member of K either.
//
// The proof needs every path the code can take, so the paths are
// over-approximated, and where they cannot be, every branch is probed:
//   - A return is anything that may leave the code or go where decoding
//     cannot follow: ret, an indirect jump, a jump out of the function's
//     ranges or to its entry (a tail call), an instruction that does not
//     decode or traps (ud2, hlt, int3), one with a relative target that is
//     not a jump (xbegin's abort), and falling off the end of a range.
//   - A call returns to the next instruction. The calls that may return
//     twice (setjmp, sigsetjmp, vfork, getcontext, savectx, by GCC's list
//     of names, with any prefix) come back after a longjmp from anywhere,
//     so a function that calls one, or calls an address no symbol names,
//     gets every branch probed. An indirect call cannot be setjmp (C
//     forbids calling it through a pointer).
//   - In C++ (or any language but C), a call may come back at a catch
//     handler that no jump shows: only C functions are pruned. (A C
//     function's unwinding cleanups end in _Unwind_Resume and never
//     return.)
//   - The kernel's exception-table fixups enter code without a jump: a
//     caller that cannot name calls (Input.CallName nil, as for the
//     kernel) gets every branch probed.
//
// A signal handler that rewrites the interrupted rip to another
// instruction of the function is outside this model, as it is outside
// the compiler's.

// cLanguage reports whether a DW_AT_language is C's (C89, C, C99, C11,
// C17).
func cLanguage(l int64) bool {
	switch l {
	case 0x1, 0x2, 0xc, 0x1d, 0x2c:
		return true
	}
	return false
}

// rel is the target of an instruction's relative argument.
func rel(it *instr) (uint64, bool) {
	if len(it.inst.Args) == 0 {
		return 0, false
	}
	r, ok := it.inst.Args[0].(x86asm.Rel)
	if !ok {
		return 0, false
	}
	return uint64(int64(it.end()) + int64(r)), true
}

// exit marks a path that may leave the function (or go where decoding
// cannot follow).
const exit = -1

// successors are where control may go after ins[i] (indexes, or exit);
// at maps addresses to indexes, entry is the function's entry.
func successors(ins []instr, i int, at map[uint64]int, entry uint64) []int {
	it := &ins[i]
	next := func() int {
		if i+1 < len(ins) && ins[i+1].pc == it.end() {
			return i + 1
		}
		return exit
	}
	to := func(t uint64) int {
		if k, ok := at[t]; ok && t != entry {
			return k
		}
		return exit
	}
	if !it.ok {
		return []int{exit}
	}
	switch op := it.inst.Op; {
	case op == x86asm.JMP:
		if t, ok := rel(it); ok {
			return []int{to(t)}
		}
		return []int{exit}
	case isJcc(op) || op == x86asm.JCXZ || op == x86asm.JECXZ || op == x86asm.JRCXZ ||
		op == x86asm.LOOP || op == x86asm.LOOPE || op == x86asm.LOOPNE:
		t, ok := rel(it)
		if !ok {
			return []int{exit}
		}
		return []int{next(), to(t)}
	case op == x86asm.CALL:
		return []int{next()}
	case op == x86asm.RET || op == x86asm.LRET || op == x86asm.IRET || op == x86asm.IRETD || op == x86asm.IRETQ ||
		op == x86asm.UD1 || op == x86asm.UD2 || op == x86asm.HLT || op == x86asm.INT || op == x86asm.INTO ||
		op == x86asm.SYSRET || op == x86asm.SYSEXIT:
		return []int{exit}
	}
	if _, ok := rel(it); ok {
		return []int{exit} // xbegin and the like
	}
	return []int{next()}
}

// prunable reports whether the code's paths are known well enough to
// leave superseded branches unprobed (see above).
func prunable(ins []instr, callName func(uint64) string, lang int64) bool {
	if callName == nil || !cLanguage(lang) {
		return false
	}
	for i := range ins {
		it := &ins[i]
		if !it.ok || it.inst.Op != x86asm.CALL {
			continue
		}
		t, ok := rel(it)
		if !ok {
			continue // indirect: never setjmp
		}
		if n := callName(t); n == "" || place.ReturnsTwice(n) {
			return false
		}
	}
	return true
}

// kept returns, of the probed instructions (indexes into ins), those from
// which some path reaches a return without running another probed one.
func kept(ins []instr, probed []int, entry uint64) map[int]bool {
	at := make(map[uint64]int, len(ins))
	for i := range ins {
		at[ins[i].pc] = i
	}
	isProbed := make(map[int]bool, len(probed))
	for _, k := range probed {
		isProbed[k] = true
	}
	// free[i]: from ins[i] (not itself probed) a return is reachable
	// without a probed instruction; computed backwards from the exits.
	preds := make([][]int, len(ins))
	free := make([]bool, len(ins))
	var work []int
	for i := range ins {
		for _, s := range successors(ins, i, at, entry) {
			if s == exit {
				if !isProbed[i] && !free[i] {
					free[i] = true
					work = append(work, i)
				}
				continue
			}
			preds[s] = append(preds[s], i)
		}
	}
	for len(work) > 0 {
		s := work[len(work)-1]
		work = work[:len(work)-1]
		for _, p := range preds[s] {
			if !isProbed[p] && !free[p] {
				free[p] = true
				work = append(work, p)
			}
		}
	}
	out := map[int]bool{}
	for _, k := range probed {
		for _, s := range successors(ins, k, at, entry) {
			if s == exit || free[s] {
				out[k] = true
			}
		}
	}
	return out
}
