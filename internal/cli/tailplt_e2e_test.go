package cli_test

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/internal/fixture"
)

// tailJumpsThroughPLT reports whether the function fn of the shared
// library at path ends in a jump to its PLT entry for callee: the
// tailplt fixture's premise at -O2.
func tailJumpsThroughPLT(t *testing.T, path, fn, callee string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	for _, s := range syms {
		if s.Name != fn || elf.ST_TYPE(s.Info) != elf.STT_FUNC || text == nil {
			continue
		}
		code := make([]byte, s.Size)
		if _, err := text.ReadAt(code, int64(s.Value-text.Addr)); err != nil {
			t.Fatal(err)
		}
		ds, err := insn.Decode(code, s.Value)
		if err != nil {
			t.Fatal(err)
		}
		var last insn.Inst
		for _, d := range ds {
			if d.OK && (d.Inst.Op == x86asm.JMP || d.Inst.Op == x86asm.RET) {
				last = d
			}
		}
		rel, ok := last.Inst.Args[0].(x86asm.Rel)
		if last.Inst.Op != x86asm.JMP || !ok {
			return false
		}
		return follow.PLTNames(f)[uint64(int64(last.PC)+int64(last.Inst.Len)+int64(rel))] == callee
	}
	t.Fatalf("%s: no function %s", path, fn)
	return false
}

// TestFollowTailJumpThroughPLT: use_tail calls tail_open in
// libtailplt.so, which at -O2 (gcc and clang) ends in a tail jump
// through the library's PLT to tail_check, exported there; tail_check's
// call of tail_find fails. --follow follows the jump as it follows a
// tail jump within a file: tail_check's calls are tail_open's, the chain
// names it "(tail call)" and ends at tail_find, whose statements the -c
// re-run traces (its failing line, with key=7, not its other return).
// At -O0 tail_open calls tail_check through the PLT: one level more.
// The complete --follow lines in each variant.
func TestFollowTailJumpThroughPLT(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("tailplt"))
	lm := fixture.Markers(t, filepath.Join(fixture.SourceDir(), "tailpltlib.c"))
	at := func(marker string) string { return fmt.Sprintf("(/fixture/src/tailplt.c:%d)", m[marker]) }
	lib := func(marker string) string { return fmt.Sprintf("(/fixture/src/tailpltlib.c:%d)", lm[marker]) }
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "tailplt", v)
			tail := v.Opt == "-O2"
			if got := tailJumpsThroughPLT(t, b.Lib, "tail_open", "tail_check"); got != tail {
				t.Fatalf("tail_open ends in a jump to tail_check@plt: %v, want %v", got, tail)
			}
			find := "tail_find " + lib("tail-find-call") + " returned -2"
			want := []string{
				"call: tail_open@plt " + at("use-tail-call") + " returned -2",
				"call:   " + find,
				"origin: " + find + ", passed up",
				"chain: use_tail → tail_open@plt " + at("use-tail-call") + " returned -2 → tail_check (tail call) → " + find,
			}
			if !tail {
				check := "tail_check@plt " + lib("tail-check-call") + " returned -2"
				want = []string{
					"call: tail_open@plt " + at("use-tail-call") + " returned -2",
					"call:   " + check,
					"call:     " + find,
					"origin: " + find + ", passed up",
					"chain: use_tail → tail_open@plt " + at("use-tail-call") + " returned -2 → " + check + " → " + find,
				}
			}
			r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "use_tail", "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
			// One level per run: a re-run per callee of the chain.
			callees := chainCallees(want[len(want)-1])
			if rest, ok := withoutStagedReruns(r.stderr, b.Path+" >/dev/null", callees); r.status != 0 || !ok || !onlyNotes(rest) {
				dumpOnFailure(t, r)
				t.Fatalf("exit status %d, stderr %q; want 0, the re-runs for %q and notes", r.status, r.stderr, callees)
			}
			got, _, rest := followLines(t, r.stdout)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			traces, _ := parseOutput(t, rest)
			if len(traces) != 1 || traces[0].ret != "-2" {
				t.Fatalf("%d traces, want 1 returning -2:\n%s", len(traces), r.stdout)
			}
			heading, stmts := originSection(t, r.stdout)
			if w := "origin's statements: tail_find, in the call tail_find " + lib("tail-find-call") + ", call 1 from that site:"; heading != w {
				t.Errorf("heading %q, want %q", heading, w)
			}
			listed, _ := listedLines(t, b, b.Lib, "tail_find")
			seen := map[string]bool{}
			for _, s := range stmts {
				where := fmt.Sprintf("%s:%d", s.file, s.line)
				if _, ok := listed[where]; !ok {
					t.Errorf("statement %q is not one of tail_find's", s.text)
				}
				if s.comm != traces[0].comm || s.tid != traces[0].tid {
					t.Errorf("statement %q is not the trace's thread's", s.text)
				}
				if got, ok := s.vars["key"]; !ok || (got != "?" && got != "0x7") {
					t.Errorf("statement %q: want key=0x7 (or ?)", s.text)
				}
				seen[where] = true
			}
			fail := fmt.Sprintf("/fixture/src/tailpltlib.c:%d", lm["tail-find-fail"])
			if _, ok := listed[fail]; ok && !seen[fail] {
				t.Errorf("the failing line %s is not among tail_find's statements:\n%s", fail, r.stdout)
			}
			if ok := fmt.Sprintf("/fixture/src/tailpltlib.c:%d", lm["tail-find-ok"]); seen[ok] {
				t.Errorf("line %s ran in the blamed call:\n%s", ok, r.stdout)
			}
			if len(stmts) == 0 {
				t.Errorf("no statements of tail_find:\n%s", r.stdout)
			}
		})
	}
}
