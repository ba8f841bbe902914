package expr

import (
	"debug/elf"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// demoScope is the scope of the last statement of load_config in the demo
// fixture built by gcc -O0 (parameters and locals live in stack slots).
func demoScope(t *testing.T) Scope {
	t.Helper()
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	bin, err := target.Open(b.Path, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := probe.NewLazyResolver(bin)
	fpts, err := r.Resolve(&spec.Spec{Target: spec.Process, Path: bin.Path, Point: spec.Function, Func: "load_config", Suffix: spec.Call})
	if err != nil || len(fpts) != 1 || fpts[0].Func == nil {
		t.Fatalf("resolving load_config: %v (%d points)", err, len(fpts))
	}
	fn := fpts[0].Func
	spts, err := r.Resolve(&spec.Spec{Target: spec.Process, Path: bin.Path, Point: spec.Statement, Func: fn.Name, File: fn.DeclFile, Lines: spec.Lines{Kind: spec.AnyLine}})
	if err != nil || len(spts) == 0 {
		t.Fatalf("resolving the statements of load_config: %v", err)
	}
	p := spts[len(spts)-1]
	var in []*debuginfo.Variable
	for _, v := range p.Scope.VarsAt(p.Addr) {
		if _, ok := v.TypeName(); ok && v.Name != "" {
			in = append(in, v)
		}
	}
	return Scope{Data: r.Data, GOT: bin.GOTSlot, InScope: in, All: p.Scope.AllVars(), PC: p.Addr, FrameBase: fn.FrameBase,
		// gcc -O0 emits no .debug_addr-indexed operations to rewrite.
		Addrx: func(loc []byte, _ func(uint64) (uint64, error)) ([]byte, error) { return loc, nil }}
}

// demoSymbol is the link-time address of the demo fixture's symbol name, as
// its symbol table says (the layout is the compiler's to choose).
func demoSymbol(t *testing.T, name string) uint64 {
	t.Helper()
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	f, err := elf.Open(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no symbol %s in %s", name, b.Path)
	return 0
}

// describe renders what Display produced, one line per display tree and
// one per value read (name, size, signedness, string length, steps, and
// whether it has a location).
func describe(ds []ir.Display, vs []ir.Var) string {
	var b strings.Builder
	var tree func(d ir.Display) string
	tree = func(d ir.Display) string {
		s := fmt.Sprintf("%s:%s/%d", d.Name, d.Format, d.Size)
		if d.Max != 0 {
			s += fmt.Sprintf(" max%d", d.Max)
		}
		if d.Const != "" {
			s += " const=" + d.Const
		}
		if len(d.Children) > 0 {
			var cs []string
			for _, c := range d.Children {
				cs = append(cs, tree(c))
			}
			s += "{" + strings.Join(cs, " ") + "}"
		}
		return s
	}
	for _, d := range ds {
		b.WriteString("show " + tree(d) + "\n")
	}
	for _, v := range vs {
		fmt.Fprintf(&b, "read %s size=%d signed=%v str=%d loc=%v steps=%v\n", v.Name, v.Size, v.Signed, v.Str, len(v.Expr) > 0, v.Steps)
	}
	return b.String()
}

// TestDisplayDemo lowers VARIABLE expressions at a real statement: what is
// printed (the display trees) and what is read for it (the values, with their
// access paths through struct cfg: name[32] at 0, workers at 32, mode at 36).
func TestDisplayDemo(t *testing.T) {
	sc := demoScope(t)
	for _, tc := range []struct{ in, want string }{
		{"$c->workers", "show :dec/4\nread c size=4 signed=true str=0 loc=true steps=[* +32]\n"},
		{"$c->name", "show :array/0\n"},
		{"$path", "show :ptr/8\nread path size=8 signed=false str=0 loc=true steps=[]\n"},
		{"*$path", "show :dec/1\nread path size=1 signed=true str=0 loc=true steps=[*]\n"},
		{"&$c->mode", "show :ptr/8\nread c size=8 signed=false str=0 loc=true steps=[* +36 &]\n"},
		{"$c->name[1]", "show :dec/1\nread c size=1 signed=true str=0 loc=true steps=[* +0 +1]\n"},
		{"$c->name[$workers]", "show :dec/1\nread c size=1 signed=true str=0 loc=true steps=[* +0 +[workers]*1]\n"},
		{"$$parms", "show path:ptr/8\nshow c:ptr/8\nread path size=8 signed=false str=0 loc=true steps=[]\nread c size=8 signed=false str=0 loc=true steps=[]\n"},
		{"$$locals", "show buf:array/0\nshow colon:ptr/8\nshow workers:int/4\nshow verbose:uint/1\n" +
			"read colon size=8 signed=false str=0 loc=true steps=[]\nread workers size=4 signed=true str=0 loc=true steps=[]\nread verbose size=1 signed=false str=0 loc=true steps=[]\n"},
		{`@var("loads")`, "show :dec/4\nread global@LOADS size=4 signed=true str=0 loc=true steps=[]\n"},
		{"errno()", "show :dec/4\nread errno() size=4 signed=true str=0 loc=false steps=[]\n"},
	} {
		n, err := ParseVariable(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		ds, vs, err := Display(tc.in, n, sc)
		if err != nil {
			t.Errorf("Display(%q): %v", tc.in, err)
			continue
		}
		want := strings.ReplaceAll(tc.want, "LOADS", fmt.Sprintf("%#x", demoSymbol(t, "loads")))
		if got := describe(ds, vs); got != want {
			t.Errorf("Display(%q):\n%s", tc.in, fixture.Diff(want, got))
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"$nope", "variable \"$nope\": column 1: unknown variable $nope; the function's variables are $buf $c $colon $flags $m $path $verbose $workers"},
		{"$c->nosuch", "variable \"$c->nosuch\": column 3: struct cfg has no member nosuch; its members are name, workers, mode, verbose"},
		{"$workers->x", "variable \"$workers->x\": column 9: member x of int, which is not a struct, a union or a pointer to one"},
		{"$c->name[40]", "variable \"$c->name[40]\": column 10: index 40 is outside char[]'s 32 elements"},
		{"*$workers", "variable \"*$workers\": column 1: * on int, which is not a pointer"},
		{"errno(1)", "variable \"errno(1)\": column 1: errno() takes no arguments"},
	} {
		n, err := ParseVariable(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = Display(tc.in, n, sc)
		var e *Error
		if !errors.As(err, &e) || e.What != "variable" {
			t.Errorf("Display(%q) error %T is not an *Error about a variable", tc.in, err)
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("Display(%q) error\n got: %v\nwant: %s", tc.in, err, tc.want)
		}
	}
}

// TestCompileLoads compiles conditions that read memory at return through
// the parameters of load_config (path, c): Load nodes with the offsets of
// struct cfg, and the mistakes found against the types.
func TestCompileLoads(t *testing.T) {
	sc := demoScope(t)
	env := Env{Params: map[string]ir.Param{}, Types: map[string]debuginfo.Type{}, Data: sc.Data, GOT: sc.GOT}
	i := 0
	for _, v := range sc.All {
		if v.Param {
			ti := v.TypeInfo()
			env.Params[v.Name] = ir.Param{Name: v.Name, Index: i, Size: ti.Size, Signed: ti.Signed}
			i++
			env.Types[v.Name] = v.VarType()
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"$c->workers > 2", "($c->workers > 2)"},
		{"$c->name[1] == 97", "($c->name[1] == 97)"},
		{"*$path == 0", "((*$path) == 0)"},
		{`user_string($path) == "x"`, `(user_string($path) == "x")`},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Compile(tc.in, n, env)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.in, err)
			continue
		}
		if got := fmt.Sprint(c); got != tc.want {
			t.Errorf("Compile(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	n, _ := Parse("$c->workers > 2")
	c, _ := Compile("", n, env)
	want := ir.BinOp{Op: ir.OpGt, L: ir.Load{Addr: ir.Param{Name: "c", Index: 1, Size: 8}, Off: 32, Size: 4, Signed: true, Text: "$c->workers"}, R: ir.Const{V: 2}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Compile($c->workers > 2) = %#v, want %#v", c, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"$c->nosuch == 1", "condition \"$c->nosuch == 1\": column 3: struct cfg has no member nosuch; its members are name, workers, mode, verbose"},
		{"$path->x == 1", "condition \"$path->x == 1\": column 6: member x of char const, which is not a struct, a union or a pointer to one"},
		{"*$c == 1", "condition \"*$c == 1\": column 1: (*$c) is a struct cfg: conditions compare integers and pointers"},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(tc.in, n, env)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Compile(%q) error\n got: %v\nwant: %s", tc.in, err, tc.want)
		}
	}
}
