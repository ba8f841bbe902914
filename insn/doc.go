// Package insn decodes x86-64 machine code to find instruction boundaries, so
// that a probe is never placed in the middle of an instruction.
package insn
