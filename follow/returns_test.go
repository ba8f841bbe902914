package follow

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/probe/place"
	"github.com/whythefail/whythefail/target"
)

// TestPlaceReturn places the return probe of a call at 0x1000 (its
// return address 0x1005) in decoded instruction runs: on the first
// emulated instruction after the return address when nothing in between
// writes rax or rsp (or memory, when errno is read), leaves the run or is
// entered from elsewhere; at the return address otherwise.
func TestPlaceReturn(t *testing.T) {
	call := []byte{0xe8, 0x00, 0x10, 0x00, 0x00} // call 0x2005: outside the function
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	var (
		testEAX = []byte{0x85, 0xc0}                   // test eax, eax
		js1     = []byte{0x78, 0x01}                   // js +1
		jne1    = []byte{0x75, 0x01}                   // jne +1
		ret     = []byte{0xc3}                         // ret
		movEAX  = []byte{0xb8, 0x01, 0x00, 0x00, 0x00} // mov eax, 1
		addRSP  = []byte{0x48, 0x83, 0xc4, 0x08}       // add rsp, 8
		store   = []byte{0x89, 0x44, 0x24, 0x08}       // mov [rsp+8], eax
		cmp5    = []byte{0x83, 0xf8, 0x05}             // cmp eax, 5
		movEDI  = []byte{0x89, 0xc7}                   // mov edi, eax
		jmpBack = []byte{0xeb, 0xf8}                   // jmp -8
	)
	for _, c := range []struct {
		name  string
		code  []byte
		errno bool
		calls []uint64 // other call sites of the plan
		at    uint64   // where the probe goes
		why   string   // in the reason
	}{
		// call; test eax, eax; js: the test is single-stepped, the
		// js, which runs whenever the test does, emulated.
		{"jcc", cat(call, testEAX, js1, ret, ret), false, nil, 0x1007, "moved to +0x7 js"},
		{"jcc, errno read", cat(call, testEAX, js1, ret, ret), true, nil, 0x1007, "moved to +0x7 js"},
		// Already emulated at the return address.
		{"emulated", cat(call, js1, ret, ret), false, nil, 0x1005, "is emulated"},
		{"rax written", cat(call, movEAX, testEAX, jne1, ret, ret), false, nil, 0x1005, "rax written between (+0x5 mov eax, 0x1)"},
		{"rsp written", cat(call, addRSP, jne1, ret, ret), false, nil, 0x1005, "rsp written between"},
		// A store might be errno's: kept when errno is read, moved when not.
		{"store, errno read", cat(call, store, jne1, ret, ret), true, nil, 0x1005, "memory written between"},
		{"store", cat(call, store, jne1, ret, ret), false, nil, 0x1009, "moved to +0x9 jnz"},
		// The jmp at 0x100d enters the run at the cmp (0x1007).
		{"jump target inside", cat(call, testEAX, cmp5, jne1, ret, jmpBack), false, nil, 0x1005, "jump target at +0x7"},
		// The jmp at 0x100a goes to the jne: it runs more often than
		// the return address.
		{"jump target at the candidate", cat(call, testEAX, jne1, ret, []byte{0xeb, 0xfb}), false, nil, 0x1005, "jump target at +0x7"},
		// The candidate is another call, whose own probe is there.
		{"call probe", cat(call, movEDI, call, ret), false, []uint64{0x1007}, 0x1005, "call probe at +0x7"},
		// Nothing emulated before the run ends at ret.
		{"ret", cat(call, cmp5, ret), false, nil, 0x1005, "ret can leave the run"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code := func(va uint64, n int) ([]byte, error) { return c.code[va-0x1000 : va-0x1000+uint64(n)], nil }
			ranges := [][2]uint64{{0x1000, 0x1000 + uint64(len(c.code))}}
			f, err := place.Decode(0x1000, ranges, code, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := &Site{PC: 0x1000, Return: 0x1005, ReturnProbe: 0x1005}
			sites := []*Site{s}
			for _, pc := range c.calls {
				sites = append(sites, &Site{PC: pc})
			}
			barriers(f, nil, sites)
			vars := []ir.Var{{Name: "rax", Expr: exprRAX, Size: 8}, {Name: "rsp", Expr: exprRSP, Size: 8}}
			if c.errno {
				vars = append(vars, ir.Var{Name: "errno", Errno: true, Size: 4})
			}
			why := placeReturn(f, &Binary{Code: code}, Input{Emulated: emulatedHere}, ranges, s, vars)
			if s.ReturnProbe != c.at || !strings.Contains(why, c.why) {
				t.Errorf("return probe at %#x (%s), want %#x (%s)", s.ReturnProbe, why, c.at, c.why)
			}
		})
	}
}

// TestLeaves: a jump out of the function to an address no function
// starts at (a cold part whose symbol is unknown, which may jump back
// anywhere) keeps every return probe of the function; a jump to a
// function's entry is a tail call.
func TestLeaves(t *testing.T) {
	code := []byte{
		0xe8, 0x00, 0x10, 0x00, 0x00, // call 0x2005
		0x85, 0xc0, // test eax, eax
		0x0f, 0x88, 0xf3, 0x0f, 0x00, 0x00, // js 0x2000
		0xc3, // ret
	}
	ranges := [][2]uint64{{0x1000, 0x1000 + uint64(len(code))}}
	ins, err := decode(func(va uint64, n int) ([]byte, error) { return code[va-0x1000 : va-0x1000+uint64(n)], nil }, ranges)
	if err != nil {
		t.Fatal(err)
	}
	b := &Binary{Symbols: []target.Symbol{{Name: "f", Value: 0x1000, Size: uint64(len(code))}}}
	b.prepare()
	if a, ok := leaves(ins, ranges, b); !ok || a != [2]uint64{0x1007, 0x2000} {
		t.Errorf("leaves = %#x, %v; want the js at 0x1007 to 0x2000", a, ok)
	}
	b = &Binary{Symbols: []target.Symbol{{Name: "f", Value: 0x1000, Size: uint64(len(code))}, {Name: "g", Value: 0x2000, Size: 8}}}
	b.prepare()
	if a, ok := leaves(ins, ranges, b); ok {
		t.Errorf("leaves = %#x: a jump to g's entry is a tail call", a)
	}
}

// emulatedHere is what every x86-64 kernel since 3.x emulates at a uprobe.
func emulatedHere(c insn.Class) bool {
	switch c {
	case insn.ClassCall, insn.ClassJmp8, insn.ClassJmp32, insn.ClassJcc8, insn.ClassJcc32, insn.ClassNop, insn.ClassNop66:
		return true
	}
	return false
}

// TestPlaceReturnsFixture plans --follow on the follow fixture's
// recover3, whose callee mid_recover tests lookup's value with a
// conditional jump after the call: with the kernel's emulated classes a
// return probe in mid_recover moves (its probe statement with it), none of
// recover3's own does; with mid_recover named by Stay (the origin a
// re-run traces) or without Emulated, every return probe stays.
func TestPlaceReturnsFixture(t *testing.T) {
	b := fixture.Build(t, "follow", fixture.Default)
	f, err := target.Open(b.Path, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms := f.Symbols()
	sym := func(name string) target.Symbol {
		for _, s := range syms {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no symbol %s", name)
		return target.Symbol{}
	}
	top, mid := sym("recover3"), sym("mid_recover")
	plan := func(emulated func(insn.Class) bool, stay func(string, uint64) bool) *Plan {
		p, err := New(Input{
			Fn:   &debuginfo.Function{Name: top.Name, Entry: top.Value, Ranges: [][2]uint64{{top.Value, top.Value + top.Size}}},
			Code: f.Code, FileOffset: f.FileOffset, Symbols: syms, File: f, Path: f.Path, Depth: 3, Errno: true,
			Emulated: emulated, Stay: stay,
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	inMid := func(s *Site) bool { return s.PC >= mid.Value && s.PC < mid.Value+mid.Size }
	check := func(name string, p *Plan, wantMoved bool) {
		moved := false
		for _, s := range p.Sites {
			st := p.Stmts[s.ReturnID-p.Stmts[0].ID]
			if st.ID != s.ReturnID || st.PC != s.ReturnProbe {
				t.Errorf("%s: site %#x: return statement %d at %#x, want %d at %#x", name, s.PC, st.ID, st.PC, s.ReturnID, s.ReturnProbe)
			}
			switch {
			case s.ReturnProbe == s.Return:
			case !inMid(s):
				t.Errorf("%s: site %#x in %s: return probe moved to %#x (%s)", name, s.PC, s.Func, s.ReturnProbe, s.ReturnWhy)
			default:
				moved = true
				if !strings.HasPrefix(s.ReturnWhy, "moved to ") {
					t.Errorf("%s: site %#x: moved to %#x, why %q", name, s.PC, s.ReturnProbe, s.ReturnWhy)
				}
			}
		}
		if moved != wantMoved {
			t.Errorf("%s: a return probe in mid_recover moved: %v, want %v", name, moved, wantMoved)
		}
	}
	check("placed", plan(emulatedHere, nil), true)
	check("stay", plan(emulatedHere, func(path string, entry uint64) bool { return path == f.Path && entry == mid.Value }), false)
	check("naive", plan(nil, nil), false)
}
