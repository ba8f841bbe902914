package bpfgen

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/target/abi"
)

// TestIndexWarnings lists the variable indexes refused at generation: each
// makes only its own variable unavailable.
func TestIndexWarnings(t *testing.T) {
	mem := []byte{0x77, 0x08} // DW_OP_breg7 8: an address
	reg := []byte{0x55}       // DW_OP_reg5: a value
	i := ir.Var{Name: "i", Expr: []byte{0x51}, Size: 4, Signed: true}
	idx := func(v ir.Var) ir.Step { return ir.StepIndex{Index: v, Scale: 4} }
	nested := func(depth int) ir.Var {
		v := i
		for range depth {
			v = ir.Var{Name: "a", Expr: mem, Size: 4, Steps: []ir.Step{idx(v)}}
		}
		return v
	}
	vars := []ir.Var{
		{Name: "ok", Expr: mem, Size: 4, Steps: []ir.Step{idx(i)}},
		{Name: "noloc", Expr: mem, Size: 4, Steps: []ir.Step{idx(ir.Var{Name: "i", Size: 4})}},
		{Name: "xmm", Expr: mem, Size: 4, Steps: []ir.Step{idx(ir.Var{Name: "f", Expr: []byte{0x61}, Size: 8})}},
		{Name: "value", Expr: reg, Size: 4, Steps: []ir.Step{idx(i)}},
		{Name: "str", Expr: mem, Size: 4, Steps: []ir.Step{idx(ir.Var{Name: "s", Expr: mem, Str: 8})}},
		{Name: "size", Expr: mem, Size: 4, Steps: []ir.Step{idx(ir.Var{Name: "i", Expr: mem, Size: 3})}},
		{Name: "scale", Expr: mem, Size: 4, Steps: []ir.Step{ir.StepIndex{Index: i}}},
		{Name: "nest2", Expr: mem, Size: 4, Steps: []ir.Step{idx(nested(1))}},
		{Name: "nest3", Expr: mem, Size: 4, Steps: []ir.Step{idx(nested(2))}},
		{Name: "inner", Expr: mem, Size: 4, Steps: []ir.Step{idx(ir.Var{Name: "a", Expr: reg, Size: 4, Steps: []ir.Step{idx(i)}})}},
		{Name: "nilstep", Expr: mem, Size: 4, Steps: []ir.Step{(*ir.StepIndex)(nil)}},
		{Name: "ptr", Expr: mem, Size: 4, Steps: []ir.Step{&ir.StepIndex{Index: i, Scale: 4}}},
	}
	g, err := Generate(&Spec{EntryOffset: 0x10, Stmts: []Stmt{{ID: 1, FileOffset: 0x20, Vars: vars}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Warning{
		{1, "noloc", "index i: no location at this address"},
		{1, "xmm", "index f: register 17 is not in pt_regs"},
		{1, "value", "member or element of a value that is not in memory"},
		{1, "str", "index s is a string"},
		{1, "size", "index i: size 3 is not a scalar size"},
		{1, "scale", "index i scales by 0 bytes"},
		{1, "nest3", "index a nests indexes 3 levels deep, at most 2"},
		{1, "inner", "index a: member or element of a value that is not in memory"},
		{1, "nilstep", "unknown access step *ir.StepIndex"},
	}
	if !reflect.DeepEqual(g.Warnings, want) {
		t.Errorf("warnings:\n%v\nwant\n%v", g.Warnings, want)
	}
}

func TestIndexNesting(t *testing.T) {
	i := ir.Var{Name: "i", Expr: []byte{0x51}, Size: 4}
	one := ir.Var{Name: "b", Expr: []byte{0x50}, Size: 4, Steps: []ir.Step{ir.StepDeref{}, ir.StepIndex{Index: i, Scale: 4}}}
	two := ir.Var{Name: "a", Expr: []byte{0x50}, Size: 4, Steps: []ir.Step{ir.StepDeref{}, ir.StepIndex{Index: i, Scale: 4}, ir.StepAdd{Off: 8}, ir.StepIndex{Index: one, Scale: 2}}}
	for _, tc := range []struct {
		v    ir.Var
		want int
	}{{i, 0}, {one, 1}, {two, 2}} {
		if got := indexNesting(&tc.v); got != tc.want {
			t.Errorf("indexNesting(%s) = %d, want %d", tc.v.Name, got, tc.want)
		}
	}
}

func TestIndexString(t *testing.T) {
	for _, tc := range []struct {
		s    ir.StepIndex
		want string
	}{
		{ir.StepIndex{Index: ir.Var{Name: "i"}, Scale: 8}, "+[i]*8"},
		{ir.StepIndex{Index: ir.Var{Name: "n"}, Add: -1, Scale: 4}, "+[n-1]*4"},
		{ir.StepIndex{Index: ir.Var{Name: "j"}, Add: 2, Scale: 1}, "+[j+2]*1"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String = %q, want %q", got, tc.want)
		}
	}
}

// TestIndexCode pins the instructions of one indexed step: the address is
// saved, the index read from its register, offset, bounded (unsigned, so
// negative indexes fail too), scaled and added.
func TestIndexCode(t *testing.T) {
	e := &emitter{}
	st := &Stmt{ID: 1}
	s := ir.StepIndex{Index: ir.Var{Name: "i", Expr: []byte{0x51}, Size: 4, Signed: true}, Add: -1, Scale: 8, Len: 4}
	if err := compileIndex(e, st, &s, "fail"); err != nil {
		t.Fatal(err)
	}
	rdx, _ := abi.PtRegsOffset(1)
	want := asm.Instructions{
		asm.StoreMem(asm.RFP, fpIndexBase, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, rCtx, rdx, asm.DWord),
		asm.LSh.Imm(asm.R0, 32),
		asm.ArSh.Imm(asm.R0, 32),
		asm.Mov.Imm(asm.R1, -1),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.Mov.Imm(asm.R1, 4),
		asm.JGE.Reg(asm.R0, asm.R1, "fail"),
		asm.Mov.Imm(asm.R1, 8),
		asm.Mul.Reg(asm.R0, asm.R1),
		asm.LoadMem(asm.R1, asm.RFP, fpIndexBase, asm.DWord),
		asm.Add.Reg(asm.R0, asm.R1),
	}
	if len(e.insns) != len(want) {
		t.Fatalf("got %d instructions, want %d:\n%v", len(e.insns), len(want), e.insns)
	}
	for i := range want {
		if fmt.Sprint(e.insns[i]) != fmt.Sprint(want[i]) || e.insns[i].Reference() != want[i].Reference() {
			t.Errorf("instruction %d = %v, want %v", i, e.insns[i], want[i])
		}
	}
	// The slots sit below the string pointer and inside the 512-byte stack.
	if deepest := fpIndexBase - 8*(ir.MaxIndexNesting-1); fpIndexBase >= fpStrPtr || deepest < -512 {
		t.Errorf("index slots %d..%d overlap the string pointer (%d) or leave the stack", deepest, fpIndexBase, fpStrPtr)
	}
}

// TestIndexVerify loads variable indexes through the verifier: indexes of
// every location kind, with offsets, bounds and wide scales, two in one path,
// an index inside an index, under strings, and at the entry statement (the
// entry program records it).
func TestIndexVerify(t *testing.T) {
	requireBPF(t)
	fb := []byte{0x9c}
	var idxs []ir.Var
	for _, v := range allKinds() {
		switch v.Name {
		case "xmm", "agg", "none":
			continue
		}
		idxs = append(idxs, v)
	}
	inner := ir.Var{Name: "b", Expr: []byte{0x91, 0x60}, FrameBase: fb, Size: 2, Signed: true,
		Steps: []ir.Step{ir.StepIndex{Index: idxs[0], Add: 3, Scale: 2, Len: 16}}}
	var vars []ir.Var
	for k, iv := range idxs {
		steps := []ir.Step{ir.StepDeref{}, ir.StepIndex{Index: iv, Add: int64(k) - 3, Scale: []int64{1, 8, 40, 1 << 33}[k%4], Len: int64(k % 3 * 7)}}
		vars = append(vars, ir.Var{Name: "a", Expr: []byte{0x55}, Size: []int{1, 2, 4, 8}[k%4], Signed: k%2 == 0, Steps: steps})
	}
	vars = append(vars,
		ir.Var{Name: "two", Expr: []byte{0x91, 0x68}, FrameBase: fb, Size: 4,
			Steps: []ir.Step{ir.StepIndex{Index: idxs[1], Scale: 64, Len: 4}, ir.StepAdd{Off: 8}, ir.StepDeref{}, ir.StepIndex{Index: idxs[2], Add: 1, Scale: 4}}},
		ir.Var{Name: "nested", Expr: []byte{0x55}, Size: 8, Steps: []ir.Step{ir.StepDeref{}, ir.StepIndex{Index: inner, Scale: 8}}},
		ir.Var{Name: "str", Expr: []byte{0x55}, Str: 64, Steps: []ir.Step{ir.StepDeref{}, ir.StepIndex{Index: idxs[3], Scale: 8}}},
		ir.Var{Name: "arr", Expr: []byte{0x91, 0x50}, FrameBase: fb, Str: 32, Steps: []ir.Step{ir.StepIndex{Index: inner, Scale: 32, Len: 3}, ir.StepAddrOf{}}},
		ir.Var{Name: "addr", Expr: []byte{0x55}, Size: 8, Steps: []ir.Step{ir.StepDeref{}, ir.StepIndex{Index: idxs[4], Scale: 4}, ir.StepAddrOf{}}},
	)
	spec := &Spec{
		EntryOffset: 0x1000, RetSize: 4,
		Stmts: []Stmt{
			{ID: 1, PC: 0x401000, FileOffset: 0x1000, CFA: CFARule{Reg: 7, Offset: 8}, Vars: vars},
			{ID: 2, PC: 0x401010, FileOffset: 0x1010, CFA: CFARule{Reg: 6, Offset: 16}, Vars: vars},
		},
	}
	g, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Warnings) != 0 {
		t.Fatalf("warnings: %v", g.Warnings)
	}
	mustLoad(t, g)
}
