package expr

import (
	"errors"
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
)

// TestRead specifies how a leaf becomes what the generator reads: globals
// become DW_OP_addr, parameters before the prologue's end their argument
// register, a location is rewritten by Addrx (and dropped when that fails),
// and index steps carry their own leaf.
func TestRead(t *testing.T) {
	fb := []byte{0x91} // DW_OP_call_frame_cfa
	p := &debuginfo.Variable{Name: "fd", Param: true}
	loc := &debuginfo.Variable{Name: "n"}
	rewrite := func(l []byte, _ func(uint64) (uint64, error)) ([]byte, error) {
		if l[0] == 0xff {
			return nil, errors.New("bad")
		}
		return append([]byte{0xee}, l...), nil
	}
	sc := Scope{FrameBase: fb, Addrx: rewrite, Params: map[string]ir.Param{"fd": {Name: "fd", Index: 1, Size: 4}}}
	before := sc
	before.BeforePrologue = true
	idx := &Leaf{Var: loc, Loc: []byte{0x50}, Size: 4, Signed: true}
	for _, tc := range []struct {
		name string
		sc   Scope
		l    Leaf
		want ir.Var
	}{
		{"global", sc, Leaf{Global: true, Addr: 0x1122334455667788, Size: 4, Signed: true},
			ir.Var{Name: "global@0x1122334455667788", Expr: []byte{0x03, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, FrameBase: fb, Size: 4, Signed: true}},
		{"located", sc, Leaf{Var: loc, Loc: []byte{0x91, 0x68}, Size: 8, Str: 64},
			ir.Var{Name: "n", Expr: []byte{0xee, 0x91, 0x68}, FrameBase: fb, Size: 8, Str: 64}},
		{"rewrite fails", sc, Leaf{Var: loc, Loc: []byte{0xff}, Size: 8},
			ir.Var{Name: "n", FrameBase: fb, Size: 8}},
		{"no location", sc, Leaf{Var: loc, Size: 8},
			ir.Var{Name: "n", FrameBase: fb, Size: 8}},
		{"unavailable", sc, Leaf{Var: loc, Loc: []byte{0x50}, Unavailable: true, Size: 8},
			ir.Var{Name: "n", FrameBase: fb, Size: 8}},
		{"parameter before the prologue", before, Leaf{Var: p, Loc: []byte{0x91, 0x68}, Size: 4},
			ir.Var{Name: "fd", Expr: []byte{0x54}, FrameBase: fb, Size: 4}}, // rsi: DWARF 4
		{"local before the prologue", before, Leaf{Var: loc, Loc: []byte{0x91, 0x68}, Size: 4},
			ir.Var{Name: "n", FrameBase: fb, Size: 4}},
		{"errno", sc, Leaf{Errno: true, Size: 4, Signed: true},
			ir.Var{Name: "errno()", Errno: true, FrameBase: fb, Size: 4, Signed: true}},
		{"steps", sc, Leaf{Var: loc, Loc: []byte{0x50}, Size: 1, Steps: []Step{{Kind: StepDeref}, {Kind: StepAdd, Off: 8}, {Kind: StepIndex, Off: 1, Index: idx, Scale: 2, Len: 5}, {Kind: StepIndex, Scale: 1}, {Kind: StepAddrOf}}},
			ir.Var{Name: "n", Expr: []byte{0xee, 0x50}, FrameBase: fb, Size: 1, Steps: []ir.Step{
				ir.StepDeref{}, ir.StepAdd{Off: 8},
				ir.StepIndex{Index: ir.Var{Name: "n", Expr: []byte{0xee, 0x50}, FrameBase: fb, Size: 4, Signed: true}, Add: 1, Scale: 2, Len: 5},
				ir.StepIndex{Scale: 1}, // no index leaf: no location, so unavailable
				ir.StepAddrOf{},
			}}},
	} {
		if got := tc.sc.read(tc.l); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: read = %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	noAddrx := sc
	noAddrx.Addrx = nil
	if got := noAddrx.read(Leaf{Var: loc, Loc: []byte{0x50}, Size: 8}); got.Expr != nil {
		t.Errorf("without Addrx: Expr = %x, want none", got.Expr)
	}
}

// TestFold specifies constant folding: every operator on constants, with
// stap's 64-bit semantics.
func TestFold(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"3 == 3", 1}, {"3 != 3", 0}, {"2 < 3", 1}, {"3 <= 2", 0}, {"3 > 2", 1}, {"2 >= 3", 0},
		{"1 && 0", 0}, {"0 || 2", 1}, {"2 + 3", 5}, {"2 - 3", -1}, {"4 * -3", -12},
		{"7 / 2", 3}, {"-7 % 3", -1}, {"6 & 3", 2}, {"6 | 3", 7}, {"6 ^ 3", 5},
		{"1 << 65", 2}, {"-8 >> 1", -4}, {"-(3)", -3}, {"!0", 1}, {"~0", -1},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		c, err := (&compiler{in: tc.in}).node(n)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.in, err)
			continue
		}
		if got, ok := c.(ir.Const); !ok || got.V != tc.want {
			t.Errorf("Compile(%q) = %#v, want ir.Const{V: %d}", tc.in, c, tc.want)
		}
	}
	// Compile itself drops a condition that always holds (commit every
	// invocation) and keeps one that never does.
	for in, want := range map[string]ir.Cond{"2 > 1": nil, "1 > 2": ir.Const{V: 0}} {
		n, _ := Parse(in)
		if c, err := Compile(in, n, Env{}); err != nil || !reflect.DeepEqual(c, want) {
			t.Errorf("Compile(%q) = %#v, %v; want %#v", in, c, err, want)
		}
	}
	if _, err := fold("?", 1, 2); err == nil || err.Error() != "unknown operator ?" {
		t.Errorf("fold(?) error = %v", err)
	}
}

// TestError specifies the package's one error type: what it says, and that
// parsing, compiling and lowering all return it.
func TestError(t *testing.T) {
	if got, want := (&Error{Input: "x", Col: 2, Msg: "m"}).Error(), `expression "x": column 2: m`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var e *Error
	if _, err := Parse("1 +"); !errors.As(err, &e) || e.What != "condition" {
		t.Errorf("Parse error %#v is not a condition *Error", err)
	}
	n, _ := Parse("$x == 1")
	if _, err := Compile("$x == 1", n, Env{}); !errors.As(err, &e) || e.What != "condition" || e.Col != 1 {
		t.Errorf("Compile error %#v is not a condition *Error at column 1", err)
	}
	v, _ := ParseVariable("$x")
	if _, _, err := Display("$x", v, Scope{}); !errors.As(err, &e) || e.What != "variable" || e.Col != 1 {
		t.Errorf("Display error %#v is not a variable *Error at column 1", err)
	}
}
