package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestFollowCallFirst traces, with --follow and its origin's re-run, a
// function whose first instruction is a call (the callfirst fixture's
// top, naked: `call mid; ret`), in both compilers at -O0 and -O2, with
// both placements: the statement of its first line, the entry probe and
// the probe on the call share one address, and the entry program records
// both after opening the invocation. The trace holds that statement (key
// is 7 where the compiler describes it), the calls down to leaf, which
// failed, and leaf's statements through its failing branch, not its
// other return.
func TestFollowCallFirst(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("callfirst"))
	const file = "/fixture/src/callfirst.c"
	at := func(k string) string { return fmt.Sprintf("(%s:%d)", file, m[k]) }
	want := []string{
		"call: mid " + at("top-call") + " returned -2",
		"call:   leaf " + at("mid-call") + " returned -2",
		"origin: leaf " + at("mid-call") + " returned -2, passed up",
		"chain: top → mid " + at("top-call") + " returned -2 → leaf " + at("mid-call") + " returned -2",
	}
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "callfirst", v)
			for _, placement := range []string{"--placement=naive", "--placement=auto"} {
				r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "top", "$return < 0", "--follow", placement, "-c", b.Path+" >/dev/null")
				// One level per run: mid's calls, then leaf's statements.
				reruns := rerunLines(b.Path+" >/dev/null", followStep("mid"), traceStep("leaf"))
				rest, ok := withoutLines(r.stderr, reruns)
				if r.status != 0 || !ok || !onlyNotes(rest) {
					dumpOnFailure(t, r)
					t.Fatalf("%s: exit status %d, stderr %q; want 0, %q and notes at most", placement, r.status, r.stderr, reruns)
				}
				got, _, body := followLines(t, r.stdout)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s:\ngot\n%s\nwant\n%s", placement, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				traces, stats := parseOutput(t, body)
				if len(traces) != 1 || traces[0].ret != "-2" {
					t.Fatalf("%s: %d traces, want 1 returning -2:\n%s", placement, len(traces), r.stdout)
				}
				if st := traces[0].stmts; len(st) != 1 || st[0].file != file || st[0].line != m["top-call"] || (len(st[0].vars) > 0 && st[0].vars["key"] != "0x7") {
					t.Errorf("%s: top's statements %+v, want one at %s:%d with key=0x7 or no variable", placement, st, file, m["top-call"])
				}
				if !strings.Contains(strings.Join(stats, "\n"), "entry count: 1\nexit-hit count: 1\nexit-miss count: 0\n") {
					t.Errorf("%s: statistics %q, want one entry and one hit", placement, stats)
				}
				heading, ost := originSection(t, r.stdout)
				if wantH := "origin's statements: leaf, in the call leaf " + at("mid-call") + ", call 1 from that site:"; heading != wantH {
					t.Errorf("%s: origin's statements heading %q, want %q", placement, heading, wantH)
				}
				failed := false
				for _, s := range ost {
					failed = failed || s.line == m["leaf-fail"]
					if s.file != file || s.vars["key"] != "0x7" || s.line == m["leaf-ok"] {
						t.Errorf("%s: leaf's statement %q, want key=0x7 in %s, not at line %d", placement, s.text, file, m["leaf-ok"])
					}
				}
				if !failed {
					t.Errorf("%s: leaf's statements %+v, want one at %s:%d", placement, ost, file, m["leaf-fail"])
				}
			}
		})
	}
}
