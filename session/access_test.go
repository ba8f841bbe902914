package session

import (
	"context"
	"debug/dwarf"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/target"
)

// accessFixture is testdata/access.c compiled at -O0, with what the tests
// take from its DWARF: inspect()'s variable locations, struct config's member
// offsets, and the statement of the @ret line.
type accessFixture struct {
	exe       string
	low, ret  uint64 // inspect()'s entry and the first is_stmt address of @ret
	frameBase []byte
	locs      map[string][]byte
	member    map[string]int64
}

func buildAccess(t *testing.T, compiler string) *accessFixture {
	t.Helper()
	requireTool(t, compiler)
	src, err := filepath.Abs("testdata/access.c")
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "access")
	if out, err := exec.Command(compiler, "-g", "-O0", "-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("%s -O0: %v\n%s", compiler, err, out)
	}
	text, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	retLine := 0
	for i, l := range strings.Split(string(text), "\n") {
		if strings.Contains(l, "// @ret") {
			retLine = i + 1
		}
	}
	ef, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	d, err := ef.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	f := &accessFixture{exe: exe, locs: map[string][]byte{}, member: map[string]int64{}}
	r := d.Reader()
	var cu *dwarf.Entry
	var high uint64
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		switch {
		case e.Tag == dwarf.TagCompileUnit:
			cu = e
		case e.Tag == dwarf.TagStructType && e.Val(dwarf.AttrName) == "config":
			ty, err := d.Type(e.Offset)
			if err != nil {
				t.Fatal(err)
			}
			for _, fld := range ty.(*dwarf.StructType).Field {
				f.member[fld.Name] = fld.ByteOffset
			}
		case e.Tag == dwarf.TagSubprogram && e.Val(dwarf.AttrName) == "inspect":
			rg, err := d.Ranges(e)
			if err != nil || len(rg) != 1 {
				t.Fatalf("ranges of inspect: %v %v", rg, err)
			}
			f.low, high = rg[0][0], rg[0][1]
			f.frameBase, _ = e.Val(dwarf.AttrFrameBase).([]byte)
			for {
				c, err := r.Next()
				if err != nil || c == nil {
					t.Fatal(err)
				}
				if c.Tag == 0 {
					break
				}
				if loc, ok := c.Val(dwarf.AttrLocation).([]byte); ok {
					f.locs[c.Val(dwarf.AttrName).(string)] = loc
				}
				if c.Children {
					r.SkipChildren()
				}
			}
			lr, err := d.LineReader(cu)
			if err != nil {
				t.Fatal(err)
			}
			var le dwarf.LineEntry
			for lr.Next(&le) == nil {
				if le.IsStmt && le.Line == retLine && le.Address >= f.low && le.Address < high && (f.ret == 0 || le.Address < f.ret) {
					f.ret = le.Address
				}
			}
		}
	}
	if f.low == 0 || f.ret == 0 || len(f.member) != 4 {
		t.Fatalf("no inspect(), @ret statement or struct config in the DWARF of %s", exe)
	}
	return f
}

// accessVars are the variables recorded at @ret, in plan order, with what
// they must read in the two calls (nil: unavailable in both).
type accessVar struct {
	v    ir.Var
	want [2]*Value
}

func scalar(v int64) *Value { return &Value{U64: uint64(v), OK: true} }

func str(s string, truncated bool) *Value {
	return &Value{OK: true, Bytes: []byte(s), Truncated: truncated}
}

func (f *accessFixture) retVars(t *testing.T) []accessVar {
	loc := func(name string) []byte {
		l := f.locs[name]
		if l == nil {
			t.Fatalf("no location for %s", name)
		}
		return l
	}
	v := func(name, of string, size int, strLen int, steps ...ir.Step) ir.Var {
		return ir.Var{Name: name, Expr: loc(of), FrameBase: f.frameBase, Size: size, Signed: true, Steps: steps, Str: strLen}
	}
	deref, addrOf := ir.StepDeref{}, ir.StepAddrOf{}
	add := func(off int64) ir.Step { return ir.StepAdd{Off: off} }
	m := f.member
	return []accessVar{
		{v("c->workers", "c", 8, 0, deref, add(m["workers"])), [2]*Value{scalar(12), scalar(12)}},
		{v("local.workers", "local", 8, 0, add(m["workers"])), [2]*Value{scalar(13), scalar(13)}},
		{v("*p", "p", 4, 0, deref), [2]*Value{scalar(41), scalar(41)}},
		{v("x", "x", 4, 0), [2]*Value{scalar(46), scalar(47)}},
		{v("*px", "px", 4, 0, deref), [2]*Value{scalar(46), scalar(47)}},
		{v("arr[3]", "arr", 4, 0, add(3*4)), [2]*Value{scalar(40), scalar(40)}},
		{v("c->ports[2]", "c", 4, 0, deref, add(m["ports"]+2*4)), [2]*Value{scalar(3), scalar(3)}},
		{v("c->id", "c", 4, 0, deref), [2]*Value{scalar(7), scalar(7)}},
		{v("nul->workers", "nul", 8, 0, deref, add(m["workers"])), [2]*Value{}},
		{v("*nul", "nul", 4, 0, deref), [2]*Value{}},
		{v("&*nul", "nul", 8, 0, deref, addrOf), [2]*Value{scalar(0), scalar(0)}},
		{v("nul->name$", "nul", 0, 16, deref, add(m["name"])), [2]*Value{}},
		{v("c->name$", "c", 0, 8, deref, add(m["name"])), [2]*Value{str("workers", false), str("eightchr", true)}},
		{v("s$8", "s", 0, 8), [2]*Value{str("xylophon", true), str("abcdefg", false)}},
		{v("s$16", "s", 0, 16), [2]*Value{str("xylophone-long", false), str("abcdefg", false)}},
		{v("*c->name", "c", 1, 0, deref, add(m["name"]), deref), [2]*Value{scalar('w'), scalar('e')}},
		{v("tag$", "tag", 0, 8), [2]*Value{str("y", false), str("x", false)}},
	}
}

// accessPlan records, at inspect()'s entry, c->workers through the value of
// rdi (a register location: deref of a value), and at @ret the access paths
// of retVars, plus &x and px, which must agree.
func (f *accessFixture) accessPlan(t *testing.T, cond ir.Cond) Plan {
	tf, err := target.Open(f.exe, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	stmt := func(id uint32, pc uint64, vars []ir.Var) bpfgen.Stmt {
		reg, off, err := tf.CFA(pc)
		if err != nil {
			t.Fatal(err)
		}
		fx := &fixture{exe: f.exe}
		return bpfgen.Stmt{ID: id, PC: pc, FileOffset: fx.fileOffset(t, pc), CFA: bpfgen.CFARule{Reg: reg, Offset: off}, Vars: vars}
	}
	var ret []ir.Var
	for _, av := range f.retVars(t) {
		ret = append(ret, av.v)
	}
	ret = append(ret,
		ir.Var{Name: "&x", Expr: f.locs["x"], FrameBase: f.frameBase, Size: 8, Steps: []ir.Step{ir.StepAddrOf{}}},
		ir.Var{Name: "px", Expr: f.locs["px"], FrameBase: f.frameBase, Size: 8})
	entry := []ir.Var{
		{Name: "rdi->workers", Expr: []byte{0x55}, Size: 8, Steps: []ir.Step{ir.StepDeref{}, ir.StepAdd{Off: f.member["workers"]}}},
		{Name: "rdi->name$", Expr: []byte{0x55}, Str: 16, Steps: []ir.Step{ir.StepDeref{}, ir.StepAdd{Off: f.member["name"]}}},
	}
	fx := &fixture{exe: f.exe}
	return Plan{Binary: f.exe, Spec: bpfgen.Spec{
		EntryOffset: fx.fileOffset(t, f.low), RetSize: 4, Cond: cond,
		Stmts: []bpfgen.Stmt{stmt(1, f.low, entry), stmt(2, f.ret, ret)},
	}}
}

// runAccess runs the fixture under a session for p and returns the traces;
// pidCond, when set, builds the condition from the child's pid, which is
// known only once it started (it waits for a line on stdin meanwhile).
func runAccess(t *testing.T, f *accessFixture, p Plan, pidCond func(pid int) ir.Cond) (traces []Trace, child int) {
	t.Helper()
	cmd, release := startWaiting(t, f.exe, "wait")
	child = cmd.Process.Pid
	if pidCond != nil {
		p.Cond = pidCond(child)
	}
	s, err := Start(context.Background(), p, Options{PIDs: []int{child}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings()) != 0 {
		t.Errorf("warnings: %v", s.Warnings())
	}
	done := make(chan struct{})
	go func() {
		for tr := range s.Traces() {
			traces = append(traces, tr)
		}
		close(done)
	}()
	release()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("access: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	return traces, child
}

// TestSessionAccessPaths reads struct members through pointers and on the
// stack, array elements, *p, &x, NULL pointers and strings at gcc's and
// clang's -O0, in both calls of inspect().
func TestSessionAccessPaths(t *testing.T) {
	requireBPF(t)
	for _, compiler := range []string{"gcc", "clang"} {
		t.Run(compiler, func(t *testing.T) {
			f := buildAccess(t, compiler)
			traces, child := runAccess(t, f, f.accessPlan(t, nil), nil)
			if len(traces) != 2 {
				t.Fatalf("%d traces, want 2: %v", len(traces), traces)
			}
			vars := f.retVars(t)
			for call, tr := range traces {
				if tr.PID != uint32(child) || tr.Comm != "access" || len(tr.Records) < 2 {
					t.Fatalf("call %d: trace %v", call, &tr)
				}
				entry := tr.Records[0]
				if entry.StmtID != 1 || !reflect.DeepEqual(entry.Values, []Value{*scalar(12), *str([]string{"workers", "eightchr"}[call], false)}) {
					t.Errorf("call %d: entry record %+v, want rdi->workers 12 and the name", call, entry)
				}
				var ret *Record
				for i := range tr.Records {
					if tr.Records[i].StmtID == 2 {
						ret = &tr.Records[i]
					}
				}
				if ret == nil || len(ret.Values) != len(vars)+2 {
					t.Fatalf("call %d: no @ret record of %d values in %v", call, len(vars)+2, &tr)
				}
				for i, av := range vars {
					want := Value{}
					if av.want[call] != nil {
						want = *av.want[call]
					}
					if !reflect.DeepEqual(ret.Values[i], want) {
						t.Errorf("call %d: %s = %+v, want %+v", call, av.v.Name, ret.Values[i], want)
					}
				}
				addr, px := ret.Values[len(vars)], ret.Values[len(vars)+1]
				if !addr.OK || addr.U64 == 0 || !reflect.DeepEqual(addr, px) {
					t.Errorf("call %d: &x = %+v, px = %+v: want the same address", call, addr, px)
				}
			}
		})
	}
}

// TestSessionCondFunctions filters the two calls of inspect() with each
// condition function; want lists the n of the committed calls.
func TestSessionCondFunctions(t *testing.T) {
	requireBPF(t)
	f := buildAccess(t, "gcc")
	tag := ir.Param{Name: "tag", Index: 4, Size: 8}
	n := ir.Param{Name: "n", Index: 5, Size: 4, Signed: true}
	eq := func(l, r ir.Cond) ir.Cond { return ir.BinOp{Op: ir.OpEq, L: l, R: r} }
	op := func(o ir.Op, l, r ir.Cond) ir.Cond { return ir.BinOp{Op: o, L: l, R: r} }
	k := func(v int64) ir.Cond { return ir.Const{V: v} }
	// The arithmetic below, computed here for n = 6.
	arith := op(ir.OpShr, op(ir.OpShl, op(ir.OpXor, op(ir.OpMul, ir.Unary{Op: ir.UnNeg, X: n}, k(3)), k(5)), k(2)), k(1))
	six := int64(6)
	want6 := ((-six * 3) ^ 5) << 2 >> 1
	for _, tc := range []struct {
		name string
		cond ir.Cond
		pid  func(int) ir.Cond
		want []int
	}{
		{name: "execname", cond: ir.CommEq{S: "access"}, want: []int{5, 6}},
		{name: "execname-prefix", cond: ir.CommEq{S: "acces"}},
		{name: "execname-too-long", cond: ir.CommEq{S: "access-and-more-than-15"}},
		{name: "pid", pid: func(p int) ir.Cond { return eq(ir.Pid{}, k(int64(p))) }, want: []int{5, 6}},
		{name: "pid-other", pid: func(p int) ir.Cond { return eq(ir.Pid{}, k(int64(p+1))) }},
		{name: "tid", pid: func(p int) ir.Cond { return eq(ir.Tid{}, k(int64(p))) }, want: []int{5, 6}},
		{name: "uid", cond: eq(ir.Uid{}, k(int64(os.Getuid()))), want: []int{5, 6}},
		{name: "user_string", cond: ir.UserStrEq{Ptr: tag, S: "x"}, want: []int{6}},
		{name: "user_string-empty", cond: ir.UserStrEq{Ptr: tag, S: ""}},
		{name: "user_string-longer", cond: ir.UserStrEq{Ptr: tag, S: "xx"}},
		{name: "user_string-null", cond: ir.UserStrEq{Ptr: ir.Param{Name: "nul", Index: 3, Size: 8}, S: ""}},
		{name: "randint", cond: eq(ir.Randint{N: 1}, k(0)), want: []int{5, 6}},
		{name: "randint-range", cond: op(ir.OpLt, ir.Randint{N: 3}, k(3)), want: []int{5, 6}},
		{name: "not", cond: ir.Unary{Op: ir.UnNot, X: eq(n, k(5))}, want: []int{6}},
		{name: "bitnot", cond: eq(ir.Unary{Op: ir.UnBitNot, X: n}, k(-6)), want: []int{5}},
		{name: "arith", cond: eq(arith, k(want6)), want: []int{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			traces, _ := runAccess(t, f, f.accessPlan(t, tc.cond), tc.pid)
			var got []int
			for _, tr := range traces {
				got = append(got, int(int32(tr.Args[5])))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("committed calls with n = %v, want %v", got, tc.want)
			}
		})
	}
}
