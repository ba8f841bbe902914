package follow

import "golang.org/x/arch/x86/x86asm"

// maxUseSteps bounds the instructions usesRAX looks at after a call.
const maxUseSteps = 64

// usesRAX reports whether the code after a call (ins[k] is the
// instruction at the return address) may read the value the callee left
// in rax before overwriting it: a value the caller never reads (a void
// callee's leftover rax) cannot be the one it passes up. It follows
// straight code and unconditional jumps inside ins, and answers true
// (may read) at anything it does not model: a conditional jump, a
// return (rax is then the function's own return value), an indirect jump.
func usesRAX(ins []instr, k int) bool { return usesRAXAt(ins, indexOf(ins), k) }

// indexOf maps each instruction's address to its index in ins.
func indexOf(ins []instr) map[uint64]int {
	at := make(map[uint64]int, len(ins))
	for i, it := range ins {
		at[it.pc] = i
	}
	return at
}

// usesRAXAt is usesRAX with ins indexed by address (indexOf).
func usesRAXAt(ins []instr, at map[uint64]int, k int) bool {
	for steps := 0; steps < maxUseSteps && k < len(ins); steps++ {
		it := ins[k]
		if !it.ok {
			return true
		}
		in := &it.inst
		switch in.Op {
		case x86asm.CALL:
			return readsRAX(in, 0) // the callee's rax is clobbered by the call
		case x86asm.JMP:
			rel, ok := in.Args[0].(x86asm.Rel)
			if !ok {
				return true
			}
			n, ok := at[uint64(int64(it.end())+int64(rel))]
			if !ok {
				return true // a tail call: rax may be passed on
			}
			k = n
			continue
		case x86asm.NOP:
			k++
			continue
		}
		if endsBlock(in.Op) || implicitRAX[in.Op] {
			return true
		}
		first := 0
		if writeOnly[in.Op] || (in.Op == x86asm.XOR && in.Args[0] == in.Args[1]) || (in.Op == x86asm.SUB && in.Args[0] == in.Args[1]) {
			if r, ok := in.Args[0].(x86asm.Reg); ok && isRAX(r) {
				return false // overwritten before any read
			}
			first = 1
			if in.Op == x86asm.XOR || in.Op == x86asm.SUB {
				k++
				continue
			}
		}
		if readsRAX(in, first) {
			return true
		}
		if r, ok := in.Args[0].(x86asm.Reg); ok && isRAX(r) {
			return true // read-modify-write of rax: a read
		}
		if k+1 < len(ins) && ins[k+1].pc != it.end() {
			return true
		}
		k++
	}
	return true
}

// readsRAX reports whether an explicit operand from index first on is rax
// (any width) or addresses memory through it.
func readsRAX(in *x86asm.Inst, first int) bool {
args:
	for _, a := range in.Args[first:] {
		switch a := a.(type) {
		case nil:
			break args
		case x86asm.Reg:
			if isRAX(a) {
				return true
			}
		case x86asm.Mem:
			if isRAX(a.Base) || isRAX(a.Index) {
				return true
			}
		}
	}
	// The destination of a write-only instruction may still address
	// memory through rax.
	if m, ok := in.Args[0].(x86asm.Mem); ok && (isRAX(m.Base) || isRAX(m.Index)) {
		return true
	}
	return false
}

func isRAX(r x86asm.Reg) bool {
	return r == x86asm.RAX || r == x86asm.EAX || r == x86asm.AX || r == x86asm.AL || r == x86asm.AH
}

// writeOnly are instructions whose first operand is written, not read.
var writeOnly = map[x86asm.Op]bool{
	x86asm.MOV: true, x86asm.MOVZX: true, x86asm.MOVSX: true, x86asm.MOVSXD: true, x86asm.LEA: true,
	x86asm.POP: true, x86asm.MOVQ: true, x86asm.MOVD: true,
	x86asm.SETA: true, x86asm.SETAE: true, x86asm.SETB: true, x86asm.SETBE: true, x86asm.SETE: true, x86asm.SETNE: true,
	x86asm.SETG: true, x86asm.SETGE: true, x86asm.SETL: true, x86asm.SETLE: true, x86asm.SETS: true, x86asm.SETNS: true,
	x86asm.SETO: true, x86asm.SETNO: true, x86asm.SETP: true, x86asm.SETNP: true,
}

// implicitRAX are instructions that read rax without naming it.
var implicitRAX = map[x86asm.Op]bool{
	x86asm.CDQE: true, x86asm.CWDE: true, x86asm.CDQ: true, x86asm.CQO: true, x86asm.CWD: true, x86asm.CBW: true,
	x86asm.MUL: true, x86asm.IMUL: true, x86asm.DIV: true, x86asm.IDIV: true,
	x86asm.STOSB: true, x86asm.STOSW: true, x86asm.STOSD: true, x86asm.STOSQ: true,
	x86asm.SCASB: true, x86asm.SCASW: true, x86asm.SCASD: true, x86asm.SCASQ: true,
	x86asm.CMPXCHG: true, x86asm.XCHG: true, x86asm.SYSCALL: true, x86asm.LEAVE: false,
}

// endsBlock reports whether control may leave straight-line code at op.
func endsBlock(op x86asm.Op) bool {
	switch op {
	case x86asm.RET, x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JNE, x86asm.JG, x86asm.JGE,
		x86asm.JL, x86asm.JLE, x86asm.JO, x86asm.JNO, x86asm.JP, x86asm.JNP, x86asm.JS, x86asm.JNS,
		x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE, x86asm.UD2, x86asm.HLT:
		return true
	}
	return false
}
