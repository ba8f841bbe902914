package bpfgen

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// requireBPF skips a test that needs to load BPF programs when this process
// cannot, saying why; under CI=true the missing capability is a failure.
func requireBPF(t testing.TB) {
	t.Helper()
	fixture.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		fixture.Missing(t, "cannot lift the memlock limit: %v", err)
	}
}

// TestGeneratedProgramsVerify loads every program kind into the kernel, with
// variables of each supported location kind, so the verifier checks bounds.
// Record limits from 1 to the default check the ring's index bounds.
func TestGeneratedProgramsVerify(t *testing.T) {
	requireBPF(t)
	cases := []struct {
		traceAll, multi bool
		maxRecords      int
		stack           int
		space           target.AddressSpace
	}{{false, false, 0, 0, 0}, {true, false, 0, 0, 0}, {false, true, 0, 0, 0}, {true, true, 0, 0, 0}, {false, false, 1, 0, 0}, {false, true, 3, 0, 0}, {false, false, 100, 0, 0},
		{false, true, 0, DefaultStack, 0}, {true, false, 1, MaxStack, 0}, {false, false, 0, StackChunk, 0},
		// Kernel targets, with their fast slots (one at the largest
		// record limit).
		{false, false, 0, 0, target.KernelSpace}, {true, false, 0, 0, target.KernelSpace}, {false, false, 1, 0, target.KernelSpace}, {false, false, 1 << 14, 0, target.KernelSpace}}
	for _, c := range cases {
		spec := &Spec{
			EntryOffset: 0x1000,
			RetSize:     4,
			TraceAll:    c.traceAll,
			Multi:       c.multi,
			MaxRecords:  c.maxRecords,
			Stack:       c.stack,
			Space:       c.space,
			Cond:        ir.BinOp{Op: ir.OpLogAnd, L: ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: -22}}, R: ir.BinOp{Op: ir.OpGt, L: ir.Param{Name: "n", Index: 0, Size: 4, Signed: true}, R: ir.Const{V: 3}}},
			Stmts: []Stmt{
				{ID: 1, PC: 0x401000, FileOffset: 0x1000, CFA: CFARule{Reg: 7, Offset: 8}, Vars: []ir.Var{
					{Name: "n", Expr: []byte{0x55}, Size: 4, Signed: true}, // DW_OP_reg5
				}},
				{ID: 2, PC: 0x401010, FileOffset: 0x1010, CFA: CFARule{Reg: 6, Offset: 16}, Vars: allKinds()},
			},
		}
		g, err := Generate(spec)
		if err != nil {
			t.Fatal(err)
		}
		want := []Warning{
			{2, "xmm", "register 17 is not in pt_regs"},
			{2, "none", "no location at this address"},
		}
		if !reflect.DeepEqual(g.Warnings, want) {
			t.Errorf("warnings = %v, want %v", g.Warnings, want)
		}
		mustLoad(t, g)
	}
}

// mustLoad loads g's programs into the kernel, failing the test with the
// verifier's log when it refuses one.
func mustLoad(t *testing.T, g *Generated) {
	t.Helper()
	coll, err := ebpf.NewCollection(g.Collection)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("%+v", ve)
		}
		t.Fatal(err)
	}
	coll.Close()
}

// allKinds has one variable per location form the generator supports, plus
// one it does not (an SSE register).
func allKinds() []ir.Var {
	fbCFA := []byte{0x9c}
	return []ir.Var{
		{Name: "fb", Expr: []byte{0x91, 0x6c}, FrameBase: fbCFA, Size: 4, Signed: true}, // fbreg -20
		{Name: "fbrbp", Expr: []byte{0x91, 0x68}, FrameBase: []byte{0x56}, Size: 8},     // fbreg -24 via rbp
		{Name: "breg", Expr: []byte{0x77, 0x08}, Size: 2},                               // breg7 8
		{Name: "addr", Expr: []byte{0x03, 0x10, 0x40, 0x40, 0, 0, 0, 0, 0}, Size: 8},    // addr
		{Name: "val", Expr: []byte{0x73, 0x00, 0x23, 0x05, 0x9f}, Size: 8},              // breg3 0 plus_uconst 5 stack_value
		{Name: "stk", Expr: []byte{0x73, 0x00, 0x35, 0x22, 0x9f}, Size: 8},              // breg3 0 lit5 plus stack_value
		{Name: "entry", Expr: []byte{0xa3, 0x01, 0x55, 0x9f}, Size: 4, Signed: true},    // entry_value(reg5) stack_value
		{Name: "pieces", Expr: []byte{0x50, 0x93, 0x04, 0x51, 0x93, 0x04}, Size: 8},     // rax[4] rdx[4]
		{Name: "deref", Expr: []byte{0x77, 0x00, 0x06, 0x94, 0x04}, Size: 4},            // breg7 0 deref deref_size 4 (address)
		{Name: "imp", Expr: []byte{0x9e, 0x04, 1, 2, 3, 4}, Size: 4},                    // implicit_value
		{Name: "xmm", Expr: []byte{0x61}, Size: 8},                                      // reg17: xmm0
		{Name: "agg", Expr: []byte{0x91, 0x60}, FrameBase: fbCFA, Size: 0},              // struct: not read
		{Name: "cmp", Expr: []byte{0x70, 0x00, 0x71, 0x00, 0x2d, 0x9f}, Size: 4},        // breg0 0 breg1 0 lt stack_value
		{Name: "none", Size: 4}, // no location here
	}
}

// TestRandomExpressionsVerify compiles random sequences of the supported
// operations and loads them: whatever compiles must also pass the verifier,
// since one rejected variable would fail the whole session.
func TestRandomExpressionsVerify(t *testing.T) {
	requireBPF(t)
	rng := rand.New(rand.NewPCG(1, 2))
	simple := []byte{0x06, 0x12, 0x13, 0x14, 0x16, 0x17, 0x19, 0x1a, 0x1c, 0x1e, 0x1f, 0x20, 0x21, 0x22,
		0x24, 0x25, 0x26, 0x27, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x31, 0x4f, 0x9c, 0x96}
	randOp := func() []byte {
		switch rng.IntN(8) {
		case 0:
			return []byte{0x70 + byte(rng.IntN(18)), byte(rng.IntN(128))} // bregN
		case 1:
			return []byte{0x91, byte(rng.IntN(128))} // fbreg
		case 2:
			return []byte{0x94, []byte{1, 2, 4, 8}[rng.IntN(4)]} // deref_size
		case 3:
			return []byte{0x15, byte(rng.IntN(4))} // pick
		case 4:
			return []byte{0xa3, 0x01, 0x50 + byte(rng.IntN(10))} // entry_value(regN)
		case 5:
			return []byte{0x03, 0x40, 0x40, 0, 0, 0, 0, 0, 0} // addr
		default:
			return []byte{simple[rng.IntN(len(simple))]}
		}
	}
	var stmts []Stmt
	compiled := 0
	for s := 0; s < 8; s++ {
		st := Stmt{ID: uint32(s + 1), PC: 0x1000 + uint64(s), FileOffset: 0x2000 + uint64(s), CFA: CFARule{Reg: 7, Offset: 16}}
		for len(st.Vars) < MaxVars {
			var expr []byte
			for n := 1 + rng.IntN(6); n > 0; n-- {
				expr = append(expr, randOp()...)
			}
			switch rng.IntN(3) {
			case 0:
				expr = append(expr, 0x9f) // stack_value
			case 1:
				expr = append(expr, 0x93, 0x04, 0x50, 0x93, 0x04) // piece with rax
			}
			v := ir.Var{Name: "v", Expr: expr, FrameBase: [][]byte{{0x9c}, {0x56}, {0x77, 0x10}}[rng.IntN(3)], Size: []int{1, 2, 4, 8}[rng.IntN(4)], Signed: rng.IntN(2) == 0}
			if compileVar(&emitter{}, &st, &v, "fail") == nil {
				compiled++
				st.Vars = append(st.Vars, v)
			}
		}
		stmts = append(stmts, st)
	}
	for _, multi := range []bool{false, true} {
		g, err := Generate(&Spec{EntryOffset: 0x2000, RetSize: 8, Stmts: stmts, Multi: multi})
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Warnings) != 0 {
			t.Fatalf("warnings for expressions that compiled: %v", g.Warnings[:1])
		}
		mustLoad(t, g)
	}
	t.Logf("%d random expressions verified", compiled)
}

// TestStmtsProgramsSplit checks that with Multi the statements of a large
// function are spread over several programs, in order, each of which loads.
func TestStmtsProgramsSplit(t *testing.T) {
	requireBPF(t)
	defer func(n int) { MaxStmtsInsns = n }(MaxStmtsInsns)
	MaxStmtsInsns = 400
	spec := &Spec{EntryOffset: 0x1000, RetSize: 4, Multi: true}
	for i := range 12 {
		spec.Stmts = append(spec.Stmts, Stmt{ID: uint32(i + 1), PC: 0x401000 + 8*uint64(i), FileOffset: 0x1000 + 8*uint64(i), CFA: CFARule{Reg: 7, Offset: 8}, Vars: allKinds()})
	}
	g, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if g.StmtPrograms[0] != "" {
		t.Errorf("the statement at the entry has program %q", g.StmtPrograms[0])
	}
	k := 0
	for i, name := range g.StmtPrograms[1:] {
		switch name {
		case StmtsProgramName(k):
		case StmtsProgramName(k + 1):
			k++
		default:
			t.Fatalf("statement %d has program %q after %q", i+1, name, StmtsProgramName(k))
		}
		if g.Collection.Programs[name] == nil {
			t.Fatalf("no program %q", name)
		}
	}
	if k == 0 {
		t.Fatalf("12 statements in one program of %d instructions", len(g.Collection.Programs[StmtsProgramName(0)].Instructions))
	}
	for n := range k + 1 {
		if l := len(g.Collection.Programs[StmtsProgramName(n)].Instructions); l > 2*MaxStmtsInsns {
			t.Errorf("program %s has %d instructions", StmtsProgramName(n), l)
		}
	}
	mustLoad(t, g)
}

// TestJccCond runs the condition code evaluation of successor probes
// (Stmt.Succ) in the kernel, for every condition code and every
// combination of the flags the jumps test, against the Intel SDM's table.
func TestJccCond(t *testing.T) {
	requireBPF(t)
	bits := []uint{flagCF, flagPF, flagZF, flagSF, flagOF}
	sdm := func(cc int, flags uint64) bool {
		f := func(b uint) bool { return flags>>b&1 != 0 }
		cf, pf, zf, sf, of := f(flagCF), f(flagPF), f(flagZF), f(flagSF), f(flagOF)
		jumps := [8]bool{of, cf, zf, cf || zf, sf, pf, sf != of, zf || sf != of}[cc>>1]
		return jumps != (cc&1 == 1)
	}
	for cc := range 16 {
		e := &emitter{}
		e.emit(asm.LoadMem(asm.R1, asm.R1, 0, asm.Word)) // skb->len: the flags to test
		jccCond(e, cc)
		e.emit(asm.Mov.Reg(asm.R0, asm.R1), asm.Return())
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: e.insns})
		if err != nil {
			t.Fatalf("cc %d: %v", cc, err)
		}
		for combo := range 1 << len(bits) {
			flags := uint64(0x202) // IF and the always-set bit 1
			for k, b := range bits {
				if combo>>k&1 != 0 {
					flags |= 1 << b
				}
			}
			// The flags value is skb->len: the packet's length
			// after its 14-byte Ethernet header.
			got, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 14+flags)})
			if err != nil {
				t.Fatalf("cc %d flags %#x: %v", cc, flags, err)
			}
			if want := sdm(cc, flags); (got == 1) != want || got > 1 {
				t.Errorf("cc %#x flags %#x: got %d, want %v", cc, flags, got, want)
			}
		}
		prog.Close()
	}
}

// TestSuccGroup checks that the statements at a successor's offset are
// recorded by one program, attached by the first of them in the order
// statements, branch probes, successors, and that it loads, with single
// uprobes and with uprobe_multi.
func TestSuccGroup(t *testing.T) {
	requireBPF(t)
	for _, multi := range []bool{false, true} {
		st := func(id uint32, off uint64) Stmt {
			return Stmt{ID: id, PC: 0x400000 + off, FileOffset: off, CFA: CFARule{Reg: 7, Offset: 8}, Vars: allKinds()}
		}
		succ := st(1, 0x1020)
		succ.Succ = &Succ{Cond: 4, Taken: false}
		other := st(2, 0x1020)
		other.Succ = &Succ{Cond: 4, Taken: true}
		branch := st(3, 0x1020)
		branch.Branch = true
		jmp := st(5, 0x1030)
		jmp.Succ = &Succ{Cond: -1, Taken: true}
		jmp2 := st(5, 0x1040) // another entry of statement 5
		jmp2.Succ = &Succ{Cond: 12, Taken: true}
		spec := &Spec{EntryOffset: 0x1000, RetSize: 4, Multi: multi,
			Stmts: []Stmt{succ, other, branch, st(4, 0x1020), st(6, 0x1010), jmp, jmp2}}
		g, err := Generate(spec)
		if err != nil {
			t.Fatal(err)
		}
		var attached []int
		for i, name := range g.StmtPrograms {
			if name != "" {
				attached = append(attached, i)
			}
		}
		if want := []int{3, 4, 5, 6}; !reflect.DeepEqual(attached, want) {
			t.Errorf("multi %v: statements with a program %v, want %v", multi, attached, want)
		}
		groups, _ := stmtGroups(spec)
		if want := []int{3, 2, 0, 1}; !reflect.DeepEqual(groups[3], want) {
			t.Errorf("group at 0x1020 %v, want %v", groups[3], want)
		}
		mustLoad(t, g)
	}
	bad := &Spec{EntryOffset: 0x1000, RetSize: 4, Stmts: []Stmt{{ID: 1, FileOffset: 0x1000, Succ: &Succ{Cond: 4}}}}
	if _, err := Generate(bad); err == nil || err.Error() != "statement 1: a successor at the entry offset 0x1000" {
		t.Errorf("successor at the entry: %v", err)
	}
	// Only successors share an id.
	dup := &Spec{EntryOffset: 0x1000, RetSize: 4, Stmts: []Stmt{{ID: 1, FileOffset: 0x1010, Succ: &Succ{Cond: 4}}, {ID: 1, FileOffset: 0x1020}}}
	if _, err := Generate(dup); err == nil || err.Error() != "statement id 1 used twice" {
		t.Errorf("a successor and a statement with one id: %v", err)
	}
}
