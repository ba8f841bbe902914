package verdict

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/target/abi"
)

// intelToDWARF maps the encoding order of the general registers (ax, cx,
// dx, bx, sp, bp, si, di, r8..r15) to DWARF register numbers.
var intelToDWARF = [16]uint64{abi.RAX, abi.RCX, abi.RDX, abi.RBX, abi.RSP, abi.RBP, abi.RSI, abi.RDI,
	abi.R8, abi.R9, abi.R10, abi.R11, abi.R12, abi.R13, abi.R14, abi.R15}

// gpr returns the DWARF number and width in bytes of a general register
// operand. ok is false for the high byte registers (ah, ch, dh, bh), rip and
// anything that is not a general register: their values are not recorded.
func gpr(r x86asm.Reg) (dwarf uint64, size int, ok bool) {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return intelToDWARF[r-x86asm.AL], 1, true
	case r >= x86asm.SPB && r <= x86asm.DIB:
		return intelToDWARF[4+r-x86asm.SPB], 1, true
	case r >= x86asm.R8B && r <= x86asm.R15B:
		return intelToDWARF[8+r-x86asm.R8B], 1, true
	case r >= x86asm.AX && r <= x86asm.R15W:
		return intelToDWARF[r-x86asm.AX], 2, true
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return intelToDWARF[r-x86asm.EAX], 4, true
	case r >= x86asm.RAX && r <= x86asm.R15:
		return intelToDWARF[r-x86asm.RAX], 8, true
	}
	return 0, 0, false
}

// regName spells a register as AT&T syntax does (%r14d, where x86asm
// says R14L).
func regName(r x86asm.Reg) string {
	n := lower(r.String())
	switch {
	case r >= x86asm.R8L && r <= x86asm.R15L:
		n = n[:len(n)-1] + "d"
	case r >= x86asm.R8B && r <= x86asm.R15B:
		n = n[:len(n)-1] + "b"
	case r >= x86asm.SPB && r <= x86asm.DIB:
		n = n[:len(n)-1] + "l"
	}
	return "%" + n
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// sleb appends v as a signed LEB128.
func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// uleb appends v as an unsigned LEB128.
func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// DWARF operations the planned location expressions use.
const (
	opAddr   = 0x03
	opConstu = 0x10
	opMul    = 0x1e
	opPlus   = 0x22
	opReg0   = 0x50
	opBreg0  = 0x70
	opRegx   = 0x90
	opFbreg  = 0x91
	opCFA    = 0x9c
)

// flagsExpr reads the flags register (DW_OP_regx 49).
var flagsExpr = uleb([]byte{opRegx}, abi.RFLAGS)
