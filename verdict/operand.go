package verdict

import "golang.org/x/arch/x86/x86asm"

// OperandExpr is the DWARF expression that reads an instruction's register
// or memory operand at the instruction (before it runs): DW_OP_regN for a
// general register, the address of a memory operand (RIP-relative ones
// resolved against end, the address after the instruction). ok is false
// for operands a probe cannot read (segment-relative, partial registers
// used as addresses).
func OperandExpr(a x86asm.Arg, end uint64) (expr []byte, ok bool) {
	switch a := a.(type) {
	case x86asm.Reg:
		d, size, ok := gpr(a)
		if !ok || size != 8 {
			return nil, false
		}
		return []byte{byte(opReg0 + d)}, true
	case x86asm.Mem:
		it := &instr{pc: end, inst: x86asm.Inst{Len: 0}}
		return memExpr(a, it)
	}
	return nil, false
}
