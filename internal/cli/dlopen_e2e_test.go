package cli_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// dlopenVariants are the builds of the dlhost fixture TestFollowDlopen
// runs: both compilers at -O0 and -O2, and gcc -O2 with the DWARF split
// off both files (the plugin's found by its build-id in --debug-dir).
var dlopenVariants = append(append([]fixture.Variant{}, verdictVariants...),
	fixture.Variant{Compiler: "gcc", Opt: "-O2", PIE: true, SplitDebug: true})

// TestFollowDlopen: run calls, through a pointer, plug_run of
// libdlplug.so, a plugin dlhost loads with dlopen, and fails when
// plug_run's callee check does; find_key calls plug_find there, whose call
// of plug_lookup goes through the plugin's own PLT (bound in the plugin,
// which the binary does not need). The call is named by the function at
// the pointer's target in the file the process's memory map places it
// in, with that file's name; the -c re-run follows that function's calls
// (as for a pointer to a function of the traced binary) and finds the
// origin, whose statements a third run traces in the plugin. The
// complete --follow lines, the re-run lines, and the origin's statements:
// its listed ones, with its parameter's value, its failing line among
// them.
func TestFollowDlopen(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("dlhost"))
	pm := fixture.Markers(t, filepath.Join(fixture.SourceDir(), "dlplug.c"))
	const host, plug = "/fixture/src/dlhost.c", "/fixture/src/dlplug.c"
	cases := []struct {
		fn, ptr, ptrCall string // the traced function, the pointer's target, the call's marker
		origin, callee   string // the origin's function and its call's name
		call, fail       string // the origin's call's marker, its failing line's
		ret              string
		variable, value  string // the origin's parameter in the failing call
	}{
		{"run", "plug_run", "run-call", "check", "check", "plug-call", "check-fail", "-22", "v", "0x4"},
		{"find_key", "plug_find", "find-key-call", "plug_lookup", "plug_lookup@plt", "find-call", "lookup-fail", "-2", "key", "0x7"},
	}
	for _, v := range dlopenVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "dlhost", v)
			lib := filepath.Base(b.Lib)
			for _, c := range cases {
				listed, _ := listedLines(t, b, b.Lib, c.origin)
				args := append(debugDir(b), fmt.Sprintf("process(%q)", b.Path), c.fn, "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
				r := followRun(t, false, args...)
				// One level per run: the pointer's target's calls,
				// then the origin's statements.
				rest, found := withoutStagedReruns(r.stderr, b.Path+" >/dev/null", []string{c.ptr, strings.TrimSuffix(c.callee, "@plt")})
				if !found || !onlyNotes(rest) {
					t.Fatalf("%s: stderr %q; want the re-runs for %s and %s and notes at most", c.fn, r.stderr, c.ptr, c.callee)
				}
				call := fmt.Sprintf("%s in %s (%s:%d) returned %s", c.ptr, lib, host, m[c.ptrCall], c.ret)
				inner := fmt.Sprintf("%s (%s:%d) returned %s", c.callee, plug, pm[c.call], c.ret)
				want := []string{
					"call: " + call,
					"call:   " + inner,
					"origin: " + inner + ", passed up",
					"chain: " + c.fn + " → " + call + " → " + inner,
				}
				got, _, out := followLines(t, r.stdout)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s: got\n%s\nwant\n%s", c.fn, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				traces, _ := parseOutput(t, out)
				if len(traces) != 1 || traces[0].ret != c.ret {
					t.Fatalf("%s: %d traces, want 1 returning %s", c.fn, len(traces), c.ret)
				}
				heading, stmts := originSection(t, r.stdout)
				if w := fmt.Sprintf("origin's statements: %s, in the call %s (%s:%d), call 1 from that site:", c.origin, c.callee, plug, pm[c.call]); heading != w {
					t.Errorf("%s: heading %q, want %q", c.fn, heading, w)
				}
				if len(stmts) == 0 {
					t.Fatalf("%s: no statements of %s", c.fn, c.origin)
				}
				seen := map[string]bool{}
				for _, s := range stmts {
					where := fmt.Sprintf("%s:%d", s.file, s.line)
					if _, ok := listed[where]; !ok {
						t.Errorf("%s: statement %q is not one of %s's", c.fn, s.text, c.origin)
					}
					if s.comm != traces[0].comm || s.tid != traces[0].tid {
						t.Errorf("%s: statement %q is not the trace's thread's", c.fn, s.text)
					}
					if got, ok := s.vars[c.variable]; !ok || (got != "?" && got != c.value) {
						t.Errorf("%s: statement %q: want %s=%s (or ?)", c.fn, s.text, c.variable, c.value)
					}
					seen[where] = true
				}
				fail := fmt.Sprintf("%s:%d", plug, pm[c.fail])
				if _, ok := listed[fail]; ok && !seen[fail] {
					t.Errorf("%s: the failing line %s is not among %s's statements", c.fn, fail, c.origin)
				}
			}
		})
	}
}

// TestFollowDlopenInside: run_odd calls, through a pointer, plug_odd+1 in
// the plugin: code inside a function, not its start. The call keeps its
// hex address and the note it had before calls into other files were
// named (never a name guessed from the nearest symbol), and its
// statements are not traced, with the line that says so.
func TestFollowDlopenInside(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("dlhost"))
	b := fixture.Build(t, "dlhost", fixture.Default)
	r := followRun(t, false, fmt.Sprintf("process(%q)", b.Path), "run_odd", "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
	got, _, _ := followLines(t, r.stdout)
	addr := regexp.MustCompile(`^call: (0x[0-9a-f]+) `).FindStringSubmatch(strings.Join(got, "\n"))
	if addr == nil {
		t.Fatalf("no call named by its address in %q", got)
	}
	at := fmt.Sprintf("%s (/fixture/src/dlhost.c:%d) returned -22", addr[1], m["odd-call"])
	want := []string{
		"call: " + at + ", its own calls not followed (called through a pointer)",
		"origin: " + at + ", passed up",
		"chain: run_odd → " + at,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	miss := fmt.Sprintf("whythefail: %s is not a function of %s (a call into another library): its statements are not traced\n", addr[1], b.Path)
	rest := strings.Replace(r.stderr, miss, "", 1)
	if rest == r.stderr || !onlyNotes(rest) {
		t.Errorf("stderr %q; want %q and notes at most", r.stderr, miss)
	}
	if heading, _ := originSection(t, r.stdout); heading != "" {
		t.Errorf("origin's statements %q for a call not named", heading)
	}
}
