package bpfgen

import (
	"reflect"
	"slices"

	"github.com/cilium/ebpf"
	"sort"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/target"
)

func TestGenerateShape(t *testing.T) {
	spec := &Spec{
		EntryOffset: 0x1000,
		RetSize:     4,
		Stmts: []Stmt{
			{ID: 10, FileOffset: 0x1000, CFA: CFARule{Reg: 7, Offset: 8}, Vars: []ir.Var{{Name: "a", Expr: []byte{0x55}, Size: 4}}},
			{ID: 11, FileOffset: 0x1008, Vars: []ir.Var{{Name: "a", Expr: []byte{0x55}, Size: 4}, {Name: "s", Size: 0}, {Name: "b", Expr: []byte{0x54}, Size: 8}}},
		},
	}
	g, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Layout{Values: 3, MaxRecords: DefaultMaxRecords}); g.Layout != want {
		t.Errorf("layout %+v, want %+v", g.Layout, want)
	}
	if want := []string{"", "wtf_stmt_1"}; !reflect.DeepEqual(g.StmtPrograms, want) {
		t.Errorf("statement programs %q, want %q", g.StmtPrograms, want)
	}
	var progs, maps []string
	for n := range g.Collection.Programs {
		progs = append(progs, n)
	}
	for n, m := range g.Collection.Maps {
		maps = append(maps, n)
		if n == MapBufs && m.ValueSize != uint32(HeaderSize+DefaultMaxRecords*(24+3*8)) {
			t.Errorf("buffer value size %d", m.ValueSize)
		}
	}
	sort.Strings(progs)
	sort.Strings(maps)
	if want := []string{ProgEntry, ProgExit, ProgFork, ProgReturn, "wtf_stmt_1"}; !reflect.DeepEqual(progs, want) {
		t.Errorf("programs %q, want %q", progs, want)
	}
	if want := []string{MapBufs, MapEvents, MapPending, MapStats, MapTargets, MapZero}; !reflect.DeepEqual(maps, want) {
		t.Errorf("maps %q, want %q", maps, want)
	}
	for name, p := range g.Collection.Programs {
		if p.AttachType != ebpf.AttachNone {
			t.Errorf("program %s has attach type %v for single uprobes", name, p.AttachType)
		}
	}
	if g.Collection.Programs[ProgFork].Type != ebpf.RawTracepoint || g.Collection.Programs[ProgExit].Type != ebpf.RawTracepoint {
		t.Error("the fork tracker is not made of raw tracepoint programs (which need no tracefs)")
	}

	spec.Multi = true
	g, err = Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", StmtsProgramName(0)}; !reflect.DeepEqual(g.StmtPrograms, want) {
		t.Errorf("statement programs with Multi %q, want %q", g.StmtPrograms, want)
	}
	progs = progs[:0]
	for n, p := range g.Collection.Programs {
		progs = append(progs, n)
		if want := ebpf.AttachTraceUprobeMulti; p.Type == ebpf.Kprobe && p.AttachType != want {
			t.Errorf("program %s has attach type %v, want %v", n, p.AttachType, want)
		}
	}
	sort.Strings(progs)
	if want := []string{ProgEntry, ProgExit, ProgFork, ProgReturn, StmtsProgramName(0)}; !reflect.DeepEqual(progs, want) {
		t.Errorf("programs with Multi %q, want %q", progs, want)
	}

	spec.TraceAll = true
	g, _ = Generate(spec)
	if g.Collection.Programs[ProgFork] != nil || g.Collection.Programs[ProgExit] != nil || g.Collection.Maps[MapPending] != nil {
		t.Error("fork tracker generated although every process is traced")
	}
}

// TestSleepableFlags checks that with FaultIn exactly the programs that read
// strings are sleepable, and that without it none is.
func TestSleepableFlags(t *testing.T) {
	str := []ir.Var{{Name: "s", Expr: []byte{0x55}, Str: 16}}
	scalar := []ir.Var{{Name: "a", Expr: []byte{0x55}, Size: 4}}
	for _, faultIn := range []bool{false, true} {
		for _, entryStr := range []bool{false, true} {
			entryVars := scalar
			if entryStr {
				entryVars = str
			}
			spec := &Spec{
				EntryOffset: 0x1000, RetSize: 4, FaultIn: faultIn,
				Stmts: []Stmt{
					{ID: 1, FileOffset: 0x1000, Vars: entryVars},
					{ID: 2, FileOffset: 0x1008, Vars: str},
					{ID: 3, FileOffset: 0x1010, Vars: scalar},
				},
			}
			g, err := Generate(spec)
			if err != nil {
				t.Fatal(err)
			}
			sleeps := func(b bool) uint32 {
				if b && faultIn {
					return FlagSleepable
				}
				return 0
			}
			want := map[string]uint32{ProgEntry: sleeps(entryStr), "wtf_stmt_1": sleeps(true), "wtf_stmt_2": 0, ProgReturn: 0, ProgFork: 0}
			for name, p := range g.Collection.Programs {
				if p.Flags != want[name] {
					t.Errorf("FaultIn %v, string at entry %v: %s has flags %#x, want %#x", faultIn, entryStr, name, p.Flags, want[name])
				}
			}
		}
	}
}

// TestHeadRecords pins how many first statements a buffer keeps: a quarter,
// at most 64, so the ring always has a record.
func TestHeadRecords(t *testing.T) {
	for max, want := range map[int]int{1: 0, 3: 0, 4: 1, 8: 2, 255: 63, 256: 64, 512: 64, 1 << 16: 64} {
		if got := HeadRecords(max); got != want {
			t.Errorf("HeadRecords(%d) = %d, want %d", max, got, want)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{RetSize: 3}, "return size 3 is not 0, 1, 2, 4 or 8"},
		{Spec{Stmts: []Stmt{{ID: 1}, {ID: 1, FileOffset: 4}}}, "statement id 1 used twice"},
		{Spec{MaxRecords: 1 << 20}, "record limit 1048576 or invocation limit 256 out of range"},
		{Spec{Stack: 100}, "stack copy of 100 bytes is not a multiple of 512 up to 16384"},
		{Spec{Stack: MaxStack + StackChunk}, "stack copy of 16896 bytes is not a multiple of 512 up to 16384"},
		{Spec{Stack: StackChunk, Space: target.KernelSpace}, "the stack copy (--backtrace) is for user-space targets"},
		{Spec{Cond: ir.BinOp{Op: ir.OpEq, L: ir.Param{Name: "x", Index: 7, Size: 4}, R: ir.Const{}}}, "compiling the condition ($x == 0): parameter x: argument 7 is not passed in a register"},
		{Spec{Cond: ir.BinOp{Op: ir.Op(99), L: ir.Return{}, R: ir.Const{}}}, "compiling the condition ($return op(99) 0): unknown operator op(99)"},
	} {
		g, err := Generate(&tc.spec)
		if g != nil || err == nil || err.Error() != tc.want {
			t.Errorf("Generate(%+v) = %v, %v; want error %q", tc.spec, g, err, tc.want)
		}
	}
}

func TestCondString(t *testing.T) {
	c := ir.BinOp{Op: ir.OpLogOr, L: ir.BinOp{Op: ir.OpLe, L: ir.Return{}, R: ir.Const{V: -1}}, R: ir.BinOp{Op: ir.OpBitAnd, L: ir.Param{Name: "flags"}, R: ir.Const{V: 4}}}
	if got, want := c.String(), "(($return <= -1) || ($flags & 4))"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if !strings.Contains(StatTruncations.String(), "truncations") || Stat(99).String() != "stat(99)" {
		t.Error("stat names")
	}
}

// TestKernelSharedOffset: kernel statements at one symbol+offset are
// recorded by one program, a callee's entry probe (an arrival, with its
// return-address filter) before the statement of the callee's first line
// though planned after it, since the kernel runs an address's kprobes in
// the reverse order of their attachment; statements alone at their
// offset keep programs of their own.
func TestKernelSharedOffset(t *testing.T) {
	ra := []ir.Var{{Name: "ra", Expr: []byte{0x77, 0x00}, Size: 8}}
	spec := &Spec{
		Space: target.KernelSpace, EntrySymbol: "wrapper", EntryOffset: 0xffffffff81000000, RetSize: 4,
		Stmts: []Stmt{
			{ID: 2, Symbol: "callee", FileOffset: 0, Vars: []ir.Var{{Name: "a", Expr: []byte{0x55}, Size: 4}}},
			{ID: 1, Symbol: "callee", FileOffset: 0x40, Vars: ra},
			{ID: 0, Symbol: "callee", FileOffset: 0, Vars: ra, ReturnInto: [][2]uint64{{0x10, 0x20}}, Order: OrderArrival},
			{ID: 3, Symbol: "other", FileOffset: 0},
		},
	}
	groups, err := stmtGroups(spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{nil, {1}, {2, 0}, {3}}; !reflect.DeepEqual(groups, want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	g, err := Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", StmtProgramName(1), StmtProgramName(2), StmtProgramName(3)}; !reflect.DeepEqual(g.StmtPrograms, want) {
		t.Errorf("statement programs %q, want %q", g.StmtPrograms, want)
	}
}

// TestSharedOffsetOrder: every set of probes at one address (file and
// offset, or symbol and offset) is recorded by one program in the order
// their code runs, whatever the plan's order, in user space and in the
// kernel, with single programs and uprobe_multi chunks: a return probe
// (arrival) first, then statements, then a call-site probe or a callee's
// ret (departures), branch probes, successors. The kernel would run
// separate probes in the reverse of their attachment
// (TestUprobeOrderAtOneAddress): --follow's call before the statement of
// the call's line. The same offset in another file is another address.
func TestSharedOffsetOrder(t *testing.T) {
	v := []ir.Var{{Name: "a", Expr: []byte{0x55}, Size: 4}}
	stmts := []Stmt{
		{ID: 1, FileOffset: 0x1010, Vars: v},                         // 0: the call's line, placed on the call
		{ID: 20, FileOffset: 0x1010, Order: OrderDeparture, Vars: v}, // 1: --follow's call
		{ID: 2, FileOffset: 0x1010, Binary: "/lib/libx.so", Vars: v}, // 2: elsewhere
		{ID: 3, FileOffset: 0x1020, Succ: &Succ{Cond: 4, Taken: true}, Vars: v},
		{ID: 30, FileOffset: 0x1020, Branch: true},
		{ID: 4, FileOffset: 0x1020, Vars: v},                       // 5: begins at the return address
		{ID: 21, FileOffset: 0x1020, Order: OrderArrival, Vars: v}, // 6: the return, placed there
		{ID: 5, FileOffset: 0x1030, Order: OrderDeparture, Vars: v},
		{ID: 6, FileOffset: 0x1030, Vars: v},
		{ID: 7, FileOffset: 0x1040, Vars: v},
	}
	want := [][]int{{0, 1}, nil, {2}, nil, nil, nil, {6, 5, 4, 3}, nil, {8, 7}, {9}}
	for _, space := range []target.AddressSpace{target.UserSpace, target.KernelSpace} {
		for _, multi := range []bool{false, true} {
			spec := &Spec{Space: space, EntryOffset: 0x1000, RetSize: 4, Multi: multi && space == target.UserSpace, Stmts: slices.Clone(stmts)}
			if space == target.KernelSpace {
				spec.EntrySymbol = "f"
				for i := range spec.Stmts {
					spec.Stmts[i].Symbol, spec.Stmts[i].Binary = "f", ""
				}
				spec.Stmts[2].Symbol = "g"
			}
			groups, err := stmtGroups(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(groups, want) {
				t.Errorf("space %v multi %v: groups %v, want %v", space, multi, groups, want)
			}
			g, err := Generate(spec)
			if err != nil {
				t.Fatal(err)
			}
			var with []int
			for i, name := range g.StmtPrograms {
				if name != "" {
					with = append(with, i)
				}
			}
			if w := []int{0, 2, 6, 8, 9}; !reflect.DeepEqual(with, w) {
				t.Errorf("space %v multi %v: statements with a program %v, want %v", space, multi, with, w)
			}
		}
	}
}
