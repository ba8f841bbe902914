package place

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/whythefail/whythefail/insn"
	"golang.org/x/arch/x86/x86asm"
)

// inst is one decoded instruction and what placement needs to know of it.
type inst struct {
	addr  uint64
	n     int
	text  string // Intel syntax, for -v
	class insn.Class
	// flow: the instruction may leave the straight line (branch, call,
	// return, trap), or is not understood.
	flow bool
	// target of a direct branch or call, when there is one.
	target uint64
	// writes are the general registers written, as DWARF numbers.
	writes regSet
	// mem: the instruction may write memory; stores are the writes it
	// can describe (any other makes mem true with no store).
	mem    bool
	stores []store
	// rsp: how much it moves rsp when rspKnown; a write to rsp by
	// anything else clears rspKnown.
	rsp      int64
	rspKnown bool
	// indirect: a jump through a register or memory.
	indirect bool
	// call: a call instruction (direct when target is set).
	call bool
	// konst: the instruction writes the constant kval to the whole of
	// one general register and nothing else but flags (mov r32, imm32,
	// zero-extended; mov r64, imm; xor r, r of one register).
	konst bool
	kval  uint64
	// condUse: a conditional set or move (setcc, cmovcc), which the
	// verdict may probe.
	condUse bool
	// rep: a string instruction with a repeat prefix, which a uprobe on
	// it traps at each iteration.
	rep bool
	// copy: the instruction copies the 64-bit general register src to
	// dst (mov r64, r64) and does nothing else.
	copy     bool
	dst, src uint64
	// stops: control never falls through to the next instruction (jmp,
	// ret).
	stops bool
	// cc is a conditional jump's condition code (the low nibble of its
	// opcode) when its class is jcc8 or jcc32, otherwise -1.
	cc int
	// rel and abs are table addresses the operands name (tableRefs).
	rel, abs []uint64
}

// store is a memory write at base+disp of size bytes, base one of rsp,
// rbp (DWARF 7, 6) or rip (16, a global: never the stack); for rsp, disp
// is relative to rsp before the instruction.
type store struct {
	base uint64
	disp int64
	size int64
}

// regSet is a set of DWARF register numbers 0-16.
type regSet uint32

func (s regSet) has(r uint64) bool { return r < 32 && s&(1<<r) != 0 }

// dwarfReg maps x86asm's general registers, of any width, to DWARF numbers.
func dwarfReg(r x86asm.Reg) (uint64, bool) {
	order := []uint64{0, 2, 1, 3, 7, 6, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15} // rax rcx rdx rbx rsp rbp rsi rdi r8..r15
	switch {
	case r >= x86asm.AL && r <= x86asm.R15B:
		if r >= x86asm.SPB && r <= x86asm.DIB {
			return order[4+r-x86asm.SPB], true
		}
		if r >= x86asm.AH && r <= x86asm.BH {
			return order[r-x86asm.AH], true
		}
		if r <= x86asm.BL {
			return order[r-x86asm.AL], true
		}
		return order[8+r-x86asm.R8B], true
	case r >= x86asm.AX && r <= x86asm.R15W:
		return order[r-x86asm.AX], true
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return order[r-x86asm.EAX], true
	case r >= x86asm.RAX && r <= x86asm.R15:
		return order[r-x86asm.RAX], true
	}
	return 0, false
}

// regName names a DWARF register for messages.
func regName(r uint64) string {
	names := []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}
	if r < uint64(len(names)) {
		return names[r]
	}
	return fmt.Sprintf("reg%d", r)
}

// noWrite lists instructions that write only flags.
var noWrite = map[x86asm.Op]bool{
	x86asm.CMP: true, x86asm.TEST: true, x86asm.NOP: true, x86asm.BT: true,
	x86asm.UCOMISS: true, x86asm.UCOMISD: true, x86asm.COMISS: true, x86asm.COMISD: true,
	x86asm.PREFETCHT0: true, x86asm.PREFETCHT1: true, x86asm.PREFETCHT2: true, x86asm.PREFETCHNTA: true,
}

// firstWritten lists instructions that write their first operand only
// (and flags).
var firstWritten = map[x86asm.Op]bool{
	x86asm.MOV: true, x86asm.MOVZX: true, x86asm.MOVSX: true, x86asm.MOVSXD: true, x86asm.LEA: true,
	x86asm.ADD: true, x86asm.ADC: true, x86asm.SUB: true, x86asm.SBB: true, x86asm.AND: true, x86asm.OR: true, x86asm.XOR: true,
	x86asm.SHL: true, x86asm.SHR: true, x86asm.SAR: true, x86asm.ROL: true, x86asm.ROR: true,
	x86asm.INC: true, x86asm.DEC: true, x86asm.NEG: true, x86asm.NOT: true, x86asm.BSWAP: true,
	x86asm.BSF: true, x86asm.BSR: true, x86asm.TZCNT: true, x86asm.LZCNT: true, x86asm.POPCNT: true,
	x86asm.SHLD: true, x86asm.SHRD: true,
	x86asm.MOVAPS: true, x86asm.MOVUPS: true, x86asm.MOVAPD: true, x86asm.MOVUPD: true, x86asm.MOVDQA: true, x86asm.MOVDQU: true,
	x86asm.MOVQ: true, x86asm.MOVD: true, x86asm.MOVSS: true, x86asm.MOVSD_XMM: true, x86asm.MOVHPS: true, x86asm.MOVLPS: true,
	x86asm.PXOR: true, x86asm.XORPS: true, x86asm.XORPD: true, x86asm.PUNPCKLQDQ: true, x86asm.PSHUFD: true,
	x86asm.CVTSI2SD: true, x86asm.CVTSI2SS: true, x86asm.CVTTSD2SI: true, x86asm.CVTTSS2SI: true,
}

// endbr64 is the CET landing pad that starts most functions: a NOP to
// placement, named as objdump names it in -v lines.
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// decodeRange decodes code loaded at addr into instructions (insn.Decode,
// which knows the lengths x86asm gets wrong). An instruction x86asm does
// not decode at the length insn measures is not understood here: it ends
// every run (flow).
func decodeRange(code []byte, addr uint64) ([]inst, error) {
	ds, err := insn.Decode(code, addr)
	if err != nil {
		return nil, err
	}
	out := make([]inst, 0, len(ds))
	for _, d := range ds {
		n := d.Inst.Len
		bs := code[d.PC-addr : d.PC-addr+uint64(n)]
		in := inst{addr: d.PC, n: n, cc: -1}
		switch {
		case bytes.Equal(bs, endbr64):
			in.text = "endbr64"
		case !d.OK:
			in.text, in.flow = "?", true
		default:
			in.text = strings.ToLower(x86asm.IntelSyntax(d.Inst, d.PC, nil))
			in.class = insn.ClassOf(bs, n)
			classify(&in, d.Inst)
			in.konst, in.kval = constantLoad(d.Inst)
			in.copy, in.dst, in.src = registerCopy(d.Inst)
			op := d.Inst.Op.String()
			in.condUse = strings.HasPrefix(op, "SET") || strings.HasPrefix(op, "CMOV")
			in.rep = repString(d.Inst)
			tableRefs(d.Inst, &in)
			in.stops = d.Inst.Op == x86asm.JMP || d.Inst.Op == x86asm.RET
			switch in.class {
			case insn.ClassJcc8:
				in.cc = int(bs[0] & 0xf)
			case insn.ClassJcc32:
				in.cc = int(bs[1] & 0xf)
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// classify fills in what the instruction does to control flow, registers
// and memory. Anything not understood is flow: a run ends there.
func classify(in *inst, d x86asm.Inst) {
	write := func(a x86asm.Arg) {
		switch a := a.(type) {
		case x86asm.Reg:
			if r, ok := dwarfReg(a); ok {
				in.writes |= 1 << r
			}
		case x86asm.Mem:
			in.mem = true
			if a.Segment != 0 || a.Index != 0 || d.MemBytes <= 0 {
				in.stores = append(in.stores, store{base: 99})
				return
			}
			switch a.Base {
			case x86asm.RSP:
				in.stores = append(in.stores, store{base: 7, disp: a.Disp, size: int64(d.MemBytes)})
			case x86asm.RBP:
				in.stores = append(in.stores, store{base: 6, disp: a.Disp, size: int64(d.MemBytes)})
			case x86asm.RIP:
				in.stores = append(in.stores, store{base: 16})
			default:
				in.stores = append(in.stores, store{base: 99})
			}
		}
	}
	name := d.Op.String()
	switch {
	case d.Op == x86asm.JMP || d.Op == x86asm.CALL || strings.HasPrefix(name, "J") || d.Op == x86asm.LOOP || d.Op == x86asm.LOOPE || d.Op == x86asm.LOOPNE:
		in.flow = true
		in.call = d.Op == x86asm.CALL
		if rel, ok := d.Args[0].(x86asm.Rel); ok {
			in.target = uint64(int64(in.addr) + int64(d.Len) + int64(rel))
		} else if d.Op == x86asm.JMP {
			in.indirect = true
		}
		return
	case noWrite[d.Op]:
		return
	case firstWritten[d.Op] || strings.HasPrefix(name, "CMOV") || strings.HasPrefix(name, "SET"):
		if d.Args[0] == nil {
			in.flow = true
			return
		}
		write(d.Args[0])
		if r, ok := d.Args[0].(x86asm.Reg); ok {
			if dr, _ := dwarfReg(r); dr == 7 && r == x86asm.RSP {
				if imm, ok := d.Args[1].(x86asm.Imm); ok && (d.Op == x86asm.SUB || d.Op == x86asm.ADD) {
					in.rsp, in.rspKnown = int64(imm), true
					if d.Op == x86asm.SUB {
						in.rsp = -in.rsp
					}
				}
			}
		}
		return
	case d.Op == x86asm.IMUL:
		if d.Args[1] == nil {
			in.writes |= 1<<0 | 1<<1
			return
		}
		write(d.Args[0])
		return
	case d.Op == x86asm.MUL || d.Op == x86asm.DIV || d.Op == x86asm.IDIV:
		in.writes |= 1<<0 | 1<<1
		return
	case d.Op == x86asm.CDQE || d.Op == x86asm.CWDE || d.Op == x86asm.CBW:
		in.writes |= 1 << 0
		return
	case d.Op == x86asm.CDQ || d.Op == x86asm.CQO || d.Op == x86asm.CWD:
		in.writes |= 1 << 1
		return
	case d.Op == x86asm.LEAVE:
		in.writes |= 1<<6 | 1<<7 // rsp = rbp + 8: not a known move
		return
	case d.Op == x86asm.XCHG:
		write(d.Args[0])
		write(d.Args[1])
		return
	case d.Op == x86asm.PUSH:
		in.writes |= 1 << 7
		in.mem = true
		in.stores = append(in.stores, store{base: 7, disp: -8, size: 8})
		in.rsp, in.rspKnown = -8, d.DataSize != 16 // x86asm says 32 for the 64-bit default
		if !in.rspKnown {
			in.flow = true
		}
		return
	case d.Op == x86asm.POP:
		in.writes |= 1 << 7
		write(d.Args[0])
		in.rsp, in.rspKnown = 8, d.DataSize != 16
		if !in.rspKnown {
			in.flow = true
		}
		return
	}
	in.flow = true
}

// constantLoad recognises an instruction that sets a whole 32- or
// 64-bit general register to a constant (the 32-bit forms zero the upper
// half) and writes nothing else but flags, and returns the register's
// new 64-bit value.
func constantLoad(d x86asm.Inst) (bool, uint64) {
	dst, ok := d.Args[0].(x86asm.Reg)
	if !ok || !(dst >= x86asm.EAX && dst <= x86asm.R15L || dst >= x86asm.RAX && dst <= x86asm.R15) || dst == x86asm.ESP || dst == x86asm.RSP {
		return false, 0
	}
	switch d.Op {
	case x86asm.MOV:
		imm, ok := d.Args[1].(x86asm.Imm)
		if !ok || d.Args[2] != nil {
			return false, 0
		}
		if dst <= x86asm.R15L {
			return true, uint64(uint32(imm))
		}
		return true, uint64(imm)
	case x86asm.XOR, x86asm.SUB:
		if src, ok := d.Args[1].(x86asm.Reg); ok && src == dst && d.Args[2] == nil {
			return true, 0
		}
	}
	return false, 0
}

// repString reports whether d is a string instruction with a rep, repe
// or repne prefix.
func repString(d x86asm.Inst) bool {
	switch d.Op {
	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ, x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.STOSQ,
		x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ, x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ,
		x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ, x86asm.INSB, x86asm.INSW, x86asm.INSD, x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
	default:
		return false
	}
	for _, p := range d.Prefix {
		if p == 0 {
			break
		}
		if p&0xff == x86asm.PrefixREP&0xff || p&0xff == x86asm.PrefixREPN&0xff {
			return true
		}
	}
	return false
}

// registerCopy recognises mov r64, r64 between two general registers
// other than rsp, and returns them as DWARF numbers.
func registerCopy(d x86asm.Inst) (bool, uint64, uint64) {
	if d.Op != x86asm.MOV || d.Args[2] != nil {
		return false, 0, 0
	}
	dst, ok1 := d.Args[0].(x86asm.Reg)
	src, ok2 := d.Args[1].(x86asm.Reg)
	if !ok1 || !ok2 || dst < x86asm.RAX || dst > x86asm.R15 || src < x86asm.RAX || src > x86asm.R15 || dst == x86asm.RSP || src == x86asm.RSP || dst == src {
		return false, 0, 0
	}
	a, _ := dwarfReg(dst)
	b, _ := dwarfReg(src)
	return true, a, b
}

// tableRefs returns the addresses the instruction's memory operands name
// without a base register: RIP-relative ones (gcc and clang's PIC switch
// tables of 4-byte offsets) and absolute ones with a scaled index (non-PIC
// tables of 8-byte addresses).
func tableRefs(d x86asm.Inst, in *inst) {
	for _, a := range d.Args {
		m, ok := a.(x86asm.Mem)
		if !ok {
			continue
		}
		switch {
		case m.Base == x86asm.RIP:
			in.rel = append(in.rel, uint64(int64(in.addr)+int64(in.n)+m.Disp))
		case m.Base == 0 && m.Index != 0 && m.Scale == 8:
			in.abs = append(in.abs, uint64(m.Disp))
		}
	}
}

// jumpTables returns the targets of the jump tables the function's
// indirect jumps may use: read from every table address the code names,
// entry by entry while the entries land inside the function. Reading on
// past a table's end, or reading something that is no table, only adds
// targets, which keeps more probes where they are; it never moves one
// wrongly.
func jumpTables(insts []inst, inFunc func(uint64) bool, data func(addr uint64, n int) ([]byte, bool)) []uint64 {
	var out []uint64
	for _, in := range insts {
		for _, table := range in.rel {
			for i := uint64(0); i < 4096; i++ {
				b, ok := data(table+4*i, 4)
				if !ok {
					break
				}
				t := uint64(int64(table) + int64(int32(binary.LittleEndian.Uint32(b))))
				if !inFunc(t) {
					break
				}
				out = append(out, t)
			}
		}
		for _, table := range in.abs {
			for i := uint64(0); i < 4096; i++ {
				b, ok := data(table+8*i, 8)
				if !ok {
					break
				}
				t := binary.LittleEndian.Uint64(b)
				if !inFunc(t) {
					break
				}
				out = append(out, t)
			}
		}
	}
	return out
}
