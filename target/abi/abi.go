// Package abi holds the facts of the x86-64 ABI that probes depend on, in
// one place: the DWARF numbers of the registers (System V psABI, figure
// 3.36), their offsets in the kernel's struct pt_regs (what a uprobe's or
// kprobe's program receives), and the registers that carry the integer
// arguments of a call. User-space and kernel targets share them: the
// kernel's calling convention passes arguments in the same registers.
package abi

// DWARF register numbers of the x86-64 general-purpose registers and the
// return address (the instruction pointer).
const (
	RAX = 0
	RDX = 1
	RCX = 2
	RBX = 3
	RSI = 4
	RDI = 5
	RBP = 6
	RSP = 7
	R8  = 8
	R9  = 9
	R10 = 10
	R11 = 11
	R12 = 12
	R13 = 13
	R14 = 14
	R15 = 15
	RIP = 16 // the return address column
	// RFLAGS is the flags register (the psABI's DWARF number 49), in
	// pt_regs as flags: conditional branches are explained from it.
	RFLAGS = 49
)

// ptRegs are the offsets in struct pt_regs (arch/x86/include/asm/ptrace.h)
// of the registers by DWARF number.
var ptRegs = [...]int16{
	RAX: 80, RDX: 96, RCX: 88, RBX: 40, RSI: 104, RDI: 112, RBP: 32, RSP: 152,
	R8: 72, R9: 64, R10: 56, R11: 48, R12: 24, R13: 16, R14: 8, R15: 0, RIP: 128,
}

// PtRegsOffset maps a DWARF register number to its offset in struct
// pt_regs. Floating-point and vector registers are not there.
func PtRegsOffset(dwarfReg uint64) (int16, bool) {
	if dwarfReg == RFLAGS {
		return ptRegsFlags, true
	}
	if dwarfReg >= uint64(len(ptRegs)) {
		return 0, false
	}
	return ptRegs[dwarfReg], true
}

// The offsets in struct pt_regs of the instruction pointer and of the
// return value register.
// ptRegsFlags is the offset of the flags register in pt_regs.
const ptRegsFlags = 144

const (
	PtRegsIP  = 128
	PtRegsRet = 80
)

// ArgRegs are the DWARF numbers of the registers that carry the first six
// integer or pointer arguments of a call (System V x86-64), in order.
var ArgRegs = [6]uint64{RDI, RSI, RDX, RCX, R8, R9}

// ArgIndex maps a DWARF register number to its position among ArgRegs.
func ArgIndex(dwarfReg uint64) (int, bool) {
	for i, r := range ArgRegs {
		if r == dwarfReg {
			return i, true
		}
	}
	return 0, false
}
