package verdict_test

import (
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/verdict"
)

// FuzzPlan plans the demo's load_config with its code replaced by
// arbitrary bytes (its DWARF kept), its calls named so that both
// prunings run: New either fails or plans probes at instruction starts
// inside the function, and explaining any trace whose branch is one of
// them, with any values, never panics.
func FuzzPlan(f *testing.F) {
	b := fixture.Build(f, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2", PIE: true})
	bin, err := target.Open(b.Path, target.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer bin.Close()
	r := probe.NewLazyResolver(bin)
	pts, err := r.Resolve(&spec.Spec{Target: spec.Process, Path: bin.Path, Point: spec.Function, Func: "load_config", Suffix: spec.Call})
	if err != nil || len(pts) == 0 {
		f.Fatalf("resolving load_config: %v", err)
	}
	fn := pts[0].Func
	sc, err := r.Data.Scope(fn)
	if err != nil {
		f.Fatal(err)
	}
	size := int(fn.Ranges[0][1] - fn.Ranges[0][0])
	code, err := bin.Code(fn.Ranges[0][0], size)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(code, uint64(0))
	f.Add([]byte{0x39, 0xc8, 0x7f, 0x02, 0x0f, 0x4c, 0xc1, 0xc3}, uint64(0x246)) // cmp; jg; cmovl; ret
	f.Fuzz(func(t *testing.T, body []byte, flags uint64) {
		full := make([]byte, size)
		copy(full, body)
		in := verdict.Input{Fn: fn, Scope: sc, FileOffset: bin.FileOffset, CFA: bin.CFA,
			Code:     func(va uint64, n int) ([]byte, error) { return full[:n], nil },
			CallName: func(va uint64) string { return [...]string{"strlen", "abort", "__stack_chk_fail", "free"}[va%4] },
			Source:   func(string, int) (string, bool) { return "if (a > 1 && (b = c) <= 'x')", true }}
		p, err := verdict.New(in)
		if (p == nil) == (err == nil) {
			t.Fatalf("New = %v, %v: want exactly one", p, err)
		}
		if err != nil {
			return
		}
		for _, st := range p.Stmts {
			if !fn.Contains(st.PC) || !st.Branch || p.Branches[st.ID] == nil {
				t.Fatalf("branch probe %+v outside the function or not a branch", st)
			}
			vals := make([]session.Value, len(st.Vars))
			for i := range vals {
				vals[i] = session.Value{U64: flags << uint(i%8), OK: i%3 != 1}
			}
			tr := &session.Trace{Return: -int64(flags % 200), Branch: &session.Record{StmtID: st.ID, Values: vals}, BranchAfter: int(flags % 5),
				Records: []session.Record{{StmtID: 0}, {StmtID: 1}}, Truncated: uint32(flags % 3), TruncatedAt: 1}
			_ = p.Explain(tr, func(id uint32) (verdict.Line, bool) { return verdict.Line{File: "f.c", Line: int(id)}, id == 0 }).String()
		}
	})
}
