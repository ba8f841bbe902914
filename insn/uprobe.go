package insn

// Uprobeable reports whether the x86-64 kernel accepts a uprobe on the
// instruction at the start of code (Linux's arch/x86/kernel/uprobes.c,
// uprobe_init_insn): no ES, CS, DS, SS or LOCK prefix (DS is also CET's
// notrack), and an opcode in its tables of instructions it can
// single-step or emulate (good_insns_64; for 0f-escaped opcodes
// good_2byte_insns, although Linux 6.1 lets any of them through by its
// one-byte table's 0f entry). Where this is stricter than the kernel (the
// two-byte table, VEX and EVEX encodings, code too short to hold an
// opcode) a caller loses at most a probe it could have had; it is never
// looser.
// One refused probe fails a whole uprobe_multi link, so probes placed
// where nothing checked the instruction (--follow's return addresses)
// are checked here.
func Uprobeable(code []byte) bool {
	i := 0
	for ; i < len(code) && i < 15; i++ {
		switch code[i] {
		case 0x26, 0x2e, 0x36, 0x3e, 0xf0: // ES, CS, DS, SS, LOCK
			return false
		case 0x64, 0x65, 0x66, 0x67, 0xf2, 0xf3: // FS, GS, size, REP
			continue
		}
		break
	}
	if i < len(code) && code[i]&0xf0 == 0x40 { // REX
		i++
	}
	if i >= len(code) {
		return false
	}
	op := code[i]
	switch op {
	case 0xc4, 0xc5, 0x62: // VEX, EVEX
		return false
	case 0x0f:
		if i+1 >= len(code) {
			return false
		}
		return bit(good2[:], code[i+1])
	case 0x8e: // mov to a segment register: mov to ss masks exceptions
		if i+1 < len(code) && (code[i+1]>>3)&7 == 2 {
			return false
		}
	}
	return bit(good1[:], op)
}

func bit(t []uint16, b byte) bool { return t[b>>4]&(1<<(b&15)) != 0 }

// good1 and good2 are the kernel's good_insns_64 and good_2byte_insns,
// one row of 16 opcodes a word, opcode low nibble n at bit n.
var good1 = [16]uint16{
	row(1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1), // 00
	row(1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0), // 10
	row(1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0), // 20
	row(1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0), // 30
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 40
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 50
	row(0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), // 60
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 70
	row(1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 80
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1), // 90
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // a0
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // b0
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), // c0
	row(1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1), // d0
	row(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0), // e0
	row(1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1), // f0
}

var good2 = [16]uint16{
	row(0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1), // 00
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 10
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 20
	row(0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1), // 30
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 40
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 50
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 60
	row(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1), // 70
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 80
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // 90
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1), // a0
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // b0
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // c0
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // d0
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // e0
	row(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), // f0
}

func row(b ...uint16) uint16 {
	var w uint16
	for i, v := range b {
		w |= v << i
	}
	return w
}
