package abi

import "testing"

// TestPtRegs checks the table against struct pt_regs's layout: r15 first,
// then r14 .. r8 and the others, eight bytes each, rip at 16*8.
func TestPtRegs(t *testing.T) {
	order := []uint64{R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8, RAX, RCX, RDX, RSI, RDI}
	for i, r := range order {
		if off, ok := PtRegsOffset(r); !ok || off != int16(8*i) {
			t.Errorf("PtRegsOffset(%d) = %d, %v; want %d", r, off, ok, 8*i)
		}
	}
	// orig_ax at 15*8, then ip, cs, flags, sp.
	for r, want := range map[uint64]int16{RIP: 16 * 8, RSP: 19 * 8} {
		if off, ok := PtRegsOffset(r); !ok || off != want {
			t.Errorf("PtRegsOffset(%d) = %d, %v; want %d", r, off, ok, want)
		}
	}
	if off, _ := PtRegsOffset(RIP); off != PtRegsIP {
		t.Errorf("PtRegsIP = %d, want %d", PtRegsIP, off)
	}
	if off, _ := PtRegsOffset(RAX); off != PtRegsRet {
		t.Errorf("PtRegsRet = %d, want %d", PtRegsRet, off)
	}
	if _, ok := PtRegsOffset(17); ok {
		t.Error("PtRegsOffset(17) (xmm0) is in pt_regs")
	}
}

// TestArgIndex: ArgIndex inverts ArgRegs, and refuses the others.
func TestArgIndex(t *testing.T) {
	want := map[uint64]int{RDI: 0, RSI: 1, RDX: 2, RCX: 3, R8: 4, R9: 5}
	for r := uint64(0); r <= RIP; r++ {
		i, ok := ArgIndex(r)
		if w, isArg := want[r]; ok != isArg || i != w {
			t.Errorf("ArgIndex(%d) = %d, %v; want %d, %v", r, i, ok, w, isArg)
		}
	}
	for i, r := range ArgRegs {
		if got, _ := ArgIndex(r); got != i {
			t.Errorf("ArgIndex(ArgRegs[%d]) = %d", i, got)
		}
	}
}
