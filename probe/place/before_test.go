package place

import (
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
)

// TestBefore checks where a statement that cannot move forward is
// recorded earlier on the straight line that leads to it: each case
// names the code, the statements (the first is the one placed; the
// others are kept at their own addresses, as earlier reports them), the
// reads, and the decisions with their conditions and the first
// instruction that runs after each probe.
func TestBefore(t *testing.T) {
	je := func(rel int8) []byte { return []byte{0x74, byte(rel)} }
	jmp := func(rel int8) []byte { return []byte{0xeb, byte(rel)} }
	all := func(insn.Class) bool { return true }
	type want struct {
		why  string
		cond int
		from uint64
		rsp  int64
	}
	for _, c := range []struct {
		name  string
		code  []byte
		stmts []uint64 // offsets: the placed statement, then kept ones
		vars  []ir.Var
		emu   func(insn.Class) bool
		want  []want
		calls bool // statements may be recorded before a call
	}{
		{"a jcc, then a write to another register", asm(testEAX, je(6), movEDI1, movEBX1, ret), []uint64{0x9}, []ir.Var{inRBX}, allButPush,
			[]want{{"recorded earlier, at +0x2 jz 0x40100a, when it falls through", 4, 0x4, 0}}, false},
		{"a jcc, then a constant into the register read", asm(testEAX, je(6), movEDI1, movEBX1, ret), []uint64{0x9}, []ir.Var{inRDI}, allButPush,
			[]want{{"recorded earlier, at +0x2 jz 0x40100a, when it falls through, reading rdi as 0x1", 4, 0x4, 0}}, false},
		{"a constant into a register read whole and through", asm(testEAX, je(6), movEDI1, movEBX1, ret), []uint64{0x9}, []ir.Var{inRDI, {Name: "q", Size: 8, Expr: []byte{0x55}, Steps: []ir.Step{ir.StepDeref{}}}}, allButPush,
			[]want{{"kept: rdi written between (+0x4 mov edi, 0x1)", 0, 0, 0}}, false},
		{"xor zeroes the register read", asm(testEAX, je(4), []byte{0x31, 0xff}, movEBX1, ret), []uint64{0x6}, []ir.Var{inRDI}, allButPush,
			[]want{{"recorded earlier, at +0x2 jz 0x401008, when it falls through, reading rdi as 0x0", 4, 0x4, 0}}, false},
		{"a 64-bit negative constant", asm(testEAX, je(12), []byte{0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff}, movEBX1, ret), []uint64{0xb}, []ir.Var{inRDI}, allButPush,
			[]want{{"recorded earlier, at +0x2 jz 0x401010, when it falls through, reading rdi as 0xffffffffffffffff", 4, 0x4, 0}}, false},
		{"a 32-bit constant zero-extends", asm(testEAX, je(10), []byte{0xbf, 0xff, 0xff, 0xff, 0xff}, movEBX1, ret), []uint64{0x9}, []ir.Var{inRDI}, allButPush,
			[]want{{"recorded earlier, at +0x2 jz 0x40100e, when it falls through, reading rdi as 0xffffffff", 4, 0x4, 0}}, false},
		{"a byte constant is not the whole register", asm(testEAX, je(2), []byte{0x40, 0xb7, 0x01}, movEBX1, ret), []uint64{0x7}, []ir.Var{inRDI}, allButPush,
			[]want{{"kept: rdi written between (+0x4 mov dil, 0x1)", 0, 0, 0}}, false},
		{"a jcc, then a write to the register read", asm(testEAX, je(5), movRAXRBX, movEBX1, ret), []uint64{0x7}, []ir.Var{inRAX}, allButPush,
			[]want{{"kept: rax written between (+0x4 mov rax, rbx)", 0, 0, 0}}, false},
		{"after a kept statement", asm(testEAX, callRel, movEDI1, movEBX1, ret), []uint64{0xc, 0x7}, []ir.Var{inRBX}, allButPush,
			[]want{{"recorded earlier, at +0x7 mov edi, 0x1, whenever it runs (with the statement at +0x7)", -1, 0x7, 0}}, false},
		{"after a kept statement that writes the register read", asm(testEAX, callRel, movRAXRBX, movEBX1, ret), []uint64{0xa, 0x7}, []ir.Var{inRAX}, allButPush,
			[]want{{"kept: rax written between (+0x7 mov rax, rbx)", 0, 0, 0}}, false},
		{"a store between, a slot read", asm(testEAX, callRel, storeRBP, movEBX1, ret), []uint64{0xa, 0x7}, []ir.Var{slot(-20, 4)}, allButPush,
			[]want{{"kept: a stack slot read may be written between (+0x7 mov dword ptr [rbp-0x4], eax)", 0, 0, 0}}, false},
		{"a store between, another slot read", asm(testEAX, callRel, storeRBP, movEBX1, ret), []uint64{0xa, 0x7}, []ir.Var{slot(-24, 4)}, allButPush,
			[]want{{"recorded earlier, at +0x7 mov dword ptr [rbp-0x4], eax, whenever it runs (with the statement at +0x7)", -1, 0x7, 0}}, false},
		{"a store between, memory read", asm(testEAX, callRel, storeRBP, movEBX1, ret), []uint64{0xa, 0x7}, []ir.Var{deref}, allButPush,
			[]want{{"kept: memory written between (+0x7 mov dword ptr [rbp-0x4], eax)", 0, 0, 0}}, false},
		// 0: test; 2: je +5 (to 9); 4: mov edi, 1 (kept); 9: mov ebx, 1; e: ret.
		{"a jump target that a kept statement falls into", asm(testEAX, je(5), movEDI1, movEBX1, ret), []uint64{0x9, 0x4}, []ir.Var{inRBX}, allButPush,
			[]want{{"recorded earlier, at +0x2 jz 0x401009, when it jumps", 4, 0x9, 0},
				{"recorded earlier, at +0x4 mov edi, 0x1, whenever it runs (with the statement at +0x4)", -1, 0x4, 0}}, false},
		// The same with no statement at 4: one probe, two records, one
		// for each way the jz goes.
		{"a jump target a plain instruction falls into", asm(testEAX, je(5), movEDI1, movEBX1, ret), []uint64{0x9}, []ir.Var{inRBX}, allButPush,
			[]want{{"recorded earlier, at +0x2 jz 0x401009, when it jumps", 4, 0x9, 0},
				{"recorded earlier, at +0x2 jz 0x401009, when it falls through", 4, 0x4, 0}}, false},
		// 0: test; 2: jne +7 (to b); 4: mov edi, 1; 9: jmp +5 (to 10); b: mov ebx, 1; 10: mov ebx, 1 (S); 15: ret.
		{"a jmp and a line with a jcc at its head", asm(testEAX, []byte{0x75, 7}, movEDI1, jmp(5), movEBX1, movEBX1, ret), []uint64{0x10}, []ir.Var{inRDI}, allButPush,
			[]want{{"recorded earlier, at +0x9 jmp 0x401010, whenever it runs", -1, 0x10, 0},
				{"recorded earlier, at +0x2 jnz 0x40100b, when it jumps", 5, 0xb, 0}}, false},
		{"a push before", asm(testEAX, callRel, pushRBX, movEBX1, ret), []uint64{0x8}, []ir.Var{inRBX}, all,
			[]want{{"recorded earlier, at +0x7 push rbx, where it runs", -1, 0x7, 8}}, false},
		{"a push before, a slot on rsp read", asm(testEAX, callRel, pushRBX, movEBX1, ret), []uint64{0x8}, []ir.Var{onRSP}, all,
			[]want{{"kept: rsp written between (+0x7 push rbx)", 0, 0, 0}}, false},
		{"a push before, a slot on the frame read", asm(testEAX, callRel, pushRBX, movEBX1, ret), []uint64{0x8}, []ir.Var{slot(-20, 4)}, all,
			[]want{{"kept: a stack slot read may be written between (+0x7 push rbx)", 0, 0, 0}}, false},
		{"after a call", asm(testEAX, []byte{0xe8, 0, 1, 0, 0}, movEDI1, movEBX1, ret), []uint64{0xc}, []ir.Var{inRBX}, allButPush,
			[]want{{"kept: entered from +0x2 call 0x401107", 0, 0, 0}}, false},
		{"after a call, recorded before it", asm(testEAX, []byte{0xe8, 0, 1, 0, 0}, movEDI1, movEBX1, ret), []uint64{0xc}, []ir.Var{inRBX, rdiAtEntry}, allButPush,
			[]want{{"recorded earlier, at +0x2 call 0x401107, before the call", -1, 0x7, 0}}, true},
		{"after a call, a register the call may change", asm(testEAX, []byte{0xe8, 0, 1, 0, 0}, movEDI1, movEBX1, ret), []uint64{0xc}, []ir.Var{inRBX, inRAX}, allButPush,
			[]want{{"kept: it reads rax, which the call may change", 0, 0, 0}}, true},
		{"after a call, a constant set after it", asm(testEAX, []byte{0xe8, 0, 1, 0, 0}, movEDI1, movEBX1, ret), []uint64{0xc}, []ir.Var{inRDI}, allButPush,
			[]want{{"kept: it reads rdi, which the call may change", 0, 0, 0}}, true},
		{"after a call, memory", asm(testEAX, []byte{0xe8, 0, 1, 0, 0}, movEDI1, movEBX1, ret), []uint64{0xc}, []ir.Var{slot(-24, 4)}, allButPush,
			[]want{{"kept: it reads memory, which the call may write", 0, 0, 0}}, true},
		{"after a call, following a statement recorded before it", asm(testEAX, []byte{0xe8, 0, 1, 0, 0}, movEDI1, movEBX1, ret), []uint64{0xc, 0x7}, []ir.Var{inRBX}, allButPush,
			[]want{{"recorded earlier, at +0x7 mov edi, 0x1, whenever it runs (with the statement at +0x7)", -1, 0x7, 0}}, true},
		{"after a kept rep string instruction", asm(testEAX, callRel, []byte{0xf3, 0x48, 0xab}, movEBX1, ret), []uint64{0xa, 0x7}, []ir.Var{inRBX}, allButPush,
			[]want{{"kept: entered from +0x7 rep stosq qword ptr [rdi]", 0, 0, 0}}, false},
		{"a rep string instruction", asm(testEAX, je(3), []byte{0xf3, 0x48, 0xab}, ret), []uint64{0x4}, []ir.Var{inRBX}, allButPush,
			[]want{{"kept: rep stosq qword ptr [rdi] traps at each iteration", 0, 0, 0}}, false},
		{"the line starts at the entry", asm(movEDI1, movEBX1, ret), []uint64{0x5}, []ir.Var{inRBX}, allButPush,
			[]want{{"kept: the line starts at the function's entry", 0, 0, 0}}, false},
		{"it reads rip", asm(testEAX, je(6), movEDI1, movEBX1, ret), []uint64{0x9}, []ir.Var{{Name: "g", Size: 8, Expr: []byte{0x80, 0x10}}}, allButPush,
			[]want{{"kept: it reads rip", 0, 0, 0}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := decode(t, c.code, nil)
			f.Barrier(base, "statement")
			for _, s := range c.stmts {
				f.Barrier(base+s, "statement")
			}
			earlier := func(a uint64) ([]Decision, bool) {
				for _, s := range c.stmts[1:] {
					if a == base+s {
						return []Decision{{Addr: a}}, true
					}
				}
				return nil, false
			}
			ds := f.Before(base+c.stmts[0], ReadsOf(c.vars), CFA{Reg: 6, Off: 16}, c.emu, earlier, c.calls)
			var got []want
			for _, d := range ds {
				w := want{why: d.Why}
				if d.Moved {
					if !d.Succ || !d.RSPKnown {
						t.Errorf("%q: succ %v, rsp known %v", d.Why, d.Succ, d.RSPKnown)
					}
					w.cond, w.from, w.rsp = d.Cond, d.From-base, d.RSP
				}
				got = append(got, w)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestBeforeChain checks that statements on one straight line follow
// each other: the second is recorded wherever the first is, with the
// run from there checked for its own reads.
func TestBeforeChain(t *testing.T) {
	// 0: test eax, eax; 2: je +0xb (to f); 4: mov edi, 1 (A); 9: mov ebx, 1 (B); e: ret; f: ret.
	f := decode(t, asm(testEAX, []byte{0x74, 0x0b}, movEDI1, movEBX1, ret, ret), nil)
	for _, s := range []uint64{0, 4, 9} {
		f.Barrier(base+s, "statement")
	}
	decided := map[uint64][]Decision{}
	earlier := func(a uint64) ([]Decision, bool) { d, ok := decided[a]; return d, ok }
	// A: observed on the jz's fall-through (Successor).
	a := f.Successor(base+4, ReadsOf([]ir.Var{inRBX}), allButPush)
	if len(a) != 1 || !a[0].Succ || a[0].Addr != base+2 {
		t.Fatalf("A: %+v", a)
	}
	decided[base+4] = a
	b := f.Before(base+9, ReadsOf([]ir.Var{inRBX}), CFA{Reg: 7, Off: 8}, allButPush, earlier, false)
	if len(b) != 1 || b[0].Addr != base+2 || b[0].Cond != 4 || b[0].Taken || b[0].From != base+4 ||
		b[0].Why != "recorded earlier, at +0x2 jz 0x40100f, when it falls through (with the statement at +0x4)" {
		t.Fatalf("B: %+v", b)
	}
	// B reads rdi, which A's code sets: the whole run from the jz
	// counts.
	if b := f.Before(base+9, ReadsOf([]ir.Var{inRDI}), CFA{Reg: 7, Off: 8}, allButPush, earlier, false); !b[0].Moved ||
		b[0].Why != "recorded earlier, at +0x2 jz 0x40100f, when it falls through (with the statement at +0x4), reading rdi as 0x1" ||
		!reflect.DeepEqual(b[0].Consts, map[uint64]uint64{5: 1}) {
		t.Fatalf("B reading rdi: %+v", b)
	}
	// A statement placed after its address (Place) cannot be followed.
	decided[base+4] = []Decision{{Addr: base + 0xe, Moved: true}}
	if b := f.Before(base+9, ReadsOf([]ir.Var{inRBX}), CFA{Reg: 7, Off: 8}, allButPush, earlier, false); b[0].Moved {
		t.Fatalf("B after a moved A: %+v", b)
	}
}

// TestBeforeCallChain checks that a statement that follows one recorded
// before a call must itself read only what survives the call.
func TestBeforeCallChain(t *testing.T) {
	// 0: test eax, eax; 2: call (outside); 7: mov edi, 1 (A); c: mov ebx, 1 (B); 11: ret.
	f := decode(t, asm(testEAX, []byte{0xe8, 0, 1, 0, 0}, movEDI1, movEBX1, ret), nil)
	for _, s := range []uint64{0, 7, 0xc} {
		f.Barrier(base+s, "statement")
	}
	decided := map[uint64][]Decision{}
	earlier := func(a uint64) ([]Decision, bool) { d, ok := decided[a]; return d, ok }
	decided[base+7] = f.Before(base+7, ReadsOf([]ir.Var{inRBX}), CFA{Reg: 7, Off: 8}, allButPush, earlier, true)
	if a := decided[base+7]; len(a) != 1 || !a[0].Call || a[0].Addr != base+2 {
		t.Fatalf("A: %+v", a)
	}
	if b := f.Before(base+0xc, ReadsOf([]ir.Var{inRBX}), CFA{Reg: 7, Off: 8}, allButPush, earlier, true); len(b) != 1 || b[0].Addr != base+2 || !b[0].Call {
		t.Fatalf("B reading rbx: %+v", b)
	}
	if b := f.Before(base+0xc, ReadsOf([]ir.Var{{Name: "si", Size: 8, Expr: []byte{0x54}}}), CFA{Reg: 7, Off: 8}, allButPush, earlier, true); b[0].Moved || b[0].Why != "kept: it reads rsi, which the call may change" {
		t.Fatalf("B reading rsi: %+v", b)
	}
}

// TestReturnsTwice names the functions that may return twice.
func TestReturnsTwice(t *testing.T) {
	for name, want := range map[string]bool{"setjmp": true, "_setjmp": true, "__sigsetjmp": true, "vfork": true, "getcontext": true,
		"savectx": true, "strlen": false, "longjmp": false, "fork": false} {
		if ReturnsTwice(name) != want {
			t.Errorf("ReturnsTwice(%q) = %v", name, !want)
		}
	}
}

// TestPlaceCopy checks that a register read whole and written between
// the statement and the emulated instruction after it is read from a
// copy made just before the statement, and only then.
func TestPlaceCopy(t *testing.T) {
	var (
		movR14RAX = []byte{0x49, 0x89, 0xc6}       // mov r14, rax
		leaEAX    = []byte{0x8d, 0x40, 0xff}       // lea eax, [rax-1]
		cmpEAX    = []byte{0x83, 0xf8, 0x3f}       // cmp eax, 0x3f
		ja        = []byte{0x77, 0x00}             // ja +0
		movR14D1  = []byte{0x41, 0xbe, 1, 0, 0, 0} // mov r14d, 1
		movR14EAX = []byte{0x41, 0x89, 0xc6}       // mov r14d, eax
	)
	for _, c := range []struct {
		name    string
		code    []byte
		stmt    uint64
		barrier string
		vars    []ir.Var
		want    string
		copies  map[uint64]uint64
	}{
		{"a copy before the statement", asm(testEAX, movR14RAX, leaEAX, cmpEAX, ja, ret), 5, "", []ir.Var{inRAX},
			"moved to +0xb jnbe 0x40100d (2 instructions later), reading rax from r14, its copy", map[uint64]uint64{0: 14}},
		{"the statement is a jump target", asm(testEAX, movR14RAX, leaEAX, cmpEAX, ja, ret), 5, "jump target", []ir.Var{inRAX},
			"kept: rax written between (+0x5 lea eax, ptr [rax-0x1])", nil},
		{"the copy is written between", asm(testEAX, movR14RAX, leaEAX, movR14D1, ja, ret), 5, "", []ir.Var{inRAX},
			"kept: rax written between (+0x5 lea eax, ptr [rax-0x1])", nil},
		{"a 32-bit copy", asm(testEAX, movR14EAX, leaEAX, cmpEAX, ja, ret), 5, "", []ir.Var{inRAX},
			"kept: rax written between (+0x5 lea eax, ptr [rax-0x1])", nil},
		{"read through, not whole", asm(testEAX, movR14RAX, leaEAX, cmpEAX, ja, ret), 5, "", []ir.Var{deref},
			"kept: rax written between (+0x5 lea eax, ptr [rax-0x1])", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := decode(t, c.code, nil)
			f.Barrier(base+c.stmt, "statement")
			if c.barrier != "" {
				f.Barrier(base+c.stmt, c.barrier)
			}
			d := f.Place(base+c.stmt, ReadsOf(c.vars), CFA{Reg: 7, Off: 8}, allButPush)
			if d.Why != c.want || !reflect.DeepEqual(d.Copies, c.copies) {
				t.Fatalf("got %q %v, want %q %v", d.Why, d.Copies, c.want, c.copies)
			}
			if c.copies != nil {
				got := d.Rewrite(c.vars)
				if !reflect.DeepEqual(got[0].Expr, []byte{0x5e}) || !reflect.DeepEqual(c.vars[0].Expr, []byte{0x50}) {
					t.Errorf("rewritten %x (from %x), want 5e (DW_OP_reg14)", got[0].Expr, c.vars[0].Expr)
				}
			}
		})
	}
	c := Decision{Consts: map[uint64]uint64{0: 300}}
	if got := c.Rewrite([]ir.Var{inRAX, inRBX}); !reflect.DeepEqual(got[0].Expr, []byte{0x10, 0xac, 0x02, 0x9f}) || !reflect.DeepEqual(got[1].Expr, inRBX.Expr) {
		t.Errorf("constant rewritten to %x %x, want 10ac029f (DW_OP_constu 300, DW_OP_stack_value) 53", got[0].Expr, got[1].Expr)
	}
}
