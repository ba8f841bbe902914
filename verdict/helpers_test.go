package verdict_test

import (
	"testing"

	"github.com/whythefail/whythefail/follow"

	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/source"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/verdict"
)

// planFor plans the branches of function fn in the binary at path, as
// tracer.Prepare does, with source lines found under the fixture's
// recorded directory rewritten to srcDir (none when srcDir is "").
func planFor(t *testing.T, path, fn string, subst string) *verdict.Plan {
	t.Helper()
	return planNamed(t, path, fn, subst, false)
}

// planNamed is planFor, with calls named by the binary's symbols and PLT
// entries (as the tracer names them with automatic placement) when named
// is set, which lets New prune.
func planNamed(t *testing.T, path, fn string, subst string, named bool) *verdict.Plan {
	t.Helper()
	bin, err := target.Open(path, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bin.Close() })
	r := probe.NewLazyResolver(bin)
	pts, err := r.Resolve(&spec.Spec{Target: spec.Process, Path: bin.Path, Point: spec.Function, Func: fn, Suffix: spec.Call})
	if err != nil || len(pts) == 0 || pts[0].Func == nil {
		t.Fatalf("resolving %s in %s: %v", fn, path, err)
	}
	f := pts[0].Func
	sc, err := r.Data.Scope(f)
	if err != nil {
		t.Fatal(err)
	}
	var opts source.Options
	if subst != "" {
		sub, err := source.ParseSubstitution(subst)
		if err != nil {
			t.Fatal(err)
		}
		opts.Substitutions = append(opts.Substitutions, *sub)
	}
	var lines source.Lines
	var callName func(uint64) string
	if named {
		names := follow.PLTNames(bin.ELF)
		for _, s := range bin.Symbols() {
			if _, ok := names[s.Value]; !ok {
				names[s.Value] = s.Name
			}
		}
		callName = func(va uint64) string { return names[va] }
	}
	p, err := verdict.New(verdict.Input{Fn: f, Scope: sc, Code: bin.Code, FileOffset: bin.FileOffset, CFA: bin.CFA,
		Source: func(file string, n int) (string, bool) {
			sp, err := source.Find(f.CU.CompDir, file, bin.BuildID, opts)
			if err != nil {
				return "", false
			}
			return lines.Line(sp, n)
		}, CallName: callName})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
