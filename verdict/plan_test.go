package verdict_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/verdict"
)

// lineOf is the number of the line of src that reads text (indentation
// aside).
func lineOf(t *testing.T, src, text string) int {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == text {
			return i + 1
		}
	}
	t.Fatalf("%s: no line %q", src, text)
	return 0
}

// TestPlanDemo plans load_config's branches in each build of the demo:
// the check on line 63 compares with 8, and a trace whose last branch is
// that check, with 16 in its operand and the flags of cmp 16, 8 (none
// set), is answered with the source line and workers=16, however the
// compiler laid the branch out (jle not taken at -O0, jg or ja taken at
// -O2) and whether or not DWARF names the register.
func TestPlanDemo(t *testing.T) {
	src := fixture.Source("demo")
	check := lineOf(t, src, "if (workers > 8)")
	for _, v := range []fixture.Variant{
		{Compiler: "gcc", Opt: "-O0", PIE: true}, {Compiler: "gcc", Opt: "-O2", PIE: true},
		{Compiler: "clang", Opt: "-O0", PIE: true}, {Compiler: "clang", Opt: "-O2", PIE: true},
	} {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			p := planFor(t, b.Path, "load_config", "/fixture/src="+fixture.SourceDir())
			var br *verdict.Branch
			for _, id := range p.IDs() {
				if x := p.Branches[id]; x.Line == check {
					if br != nil {
						t.Fatalf("two branches on line %d: %#x and %#x", check, br.PC, x.PC)
					}
					br = x
				}
			}
			if br == nil {
				t.Fatalf("no branch on line %d", check)
			}
			if br.Kind != verdict.KindCmp || len(br.Ops) != 2 || !br.Ops[1].Imm || br.Ops[1].Value != 8 || br.Ops[0].Var < 0 || !br.HasText {
				t.Fatalf("branch %+v: want cmp with 8, the value recorded, the source text", *br)
			}
			values := make([]session.Value, br.FlagsVar+1)
			values[br.Ops[0].Var] = session.Value{U64: 16, OK: true}
			values[br.FlagsVar] = session.Value{U64: 0, OK: true}
			tr := &session.Trace{Return: -22, Branch: &session.Record{StmtID: br.ID, Values: values}}
			why := p.Explain(tr, func(uint32) (verdict.Line, bool) { return verdict.Line{}, false }).String()
			want := `why: load_config returned -22 (EINVAL) because /fixture/src/demo.c:` + strconv.Itoa(check) + ` "if (workers > 8)" was true with workers=16`
			if why != want {
				t.Errorf("verdict\n%s\nwant\n%s", why, want)
			}
		})
	}
}

// TestSharedTrap: when placement puts a statement's probe on the deciding
// jump, the kernel may run the branch program before the statement's in
// that one trap; the statement still counts as before the branch, so the
// return line is the same as with the statement at its own address.
func TestSharedTrap(t *testing.T) {
	src := fixture.Source("demo")
	check := lineOf(t, src, "if (workers > 8)")
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2", PIE: true})
	p := planFor(t, b.Path, "load_config", "/fixture/src="+fixture.SourceDir())
	var br *verdict.Branch
	for _, id := range p.IDs() {
		if x := p.Branches[id]; x.Line == check {
			br = x
		}
	}
	if br == nil {
		t.Fatalf("no branch on line %d", check)
	}
	// Statement 1 (line 10) is placed on the jump, statement 2 (the
	// closing line, where clang -O2 attributes the return) after it.
	p.ProbePC(1, br.PC)
	p.ProbePC(2, br.PC+0x40)
	lines := map[uint32]verdict.Line{1: {File: "f.c", Line: 10, Text: "x = 1;", HasText: true}, 2: {File: "f.c", Line: p.LastLine, Text: "}", HasText: true}}
	stmt := func(id uint32) (verdict.Line, bool) { l, ok := lines[id]; return l, ok }
	values := make([]session.Value, br.FlagsVar+1)
	values[br.Ops[0].Var] = session.Value{U64: 16, OK: true}
	values[br.FlagsVar] = session.Value{U64: 0, OK: true}
	records := []session.Record{{StmtID: 1}, {StmtID: 2}}
	for _, after := range []int{0, 1} { // branch program first, or the statement's
		tr := &session.Trace{Return: -22, Records: records, Branch: &session.Record{StmtID: br.ID, Values: values}, BranchAfter: after}
		v := p.Explain(tr, stmt)
		if !v.HasRet || v.Ret.Line != p.LastLine {
			t.Errorf("branch after %d statement(s): return line %+v, want the closing line %d", after, v.Ret, p.LastLine)
		}
	}
}
