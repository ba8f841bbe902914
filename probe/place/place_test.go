package place

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
)

const base = 0x401000

// decode builds a Func from hand-assembled code at base.
func decode(t *testing.T, code []byte, data map[uint64][]byte) *Func {
	t.Helper()
	read := func(va uint64, n int) ([]byte, bool) {
		for a, b := range data {
			if va >= a && va+uint64(n) <= a+uint64(len(b)) {
				return b[va-a : va-a+uint64(n)], true
			}
		}
		return nil, false
	}
	f, err := Decode(base, [][2]uint64{{base, base + uint64(len(code))}}, func(va uint64, n int) ([]byte, error) {
		return code[va-base : va-base+uint64(n)], nil
	}, read)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func asm(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	movEBX1    = []byte{0xbb, 1, 0, 0, 0}       // mov ebx, 1
	movEDI1    = []byte{0xbf, 1, 0, 0, 0}       // mov edi, 1
	testEAX    = []byte{0x85, 0xc0}             // test eax, eax
	jne0       = []byte{0x75, 0x00}             // jne +0
	callRel    = []byte{0xe8, 0, 0, 0, 0}       // call +0
	ret        = []byte{0xc3}                   // ret
	subRSP8    = []byte{0x48, 0x83, 0xec, 0x08} // sub rsp, 8
	andRSP     = []byte{0x48, 0x83, 0xe4, 0xf0} // and rsp, -16
	storeRBP   = []byte{0x89, 0x45, 0xfc}       // mov [rbp-4], eax
	loadRBP    = []byte{0x8b, 0x45, 0xfc}       // mov eax, [rbp-4]
	pushRBX    = []byte{0x53}                   // push rbx
	movRAXRBX  = []byte{0x48, 0x89, 0xd8}       // mov rax, rbx
	cmpRBX     = []byte{0x48, 0x83, 0xfb, 0x05} // cmp rbx, 5
	allButPush = func(c insn.Class) bool { return c != insn.ClassPush && c != insn.ClassPushR }
)

// Location expressions.
var (
	inRAX      = ir.Var{Name: "a", Size: 8, Expr: []byte{0x50}}                                // DW_OP_reg0
	inRBX      = ir.Var{Name: "b", Size: 8, Expr: []byte{0x53}}                                // DW_OP_reg3
	inRDI      = ir.Var{Name: "d", Size: 8, Expr: []byte{0x55}}                                // DW_OP_reg5
	onFrame    = ir.Var{Name: "s", Size: 8, Expr: []byte{0x91, 0x6c}, FrameBase: []byte{0x9c}} // DW_OP_fbreg -20, frame base DW_OP_call_frame_cfa
	onRSP      = ir.Var{Name: "r", Size: 8, Expr: []byte{0x77, 0x08}}                          // DW_OP_breg7 8
	rdiAtEntry = ir.Var{Name: "e", Size: 8, Expr: []byte{0xa3, 1, 0x55, 0x9f}}                 // DW_OP_entry_value(DW_OP_reg5), DW_OP_stack_value
	deref      = ir.Var{Name: "p", Size: 8, Expr: []byte{0x50}, Steps: []ir.Step{ir.StepAdd{Off: 8}, ir.StepDeref{}}}
)

// TestPlace checks decisions on straight runs of hand-assembled code:
// each names the reads, the code, and where the probe must go and why.
func TestPlace(t *testing.T) {
	for _, c := range []struct {
		name string
		code []byte
		vars []ir.Var
		cfa  uint64 // the CFA rule's register at the statement
		want string
	}{
		{"write to the variable's register between", asm(movEBX1, testEAX, jne0, ret), []ir.Var{inRBX},
			7, "kept: rbx written between (+0x0 mov ebx, 0x1)"},
		{"write to another register", asm(movEBX1, testEAX, jne0, ret), []ir.Var{inRAX},
			7, "moved to +0x7 jnz 0x401009 (2 instructions later)"},
		{"a call as the candidate", asm(movRAXRBX, callRel, ret), []ir.Var{inRBX},
			7, "moved to +0x3 call 0x401008 (1 instructions later)"},
		{"a call as the candidate, its argument register read", asm(movEDI1, callRel, ret), []ir.Var{inRDI},
			7, "kept: rdi written between (+0x0 mov edi, 0x1)"},
		{"an entry value is read from the entry snapshot", asm(movEDI1, callRel, ret), []ir.Var{rdiAtEntry},
			7, "moved to +0x5 call 0x40100a (1 instructions later)"},
		{"a jump target inside the run", asm(testEAX, movEBX1, []byte{0x75, 0xf9}, ret), []ir.Var{inRAX},
			7, "kept: jump target at +0x2"},
		{"the candidate is a jump target", asm(testEAX, movEBX1, []byte{0x75, 0xfe}, ret), []ir.Var{inRAX},
			7, "kept: jump target at +0x7"},
		{"the first instruction is emulated", asm(callRel, ret), []ir.Var{inRAX},
			7, "kept: call 0x401005 is emulated"},
		{"rsp moves by a known amount, frame-relative read", asm(subRSP8, callRel, ret), []ir.Var{onFrame},
			7, "moved to +0x4 call 0x401009 (1 instructions later)"},
		{"rsp moves by an unknown amount, frame-relative read", asm(andRSP, callRel, ret), []ir.Var{onFrame},
			7, "kept: the frame's register rsp changes between (+0x0 and rsp, -0x10)"},
		{"rsp moves, rsp-relative read", asm(subRSP8, callRel, ret), []ir.Var{onRSP},
			7, "kept: rsp written between (+0x0 sub rsp, 0x8)"},
		{"rsp moves, frame on rbp", asm(subRSP8, cmpRBX, callRel, ret), []ir.Var{onFrame},
			6, "moved to +0x8 call 0x40100d (2 instructions later)"},
		{"a push between, frame-relative read", asm(pushRBX, cmpRBX, callRel, ret), []ir.Var{onFrame},
			6, "kept: a stack slot read may be written between (+0x0 push rbx)"},
		{"a push between, register read", asm(pushRBX, cmpRBX, callRel, ret), []ir.Var{inRBX},
			6, "moved to +0x5 call 0x40100a (2 instructions later)"},
		{"memory written between, frame-relative read", asm(storeRBP, callRel, ret), []ir.Var{onFrame},
			6, "kept: a stack slot read may be written between (+0x0 mov dword ptr [rbp-0x4], eax)"},
		{"memory written between, pointer followed", asm(storeRBP, callRel, ret), []ir.Var{deref},
			6, "kept: memory written between (+0x0 mov dword ptr [rbp-0x4], eax)"},
		{"memory read between, frame-relative read", asm(loadRBP, cmpRBX, callRel, ret), []ir.Var{onFrame},
			6, "moved to +0x7 call 0x40100c (2 instructions later)"},
		{"memory read between into the variable's register", asm(loadRBP, cmpRBX, callRel, ret), []ir.Var{inRAX},
			6, "kept: rax written between (+0x0 mov eax, dword ptr [rbp-0x4])"},
		{"memory read between, register read", asm(loadRBP, cmpRBX, callRel, ret), []ir.Var{inRBX},
			6, "moved to +0x7 call 0x40100c (2 instructions later)"},
		{"a store to the slot read", asm(storeRBP, callRel, ret), []ir.Var{slot(-20, 4)},
			6, "kept: a stack slot read may be written between (+0x0 mov dword ptr [rbp-0x4], eax)"},
		{"a store next to the slot read", asm(storeRBP, callRel, ret), []ir.Var{slot(-24, 4)},
			6, "moved to +0x3 call 0x401008 (1 instructions later)"},
		{"a store through a pointer, slot read", asm([]byte{0x89, 0x08}, callRel, ret), []ir.Var{slot(-24, 4)},
			6, "kept: a stack slot read may be written between (+0x0 mov dword ptr [rax], ecx)"},
		{"a store to a global, slot read", asm([]byte{0x89, 0x05, 0, 0, 0, 0}, callRel, ret), []ir.Var{slot(-24, 4)},
			6, "moved to +0x6 call 0x40100b (1 instructions later)"},
		{"a store on rsp, slot on rbp", asm([]byte{0x89, 0x04, 0x24}, callRel, ret), []ir.Var{slot(-24, 4)},
			6, "kept: a stack slot read may be written between (+0x0 mov dword ptr [rsp], eax)"},
		{"a push next to the slot read", asm(pushRBX, callRel, ret), []ir.Var{slot(-36, 4)},
			7, "moved to +0x1 call 0x401006 (1 instructions later)"},
		{"a push onto the slot read", asm(pushRBX, callRel, ret), []ir.Var{slot(-28, 8)},
			7, "kept: a stack slot read may be written between (+0x0 push rbx)"},
		{"a return ends the run", asm(movEBX1, ret, callRel), []ir.Var{inRAX},
			7, "kept: +0x5 ret can leave the run"},
		{"no emulated instruction", asm(movEBX1, movRAXRBX), []ir.Var{inRAX},
			7, "kept: no emulated instruction follows"},
		{"an aggregate is not read", asm(storeRBP, callRel, ret), []ir.Var{{Name: "buf", Expr: []byte{0x91, 0x6c}, FrameBase: []byte{0x9c}}},
			6, "moved to +0x3 call 0x401008 (1 instructions later)"},
		{"an address as a value is not a read", asm(storeRBP, callRel, ret), []ir.Var{{Name: "g", Size: 8, Expr: []byte{0x03, 0, 0x10, 0, 0, 0, 0, 0, 0, 0x9f}}},
			6, "moved to +0x3 call 0x401008 (1 instructions later)"},
		{"an address read", asm(storeRBP, callRel, ret), []ir.Var{{Name: "g", Size: 8, Expr: []byte{0x03, 0, 0x10, 0, 0, 0, 0, 0, 0}}},
			6, "kept: memory written between (+0x0 mov dword ptr [rbp-0x4], eax)"},
		{"an address read in a piece", asm(storeRBP, callRel, ret), []ir.Var{{Name: "g", Size: 8, Expr: []byte{0x03, 0, 0x10, 0, 0, 0, 0, 0, 0, 0x93, 8, 0x9f}}},
			6, "kept: memory written between (+0x0 mov dword ptr [rbp-0x4], eax)"},
		{"an unknown location operation", asm(movEBX1, callRel), []ir.Var{{Name: "x", Expr: []byte{0xe0}, Size: 8}},
			7, "kept: location of x: operation 0xe0 not analysed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := decode(t, c.code, nil)
			d := f.Place(base, ReadsOf(c.vars), CFA{Reg: c.cfa, Off: 16}, allButPush)
			if d.Why != c.want {
				t.Errorf("got %q, want %q", d.Why, c.want)
			}
			if d.Moved != strings.HasPrefix(c.want, "moved") || d.Moved == (d.Addr == base) {
				t.Errorf("moved %v at %#x for %q", d.Moved, d.Addr, d.Why)
			}
		})
	}
}

// slot is a variable of size bytes at off from the CFA.
func slot(off int64, size int) ir.Var {
	e := []byte{0x91}
	for {
		b := byte(off & 0x7f)
		off >>= 7
		if off == 0 && b&0x40 == 0 || off == -1 && b&0x40 != 0 {
			e = append(e, b)
			break
		}
		e = append(e, b|0x80)
	}
	return ir.Var{Name: "s", Expr: e, FrameBase: []byte{0x9c}, Size: size}
}

// TestPlaceRSP checks the rsp movement reported for a frame-relative read,
// which the caller compares with the CFA rule at the new address.
func TestPlaceRSP(t *testing.T) {
	f := decode(t, asm(subRSP8, subRSP8, cmpRBX, callRel, ret), nil)
	d := f.Place(base, ReadsOf([]ir.Var{onFrame}), CFA{Reg: 7, Off: 8}, allButPush)
	if !d.Moved || d.Addr != base+12 || !d.RSPKnown || d.RSP != -16 {
		t.Errorf("got %+v, want moved to %#x with rsp -16", d, base+12)
	}
}

// TestPlaceBarrier checks that another statement inside the run keeps the
// probe.
func TestPlaceBarrier(t *testing.T) {
	f := decode(t, asm(movEBX1, testEAX, jne0, ret), nil)
	f.Barrier(base+5, "statement")
	if d := f.Place(base, ReadsOf([]ir.Var{inRAX}), CFA{Reg: 7, Off: 8}, allButPush); d.Why != "kept: statement at +0x5" {
		t.Errorf("got %q", d.Why)
	}
}

// TestJumpTable checks that the entries of a PIC switch table the code
// loads RIP-relative become jump targets.
func TestJumpTable(t *testing.T) {
	// 0: lea rdx, [rip+table]; 7: movsxd rax, [rdx+rax*4]; b: add rax, rdx;
	// e: jmp rax; 10: test eax, eax; 12: mov ebx, 1; 17: jne +0; 19: ret
	code := asm([]byte{0x48, 0x8d, 0x15, 0, 0, 0, 0}, []byte{0x48, 0x63, 0x04, 0x82}, []byte{0x48, 0x01, 0xd0}, []byte{0xff, 0xe0},
		testEAX, movEBX1, jne0, ret)
	table := uint64(base + 0x1000)
	binary.LittleEndian.PutUint32(code[3:], uint32(table-(base+7)))
	entries := make([]byte, 12)
	for i, target := range []uint64{base + 0x19, base + 0x12, base + 0x10} {
		binary.LittleEndian.PutUint32(entries[4*i:], uint32(int32(int64(target)-int64(table))))
	}
	f := decode(t, code, map[uint64][]byte{table: entries})
	if !f.Indirect() {
		t.Error("jmp rax is not seen as an indirect jump")
	}
	if d := f.Place(base+0x10, ReadsOf([]ir.Var{inRAX}), CFA{Reg: 7, Off: 8}, allButPush); d.Why != "kept: jump-table target at +0x12" {
		t.Errorf("got %q", d.Why)
	}
}

// TestClassOf checks the classes of the sample encodings and of encodings
// that are in none.
func TestClassOf(t *testing.T) {
	for _, c := range insn.Classes {
		s := insn.Sample(c)
		if got := insn.ClassOf(s, len(s)); got != c {
			t.Errorf("sample of %s (% x) is classed %q", c, s, got)
		}
	}
	for _, b := range [][]byte{{0x3e, 0x74, 0x00}, {0x66, 0xe8, 0, 0}, {0x48, 0x89, 0xc0}, {0x0f, 0x1f, 0x48, 0x00}, {0xf3, 0x90}} {
		if got := insn.ClassOf(b, len(b)); got != "" {
			t.Errorf("% x is classed %q, want none", b, got)
		}
	}
}

func Example() {
	fmt.Println(ReadsOf([]ir.Var{onFrame}).CFA)
	// Output: true
}

// TestSuccessor checks where a statement kept at its own address is
// observed on the jumps that enter it: each case names the code, the
// statement's offset (the entry and the statement are barriers), and the
// decision for each entry with its condition code.
func TestSuccessor(t *testing.T) {
	je := func(rel int8) []byte { return []byte{0x74, byte(rel)} }
	jmp := func(rel int8) []byte { return []byte{0xeb, byte(rel)} }
	jne32 := func(rel int32) []byte {
		return binary.LittleEndian.AppendUint32([]byte{0x0f, 0x85}, uint32(rel))
	}
	// 0: test eax, eax; 2: je +7 (to 0xb); 4: mov ebx, 1; 9: ret;
	// a: ret; b: mov ebx, 2; 10: ret. Both successors of one jcc.
	both := asm(testEAX, je(7), movEBX1, ret, ret, []byte{0xbb, 2, 0, 0, 0}, ret)
	for _, c := range []struct {
		name  string
		code  []byte
		stmt  uint64 // the statement's offset
		vars  []ir.Var
		want  []string
		conds []int
	}{
		{"the fall-through of a jcc", both, 0x4, []ir.Var{inRBX},
			[]string{"moved to +0x2 jz 0x40100b, its only entry, when it falls through"}, []int{4}},
		{"the target of the same jcc", both, 0xb, []ir.Var{inRBX},
			[]string{"moved to +0x2 jz 0x40100b, its only entry, when it jumps"}, []int{4}},
		{"a jcc32 target", asm(testEAX, jne32(6), movEBX1, ret, movEDI1, ret), 0xe, []ir.Var{inRDI},
			[]string{"moved to +0x2 jnz 0x40100e, its only entry, when it jumps"}, []int{5}},
		{"the target of a jmp", asm(testEAX, jmp(6), movEBX1, ret, movEDI1, ret), 0xa, []ir.Var{inRDI},
			[]string{"moved to +0x2 jmp 0x40100a, its only entry, when it always jumps"}, []int{-1}},
		{"the target of a jmp at the entry", asm(jmp(6), movEBX1, ret, movEDI1, ret), 0x8, []ir.Var{inRDI},
			[]string{"kept: a jump that enters it is at the entry"}, nil},
		{"a jump target into the fall-through", asm(testEAX, je(5), movEBX1, je(-7), ret), 0x4, []ir.Var{inRBX},
			[]string{"moved to +0x2 jz 0x401009, one of its 2 entries, when it falls through",
				"moved to +0x9 jz 0x401004, one of its 2 entries, when it jumps"}, []int{4, 4}},
		{"a jcc to the next instruction", asm(testEAX, je(0), movEBX1, ret), 0x4, []ir.Var{inRBX},
			[]string{"kept: both ways of +0x2 jz 0x401004 lead to it"}, nil},
		{"a jcc and a jmp enter the target", asm(testEAX, je(2), jmp(0), movEBX1, ret), 0x6, []ir.Var{inRBX},
			[]string{"moved to +0x2 jz 0x401006, one of its 2 entries, when it jumps",
				"moved to +0x4 jmp 0x401006, one of its 2 entries, when it always jumps"}, []int{4, -1}},
		{"a loop head after padding", asm(testEAX, []byte{0x0f, 0x1f, 0x00}, movEBX1, []byte{0x75, 0xf9}, ret), 0x5, []ir.Var{inRBX},
			[]string{"moved to +0x2 nop dword ptr [rax], eax, one of its 2 entries, when it runs",
				"moved to +0xa jnz 0x401005, one of its 2 entries, when it jumps"}, []int{-1, 5}},
		{"a call enters the target", asm(testEAX, []byte{0xe8, 0, 0, 0, 0}, movEBX1, ret), 0x7, []ir.Var{inRBX},
			[]string{"kept: entered from +0x2 call 0x401007, not a conditional jump"}, nil},
		{"a write between the jcc and the statement", asm(testEAX, je(6), movEDI1, movEBX1, ret), 0x9, []ir.Var{inRBX},
			[]string{"kept: entered from +0x4 mov edi, 0x1, not a conditional jump"}, nil},
		{"after a call", asm([]byte{0xe8, 0, 1, 0, 0}, movEBX1, ret), 0x5, []ir.Var{inRBX},
			[]string{"kept: entered from +0x0 call 0x401105, not a conditional jump"}, nil},
		{"unreachable but by a fall-through of a return", asm(ret, movEBX1, ret), 0x1, []ir.Var{inRBX},
			[]string{"kept: no jump enters it"}, nil},
		{"the function's entry", asm(movEBX1, ret), 0x0, []ir.Var{inRBX},
			[]string{"kept: the function's entry"}, nil},
		{"an unknown location operation", both, 0x4, []ir.Var{{Name: "x", Expr: []byte{0xe0}, Size: 8}},
			[]string{"kept: location of x: operation 0xe0 not analysed"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := decode(t, c.code, nil)
			f.Barrier(base, "statement")
			f.Barrier(base+c.stmt, "statement")
			ds := f.Successor(base+c.stmt, ReadsOf(c.vars), allButPush)
			var why []string
			for _, d := range ds {
				why = append(why, d.Why)
			}
			if !reflect.DeepEqual(why, c.want) {
				t.Fatalf("got %q, want %q", why, c.want)
			}
			for k, d := range ds {
				if d.Moved != strings.HasPrefix(d.Why, "moved to") || d.Succ != d.Moved || d.Moved == (d.Addr == base+c.stmt) {
					t.Fatalf("moved %v succ %v at %#x for %q", d.Moved, d.Succ, d.Addr, d.Why)
				}
				if d.Moved && (d.Cond != c.conds[k] || d.Taken != strings.Contains(d.Why, "jumps")) {
					t.Errorf("%q: condition %d taken %v, want %d", d.Why, d.Cond, d.Taken, c.conds[k])
				}
			}
		})
	}
}

// TestSuccessorBarriers checks that a landing pad or a line row standing
// in for unknown targets keeps a statement at its own address, and that a
// jump the kernel does not emulate does too.
func TestSuccessorBarriers(t *testing.T) {
	code := asm(testEAX, []byte{0x74, 0x06}, movEBX1, ret, ret, []byte{0xbb, 2, 0, 0, 0}, ret)
	for _, why := range []string{"landing pad", "line row"} {
		f := decode(t, code, nil)
		f.Barrier(base+4, "statement")
		f.Barrier(base+4, why)
		if ds := f.Successor(base+4, ReadsOf([]ir.Var{inRBX}), allButPush); len(ds) != 1 || ds[0].Moved || ds[0].Why != "kept: "+why+" at the statement" {
			t.Errorf("%s: got %+v", why, ds)
		}
	}
	f := decode(t, code, nil)
	noJcc := func(c insn.Class) bool { return c != insn.ClassJcc8 }
	if ds := f.Successor(base+4, ReadsOf([]ir.Var{inRBX}), noJcc); len(ds) != 1 || ds[0].Moved || ds[0].Why != "kept: a jump that enters it, +0x2 jz 0x40100a, is not emulated" {
		t.Errorf("got %+v", ds)
	}
}
