package insn

// A Class is a kind of instruction that x86 uprobes may emulate instead of
// single-stepping a copy out of line. Which classes the running kernel
// emulates is measured (session.ProbeEmulation), not assumed; Sample gives
// one encoding of each to measure with.
type Class string

// The classes, each a set of encodings the kernel treats alike.
const (
	ClassCall  Class = "call"  // call rel32 (e8)
	ClassJmp8  Class = "jmp8"  // jmp rel8 (eb)
	ClassJmp32 Class = "jmp32" // jmp rel32 (e9)
	ClassJcc8  Class = "jcc8"  // jcc rel8 (70-7f)
	ClassJcc32 Class = "jcc32" // jcc rel32 (0f 80-8f)
	ClassNop   Class = "nop"   // the one-byte nop (90)
	ClassNop66 Class = "nop66" // 66 90
	ClassNopL  Class = "nopl"  // the multi-byte nops 0f 1f /0 (3 to 9 bytes, with 66 prefixes)
	ClassPush  Class = "push"  // push of rax..rdi (50-57)
	ClassPushR Class = "pushr" // push of r8..r15 (41 50-57)
)

// Classes lists every class, in a fixed order.
var Classes = []Class{ClassCall, ClassJmp8, ClassJmp32, ClassJcc8, ClassJcc32, ClassNop, ClassNop66, ClassNopL, ClassPush, ClassPushR}

// Sample returns an encoding of an instruction of class c that falls
// through to the next instruction (branches to +0), for measuring.
func Sample(c Class) []byte {
	switch c {
	case ClassCall:
		return []byte{0xe8, 0, 0, 0, 0}
	case ClassJmp8:
		return []byte{0xeb, 0}
	case ClassJmp32:
		return []byte{0xe9, 0, 0, 0, 0}
	case ClassJcc8:
		return []byte{0x74, 0} // je
	case ClassJcc32:
		return []byte{0x0f, 0x84, 0, 0, 0, 0}
	case ClassNop:
		return []byte{0x90}
	case ClassNop66:
		return []byte{0x66, 0x90}
	case ClassNopL:
		return []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}
	case ClassPush:
		return []byte{0x55} // push rbp
	case ClassPushR:
		return []byte{0x41, 0x54} // push r12
	}
	return nil
}

// ClassOf returns the class of the instruction at the start of code, whose
// length n the caller decoded, or "" when it is in none. Branches with
// prefixes and the other forms some kernels also emulate are in none: a
// probe there is assumed single-stepped.
func ClassOf(code []byte, n int) Class {
	if n <= 0 || n > len(code) {
		return ""
	}
	c := code[:n]
	switch {
	case n == 5 && c[0] == 0xe8:
		return ClassCall
	case n == 2 && c[0] == 0xeb:
		return ClassJmp8
	case n == 5 && c[0] == 0xe9:
		return ClassJmp32
	case n == 2 && c[0] >= 0x70 && c[0] <= 0x7f:
		return ClassJcc8
	case n == 6 && c[0] == 0x0f && c[1] >= 0x80 && c[1] <= 0x8f:
		return ClassJcc32
	case n == 1 && c[0] == 0x90:
		return ClassNop
	case n == 2 && c[0] == 0x66 && c[1] == 0x90:
		return ClassNop66
	case n == 1 && c[0] >= 0x50 && c[0] <= 0x57:
		return ClassPush
	case n == 2 && c[0] == 0x41 && c[1] >= 0x50 && c[1] <= 0x57:
		return ClassPushR
	}
	// 0f 1f /0 with optional 66 prefixes: the recommended multi-byte nops.
	i := 0
	for i < n && c[i] == 0x66 {
		i++
	}
	if n-i >= 3 && c[i] == 0x0f && c[i+1] == 0x1f && (c[i+2]>>3)&7 == 0 {
		return ClassNopL
	}
	return ""
}
