package bpfgen

import (
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
)

func TestSlots(t *testing.T) {
	vars := []ir.Var{{Size: 4}, {Str: 64}, {Size: 0}, {Str: 12}, {Str: 256}, {Str: 256}, {Size: 8}}
	want := []Slot{{0, 1, false}, {1, 8, true}, {9, 1, false}, {10, 1, true}, {11, 32, true}, {}, {43, 1, false}}
	if got := Slots(vars); !reflect.DeepEqual(got, want) {
		t.Errorf("Slots = %v, want %v", got, want)
	}
	many := make([]ir.Var, MaxVars+2)
	got := Slots(many)
	if got[MaxVars-1] != (Slot{MaxVars - 1, 1, false}) || got[MaxVars] != (Slot{}) || got[MaxVars+1] != (Slot{}) {
		t.Errorf("Slots beyond %d variables: %v", MaxVars, got[MaxVars-1:])
	}
}

// TestAccessWarnings lists the access paths and strings refused at generation.
func TestAccessWarnings(t *testing.T) {
	reg := []byte{0x55}                // DW_OP_reg5: a value
	mem := []byte{0x77, 0x08}          // DW_OP_breg7 8: an address
	pieces := []byte{0x50, 0x93, 0x08} // rax[8]: a composite, so a value
	nine := make([]ir.Step, ir.MaxSteps+1)
	for i := range nine {
		nine[i] = ir.StepDeref{}
	}
	vars := []ir.Var{
		{Name: "reg.m", Expr: reg, Size: 4, Steps: []ir.Step{ir.StepAdd{Off: 4}}},
		{Name: "&reg", Expr: reg, Size: 8, Steps: []ir.Step{ir.StepAddrOf{}}},
		{Name: "*&mem", Expr: mem, Size: 8, Steps: []ir.Step{ir.StepAddrOf{}, ir.StepDeref{}}},
		{Name: "deep", Expr: mem, Size: 8, Steps: nine},
		{Name: "nilstep", Expr: mem, Size: 8, Steps: []ir.Step{(*ir.StepAdd)(nil)}},
		{Name: "pieces.m", Expr: pieces, Size: 4, Steps: []ir.Step{ir.StepAdd{Off: 0}}},
		{Name: "odd", Expr: mem, Str: 12},
		{Name: "huge", Expr: mem, Str: 264},
		{Name: "size", Expr: mem, Size: 3, Steps: []ir.Step{ir.StepDeref{}}},
		{Name: "noloc", Size: 4, Steps: []ir.Step{ir.StepDeref{}}},
	}
	g, err := Generate(&Spec{EntryOffset: 0x10, Stmts: []Stmt{{ID: 1, FileOffset: 0x20, Vars: vars}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Warning{
		{1, "reg.m", "member or element of a value that is not in memory"},
		{1, "&reg", "address of a value that is not in memory"},
		{1, "*&mem", "& must be the last step of an access path"},
		{1, "deep", "access path of 9 steps, at most 8"},
		{1, "nilstep", "unknown access step *ir.StepAdd"},
		{1, "pieces.m", "member or element of a value that is not in memory"},
		{1, "odd", "string size 12 is not a multiple of 8 from 8 to 256"},
		{1, "huge", "string size 264 is not a multiple of 8 from 8 to 256"},
		{1, "size", "size 3 is not a scalar size"},
		{1, "noloc", "no location at this address"},
	}
	if !reflect.DeepEqual(g.Warnings, want) {
		t.Errorf("warnings:\n%v\nwant\n%v", g.Warnings, want)
	}
	room := []ir.Var{{Name: "a", Expr: mem, Str: 256}, {Name: "b", Expr: mem, Str: 248}, {Name: "c", Expr: mem, Str: 16}, {Name: "d", Expr: mem, Size: 8}}
	g, err = Generate(&Spec{EntryOffset: 0x10, Stmts: []Stmt{{ID: 2, FileOffset: 0x20, Vars: room}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Warning{{2, "c", "no room left in the record (64 slots of 8 bytes)"}}; !reflect.DeepEqual(g.Warnings, want) {
		t.Errorf("warnings %v, want %v", g.Warnings, want)
	}
	if g.Layout.Values != MaxSlots {
		t.Errorf("layout has %d slots, want %d", g.Layout.Values, MaxSlots)
	}
}

// TestAccessAndCondVerify loads access paths from every kind of base, the
// widest strings, and every condition node through the verifier.
func TestAccessAndCondVerify(t *testing.T) {
	requireBPF(t)
	fb := []byte{0x9c}
	d, a := ir.StepDeref{}, ir.StepAdd{Off: 24}
	var paths []ir.Var
	for _, expr := range [][]byte{
		{0x91, 0x68},                            // fbreg: an address
		{0x55},                                  // reg5: a value
		{0x73, 0x08, 0x9f},                      // breg3 8 stack_value
		{0x9e, 0x08, 1, 2, 3, 4, 5, 6, 7, 8},    // implicit value
		{0xa3, 0x01, 0x55, 0x9f},                // entry_value(reg5)
		{0x50, 0x93, 0x04, 0x51, 0x93, 0x04},    // pieces
		{0x03, 0x10, 0x40, 0x40, 0, 0, 0, 0, 0}, // addr
	} {
		for _, steps := range [][]ir.Step{{d}, {d, a}, {d, a, d, a, d, a, d, a}, {d, a, ir.StepAddrOf{}}} {
			paths = append(paths, ir.Var{Name: "p", Expr: expr, FrameBase: fb, Size: 4, Signed: true, Steps: steps})
		}
		paths = append(paths, ir.Var{Name: "s", Expr: expr, FrameBase: fb, Str: 8, Steps: []ir.Step{d, a}})
	}
	strs := []ir.Var{
		{Name: "s256", Expr: []byte{0x55}, Str: 256},
		{Name: "s128", Expr: []byte{0x91, 0x68}, FrameBase: fb, Str: 128, Steps: []ir.Step{d}},
		{Name: "s64", Expr: []byte{0x54}, Str: 64},
		{Name: "v", Expr: []byte{0x54}, Size: 8},
	}
	tag := ir.Param{Name: "tag", Index: 4, Size: 8}
	n := ir.Param{Name: "n", Index: 0, Size: 4, Signed: true}
	long := make([]byte, ir.MaxCondStr)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	var cond ir.Cond = ir.Const{V: 1}
	for _, c := range []ir.Cond{
		ir.Pid{}, ir.Tid{}, ir.Uid{}, ir.Randint{N: 7}, ir.Randint{N: 1 << 40}, ir.CommEq{S: "prog"}, ir.CommEq{S: "exactly15chars!"},
		ir.CommEq{S: "sixteen-chars-xx"}, ir.UserStrEq{Ptr: tag, S: "x"}, ir.UserStrEq{Ptr: tag, S: ""},
		ir.UserStrEq{Ptr: tag, S: string(long)}, ir.UserStrEq{Ptr: tag, S: "abcdefghijklmno"},
		ir.Unary{Op: ir.UnNot, X: n}, ir.Unary{Op: ir.UnNeg, X: n}, ir.Unary{Op: ir.UnBitNot, X: n},
		ir.BinOp{Op: ir.OpMul, L: n, R: ir.Const{V: 3}}, ir.BinOp{Op: ir.OpXor, L: n, R: ir.Const{V: 3}},
		ir.BinOp{Op: ir.OpShl, L: n, R: n}, ir.BinOp{Op: ir.OpShr, L: n, R: ir.Const{V: 70}},
		ir.Load{Addr: ir.GlobalAddr{Addr: 0x404010, Name: "g"}, Size: 4, Signed: true},
		ir.Load{Addr: ir.BinOp{Op: ir.OpAdd, L: ir.GlobalAddr{Addr: 0x404010, Name: "a"}, R: ir.BinOp{Op: ir.OpMul, L: n, R: ir.Const{V: 8}}}, Size: 8},
	} {
		cond = ir.BinOp{Op: ir.OpLogOr, L: cond, R: c}
	}
	// One chain of ||, so every node lands in the same return program.
	// Strings are read from resident pages only, and faulting pages in
	// (sleepable programs).
	for _, faultIn := range []bool{false, true} {
		spec := &Spec{
			EntryOffset: 0x1000, EntryPC: 0x401000, RetSize: 4, Cond: cond, FaultIn: faultIn,
			Stmts: []Stmt{
				{ID: 1, PC: 0x401000, FileOffset: 0x1000, CFA: CFARule{Reg: 7, Offset: 8}, Vars: strs},
				{ID: 2, PC: 0x401010, FileOffset: 0x1010, CFA: CFARule{Reg: 6, Offset: 16}, Vars: paths},
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
}

func TestCondFunctionStrings(t *testing.T) {
	tag := ir.Param{Name: "tag"}
	for _, tc := range []struct {
		c    ir.Cond
		want string
	}{
		{ir.Pid{}, "pid()"},
		{ir.Tid{}, "tid()"},
		{ir.Uid{}, "uid()"},
		{ir.Randint{N: 10}, "randint(10)"},
		{ir.GlobalAddr{Addr: 0x4010, Name: "loads"}, `&@var("loads")`},
		{ir.CommEq{S: "ls"}, `(execname() == "ls")`},
		{ir.UserStrEq{Ptr: tag, S: "a\"b\\c\n\x01\xff"}, `(user_string($tag) == "a\"b\\c\n\001\377")`},
		{ir.Unary{Op: ir.UnNot, X: ir.BinOp{Op: ir.OpEq, L: ir.Pid{}, R: ir.Const{V: 1}}}, "!(pid() == 1)"},
		{ir.Unary{Op: ir.UnNeg, X: ir.Return{}}, "-$return"},
		{ir.Unary{Op: ir.UnBitNot, X: ir.Const{V: 5}}, "~5"},
		{ir.Unary{Op: ir.UnaryOp(9), X: ir.Const{V: 5}}, "unary(9)5"},
		{ir.BinOp{Op: ir.OpShr, L: ir.BinOp{Op: ir.OpShl, L: ir.BinOp{Op: ir.OpXor, L: ir.BinOp{Op: ir.OpMul, L: ir.Const{V: 1}, R: ir.Const{V: 2}}, R: ir.Const{V: 3}}, R: ir.Const{V: 4}}, R: ir.Const{V: 5}}, "((((1 * 2) ^ 3) << 4) >> 5)"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String = %s, want %s", got, tc.want)
		}
	}
	for _, s := range []ir.Step{ir.StepAdd{Off: 8}, ir.StepDeref{}, ir.StepAddrOf{}} {
		if s.String() == "" {
			t.Errorf("%T has no string", s)
		}
	}
}

func TestCondFunctionErrors(t *testing.T) {
	long := string(make([]byte, ir.MaxCondStr+1))
	for _, tc := range []struct {
		c    ir.Cond
		want string
	}{
		{ir.Randint{N: 0}, "compiling the condition randint(0): randint(0): the bound must be positive"},
		{ir.UserStrEq{Ptr: ir.Param{Name: "p", Index: 1, Size: 8}, S: long[:ir.MaxCondStr+1]}, "string of 247 bytes: at most 246 can be compared"},
		{ir.Unary{Op: ir.UnaryOp(7), X: ir.Const{}}, "compiling the condition unary(7)0: unknown unary operator unary(7)"},
		{ir.UserStrEq{Ptr: ir.Param{Name: "p", Index: 9, Size: 8}, S: "x"}, "compiling the condition (user_string($p) == \"x\"): parameter p: argument 9 is not passed in a register"},
	} {
		g, err := Generate(&Spec{Cond: tc.c})
		if g != nil || err == nil || (err.Error() != tc.want && !containsSuffix(err.Error(), tc.want)) {
			t.Errorf("Generate(%v) = %v, %v; want error %q", tc.c, g, err, tc.want)
		}
	}
}

func containsSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
