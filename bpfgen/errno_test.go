package bpfgen

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
)

// errnoSpec traces a function whose condition and statements (one at the
// entry, recorded by the entry program, and one after it) read errno,
// found as loc says.
func errnoSpec(loc *ErrnoLocation) *Spec {
	ev := ir.Var{Name: "errno()", Errno: true, Size: 4, Signed: true}
	return &Spec{
		EntryOffset: 0x1000,
		EntryPC:     0x401000,
		RetSize:     4,
		Cond:        ir.BinOp{Op: ir.OpLogAnd, L: ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: -1}}, R: ir.BinOp{Op: ir.OpEq, L: ir.Errno{}, R: ir.Const{V: 2}}},
		Errno:       loc,
		Stmts: []Stmt{
			{ID: 1, PC: 0x401000, FileOffset: 0x1000, Vars: []ir.Var{ev}},
			{ID: 2, PC: 0x401010, FileOffset: 0x1010, Vars: []ir.Var{{Name: "n", Expr: []byte{0x55}, Size: 4}, ev}},
		},
	}
}

// TestErrnoProgramsVerify loads the programs of every way of finding
// errno: the verifier must accept the link_map walk (a bounded loop), the
// build-id comparison and the reads at statements and at return.
func TestErrnoProgramsVerify(t *testing.T) {
	requireBPF(t)
	for _, loc := range []*ErrnoLocation{
		{Mode: ErrnoTracedLibc, TaskFSBase: 3128, GOT: 0x1d2de0},
		{Mode: ErrnoLinkMap, TaskFSBase: 3128, GOT: 0x1d2de0, DebugEntry: 0x3df8, Dynamic: 0x1d2b60,
			BuildID: []byte("0123456789abcdefghij"), BuildIDAddr: 0x384},
		{Mode: ErrnoLinkMap, TaskFSBase: 3128, GOT: 0x1d2de0, DebugEntry: 0x3df8, Dynamic: 0x1d2b60,
			BuildID: []byte("0123456789abcde"), BuildIDAddr: 0x384},
		{Mode: ErrnoStatic, TaskFSBase: 3128, TPOffset: -0x68},
		{Mode: ErrnoTracedLibc}, // thread pointer unknown
		{Mode: ErrnoUnknown},
	} {
		g, err := Generate(errnoSpec(loc))
		if err != nil {
			t.Fatalf("%+v: %v", loc, err)
		}
		if len(g.Warnings) != 0 {
			t.Errorf("%+v: warnings %v", loc, g.Warnings)
		}
		mustLoad(t, g)
	}
}

// TestErrnoCodeOnlyWhenUsable: the entry program finds errno only when it
// can; otherwise the header keeps its zero, which reads as unavailable.
func TestErrnoCodeOnlyWhenUsable(t *testing.T) {
	count := func(loc *ErrnoLocation) int {
		g, err := Generate(errnoSpec(loc))
		if err != nil {
			t.Fatal(err)
		}
		return len(g.Collection.Programs[ProgEntry].Instructions)
	}
	none := count(nil)
	if n := count(&ErrnoLocation{Mode: ErrnoUnknown, TaskFSBase: 3128}); n != none {
		t.Errorf("unknown mode: %d entry instructions, want %d", n, none)
	}
	if n := count(&ErrnoLocation{Mode: ErrnoStatic, TPOffset: -8}); n != none {
		t.Errorf("unknown thread pointer: %d entry instructions, want %d", n, none)
	}
	if n := count(&ErrnoLocation{Mode: ErrnoStatic, TaskFSBase: 8, TPOffset: -8}); n <= none {
		t.Errorf("static errno: %d entry instructions, want more than %d", n, none)
	}
}

func TestErrnoLocationErrors(t *testing.T) {
	for _, tc := range []struct {
		loc  ErrnoLocation
		want string
	}{
		{ErrnoLocation{Mode: ErrnoLinkMap, TaskFSBase: 8}, "errno location: libc's build-id (0 bytes at 0x0) cannot be checked"},
		{ErrnoLocation{Mode: ErrnoLinkMap, TaskFSBase: 8, BuildID: make([]byte, 65), BuildIDAddr: 4}, "errno location: libc's build-id (65 bytes at 0x4) cannot be checked"},
		{ErrnoLocation{Mode: ErrnoStatic, TPOffset: 8}, "errno location: TP offset 8 is not a static TLS offset"},
		{ErrnoLocation{Mode: ErrnoTracedLibc, TaskFSBase: 12}, "errno location: task_struct offset 12 of fsbase is not 8-byte aligned"},
		{ErrnoLocation{Mode: 9}, "errno location: unknown mode 9"},
	} {
		s := errnoSpec(&tc.loc)
		if g, err := Generate(s); g != nil || err == nil || err.Error() != tc.want {
			t.Errorf("Generate(%+v) = %v, %v; want error %q", tc.loc, g, err, tc.want)
		}
	}
	if s := errnoSpec(nil).Cond.(ir.BinOp).String(); !strings.Contains(s, "(errno() == 2)") {
		t.Errorf("condition renders as %s", s)
	}
}
