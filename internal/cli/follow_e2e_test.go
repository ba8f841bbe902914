package cli_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// followLines returns the "call:", "origin:" and "chain:" lines of
// --follow's text output, in order, checking that they come after the
// trace's statements and before its why: line, and the output without
// them (for parseOutput).
func followLines(t *testing.T, out string) (lines []string, origin string, rest string) {
	t.Helper()
	var keep []string
	sawWhy, inOrigin := false, false
	for _, l := range strings.Split(out, "\n") {
		// The origin's statements (a re-run) are originSection's.
		if strings.HasPrefix(l, "origin's statements") {
			inOrigin = true
			continue
		}
		if inOrigin && stmtRE.MatchString(l) {
			continue
		}
		inOrigin = false
		switch {
		case strings.HasPrefix(l, "call: "), strings.HasPrefix(l, "chain: "):
			if sawWhy || (origin != "" && strings.HasPrefix(l, "call: ")) {
				t.Errorf("line %q after the origin or why: line", l)
			}
			lines = append(lines, l)
			continue
		case strings.HasPrefix(l, "origin: "):
			if sawWhy || origin != "" {
				t.Errorf("origin line %q after the why: line or a second one", l)
			}
			origin = l
			lines = append(lines, l)
			continue
		case strings.HasPrefix(l, "why: "):
			sawWhy = true
		}
		keep = append(keep, l)
	}
	return lines, origin, strings.Join(keep, "\n")
}

// followCase is one traced function of the follow fixture and the complete
// --follow lines its failing call prints. In the lines, {marker} stands for
// "(FILE:LINE)" of the marker's line in follow.c, {lib:marker} for the same in
// followlib.c, and TRANSLATE for the translation's place.
type followCase struct {
	fn, ret string
	lines   []string
}

// viaPtr names, for a case whose first run blamed a callee called
// through a pointer, that callee: with --follow-eager too, the re-run
// follows its calls and, the failure coming from deeper, a third run
// traces the origin's statements.
var viaPtr = map[string]string{"viaptr3": "mid3"}

// followCases are the cases of TestFollow, at the default depth (3).
var followCases = []followCase{
	{"passup", "-2", []string{
		"call: lookup {passup-call} returned -2",
		"origin: lookup {passup-call} returned -2, passed up",
		"chain: passup → lookup {passup-call} returned -2"}},
	{"translate", "-22", []string{
		"call: lookup {translate-call} returned -2",
		"origin: lookup {translate-call} returned -2, translated at TRANSLATE",
		"chain: translate → lookup {translate-call} returned -2"}},
	{"each", "-22", []string{
		"call: check {each-call} returned 0", "call: check {each-call} returned 0",
		"call: check {each-call} returned 0", "call: check {each-call} returned 0",
		"call: check {each-call} returned -22",
		"origin: check {each-call} returned -22, passed up",
		"chain: each → check {each-call} returned -22"}},
	{"recover", "-1", []string{
		"call: lookup {recover-first} returned -2", "call: lookup {recover-second} returned 8",
		"origin: recover itself (no call returned -1)"}},
	// Through a pointer: the re-run, which prints, follows the target's
	// calls (check makes none).
	{"viaptr", "-22", []string{
		"call: check {viaptr-call} returned -22",
		"origin: check {viaptr-call} returned -22, passed up",
		"chain: viaptr → check {viaptr-call} returned -22"}},
	// Through a pointer to mid3, whose call of leaf3 failed: the first
	// run stops at mid3 (its calls not followed), the re-run follows
	// them and finds leaf3, and a third run traces leaf3's statements.
	{"viaptr3", "-2", []string{
		"call: mid3 {viaptr3-call} returned -2",
		"call:   leaf3 {mid3-call} returned -2",
		"origin: leaf3 {mid3-call} returned -2, passed up",
		"chain: viaptr3 → mid3 {viaptr3-call} returned -2 → leaf3 {mid3-call} returned -2"}},
	// Three levels: the origin two levels below, shown as the chain.
	{"three", "-2", []string{
		"call: mid3 {three-call} returned -2",
		"call:   leaf3 {mid3-call} returned -2",
		"origin: leaf3 {mid3-call} returned -2, passed up",
		"chain: three → mid3 {three-call} returned -2 → leaf3 {mid3-call} returned -2"}},
	// Recursion: each level's call matched to its own return (by rsp);
	// down(0) is the third level.
	{"recurse", "-5", []string{
		"call: down {recurse-call} returned -5",
		"call:   down {down-call} returned -5",
		"call:     down {down-call} returned -5",
		"origin: down {down-call} returned -5, passed up",
		"chain: recurse → down {recurse-call} returned -5 → down {down-call} returned -5 → down {down-call} returned -5"}},
	// A callee called in a loop one level down, the fifth call failing.
	{"loop3", "-22", []string{
		"call: scan {loop3-call} returned -22",
		"call:   check {scan-call} returned 0", "call:   check {scan-call} returned 0",
		"call:   check {scan-call} returned 0", "call:   check {scan-call} returned 0",
		"call:   check {scan-call} returned -22",
		"origin: check {scan-call} returned -22, passed up",
		"chain: loop3 → scan {loop3-call} returned -22 → check {scan-call} returned -22"}},
	// mid_recover recovered from lookup's -2, then failed by itself:
	// lookup is never blamed.
	{"recover3", "-1", []string{
		"call: mid_recover {recover3-call} returned -1",
		"call:   lookup {midrec-first} returned -2", "call:   lookup {midrec-second} returned 8",
		"origin: mid_recover {recover3-call} returned -1, passed up",
		"chain: recover3 → mid_recover {recover3-call} returned -1"}},
	// Through the PLT into libfollow.so, whose own callee failed.
	{"viaplt", "-2", []string{
		"call: lib_open@plt {viaplt-call} returned -2",
		"call:   lib_find {lib:lib-find-call} returned -2",
		"origin: lib_find {lib:lib-find-call} returned -2, passed up",
		"chain: viaplt → lib_open@plt {viaplt-call} returned -2 → lib_find {lib:lib-find-call} returned -2"}},
	// find_thing returned NULL having set errno; use_thing returned -1.
	{"use_thing", "-1", []string{
		"call: find_thing {use-thing-call} returned 0 with errno ENOENT (2)",
		"call:   __errno_location@plt {find-errno} returned errno's address",
		"origin: find_thing {use-thing-call} returned 0 with errno ENOENT (2), passed up as a failure with errno set",
		"chain: use_thing → find_thing {use-thing-call} returned 0 with errno ENOENT (2)"}},
	// The call is in helper, inlined into viainline.
	{"viainline", "-2", []string{
		"call: lookup {helper-call} returned -2",
		"origin: lookup {helper-call} returned -2, passed up",
		"chain: viainline → helper (inlined) → lookup {helper-call} returned -2"}},
}

// TestFollow traces each function of the follow fixture with --follow
// (depth 3), in both compilers at -O0 and -O2, and checks the complete
// --follow lines: the calls with their values (the calls made in each
// call of the chain indented below it), the origin and the chain from the
// function down to it (followCases). It traces each twice: one level
// per run (the default: the command re-run once per callee of the
// chain) and with --follow-eager (every level from the first run); both
// print the same lines.
func TestFollow(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	lm := fixture.Markers(t, filepath.Join(fixture.SourceDir(), "followlib.c"))
	const file, lib = "/fixture/src/follow.c", "/fixture/src/followlib.c"
	marker := regexp.MustCompile(`\{(lib:)?[a-z0-9-]+\}`)
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "follow", v)
			// The translation is named at the return line, or at the
			// if when the return line has no code (clang -O2 chooses
			// -EINVAL with a cmove on the if's line).
			listed, _ := listedLines(t, b, b.Path, "translate")
			translated := fmt.Sprintf("%s:%d", file, m["translate-ret"])
			if _, ok := listed[translated]; !ok {
				translated = fmt.Sprintf("%s:%d", file, m["translate-if"])
			}
			for _, c := range followCases {
				var want []string
				for _, l := range c.lines {
					l = strings.Replace(l, "TRANSLATE", translated, 1)
					l = marker.ReplaceAllStringFunc(l, func(k string) string {
						k = strings.Trim(k, "{}")
						if name, ok := strings.CutPrefix(k, "lib:"); ok {
							return fmt.Sprintf("(%s:%d)", lib, lm[name])
						}
						return fmt.Sprintf("(%s:%d)", file, m[k])
					})
					want = append(want, l)
				}
				// The origin's statements: re-runs trace them (in
				// libfollow.so too), one level deeper each: one per
				// callee of the chain (the re-run lines in that
				// order, notes between them).
				origin, callees := "", []string(nil)
				for _, l := range c.lines {
					if o, ok := strings.CutPrefix(l, "origin: "); ok && !strings.Contains(o, " itself ") {
						origin, _, _ = strings.Cut(o, " ")
					}
					if strings.HasPrefix(l, "chain: ") {
						callees = chainCallees(l)
					}
				}
				for _, eager := range []bool{false, true} {
					args := []string{fmt.Sprintf("process(%q)", b.Path), c.fn, "$return < 0", "--follow", "-c", b.Path + " >/dev/null"}
					if eager {
						args = append(args, "--follow-eager")
					}
					r := traceRun(t, args...)
					rest, found := withoutStagedReruns(r.stderr, b.Path+" >/dev/null", callees)
					if eager && origin != "" {
						// Every level from the first run: one
						// re-run traces the origin's statements;
						// through a pointer, one follows its calls
						// first.
						steps := []string{traceStep(origin)}
						if p := viaPtr[c.fn]; p != "" {
							steps = []string{followStep(p), traceStep(origin)}
						}
						rest, found = withoutLines(r.stderr, rerunLines(b.Path+" >/dev/null", steps...))
					}
					if r.status != 0 || !found || !onlyNotes(rest) {
						dumpOnFailure(t, r)
						t.Fatalf("%s (eager %v): exit status %d, stderr %q; want 0, the re-runs for %q and notes at most", c.fn, eager, r.status, r.stderr, callees)
					}
					checkFollowCase(t, c, r, origin, want, eager)
				}
			}
		})
	}
}

// checkFollowCase checks the trace of one of TestFollow's cases: the
// --follow lines want, and the origin's statements heading.
func checkFollowCase(t *testing.T, c followCase, r result, origin string, want []string, eager bool) {
	t.Helper()
	heading, _ := originSection(t, r.stdout)
	if w := "origin's statements: " + origin + ", in the call "; (origin != "") != strings.HasPrefix(heading, w) {
		t.Errorf("%s (eager %v): origin's statements heading %q, want one starting %q only when a re-run traced them", c.fn, eager, heading, w)
	}
	got, _, rest := followLines(t, r.stdout)
	traces, _ := parseOutput(t, rest)
	if len(traces) != 1 || traces[0].ret != c.ret {
		t.Errorf("%s (eager %v): %d traces, want 1 returning %s:\n%s", c.fn, eager, len(traces), c.ret, r.stdout)
		return
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s (eager %v):\ngot\n%s\nwant\n%s", c.fn, eager, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFollowDepthOne: --follow=1 records FUNCTION's own calls only: the
// three-level case ends at mid3, which failed by itself as far as depth 1
// can tell.
func TestFollowDepthOne(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Default)
	r := followRun(t, false, fmt.Sprintf("process(%q)", b.Path), "three", "$return < 0", "--follow=1", "-c", b.Path+" >/dev/null")
	at := fmt.Sprintf("(/fixture/src/follow.c:%d)", m["three-call"])
	want := []string{"call: mid3 " + at + " returned -2", "origin: mid3 " + at + " returned -2, passed up", "chain: three → mid3 " + at + " returned -2"}
	if got, _, _ := followLines(t, r.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFollowJSON: --json carries the calls and the origin, with the
// translation's line.
func TestFollowJSON(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("follow")
	m := fixture.Markers(t, src)
	b := fixture.Build(t, "follow", fixture.Default)
	r := followRun(t, false, fmt.Sprintf("process(%q)", b.Path), "translate", "$return < 0", "--follow", "--json", "-c", b.Path+" >/dev/null")
	type call struct {
		Callee   string `json:"callee"`
		File     string `json:"file"`
		Line     int    `json:"line"`
		Returned bool   `json:"returned"`
		Value    int64  `json:"value"`
	}
	type origin struct {
		Call       int    `json:"call"`
		Callee     string `json:"callee"`
		Translated bool   `json:"translated"`
		File       string `json:"file"`
		Line       int    `json:"line"`
	}
	got := jsonTraces[struct {
		Calls  []call  `json:"calls"`
		Origin *origin `json:"origin"`
	}](t, r.stdout)
	const file = "/fixture/src/follow.c"
	wantCall := call{Callee: "lookup", File: file, Line: m["translate-call"], Returned: true, Value: -2}
	wantOrigin := origin{Call: 0, Callee: "lookup", Translated: true, File: file, Line: m["translate-ret"]}
	if len(got) != 1 || len(got[0].Calls) != 1 || got[0].Calls[0] != wantCall || got[0].Origin == nil || *got[0].Origin != wantOrigin {
		t.Fatalf("traces %+v, want one with calls [%+v] and origin %+v", got, wantCall, wantOrigin)
	}
}

// TestFollowGlibc traces glibc's fopen, which the follow fixture calls
// with the mode "qz" that it rejects: fopen tail-jumps to
// __fopen_internal, whose call of _IO_file_fopen (an alias) returns NULL.
// The origin is named by its DWARF name, _IO_new_file_fopen (libio/fileops.c,
// whose mode switch's default case sets EINVAL and returns NULL without a
// call), with the errno it set; the void calls after it (_IO_un_link,
// free) are shown without a value and never blamed.
func TestFollowGlibc(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "follow", fixture.Default)
	r := followRun(t, true, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "fopen", "$return == 0", "--follow", "-c", b.Path+" >/dev/null")
	lines, origin, _ := followLines(t, r.stdout)
	if want := "origin: _IO_new_file_fopen (in __fopen_internal) returned 0x0 with errno EINVAL (22), passed up"; origin != want {
		t.Errorf("origin line %q, want %q", origin, want)
	}
	want := []string{
		"call: _IO_new_file_fopen (in __fopen_internal) returned 0x0 with errno EINVAL (22)",
		"call: _IO_un_link (in __fopen_internal) returned (value not used)",
		"call: free@plt (in __fopen_internal) returned (value not used)",
		"chain: fopen → __fopen_internal (tail call) → _IO_new_file_fopen returned 0x0 with errno EINVAL (22)",
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("--follow lines %q: want %q", lines, w)
		}
	}
}

// TestFollowDepth: a DEPTH that is not a number from 1 to 8 is one line
// and exit status 1.
func TestFollowDepth(t *testing.T) {
	for _, arg := range []string{"--follow=0", "--follow=x", "--follow=9", "--follow=-1"} {
		r := runCLI("/bin/true", "main", "$return < 0", arg)
		if r.status != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--follow=") || r.stdout != "" {
			t.Errorf("%s: status %d, stdout %q, stderr %q; want 1 and one line", arg, r.status, r.stdout, r.stderr)
		}
	}
}

// TestFollowEagerAlone: --follow-eager without --follow is one line
// saying to give --follow too, and exit status 1.
func TestFollowEagerAlone(t *testing.T) {
	r := runCLI("/bin/true", "main", "$return < 0", "--follow-eager")
	if want := "whythefail: --follow-eager changes what --follow probes: give --follow too (see whythefail --help)\n"; r.status != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("status %d, stdout %q, stderr %q; want 1 and %q", r.status, r.stdout, r.stderr, want)
	}
}

// TestFollowJSONChain: --json carries the call tree (parent, depth, the
// callee's binary and address) and the origin's chain, three levels deep,
// and the callee in libfollow.so for a PLT call.
func TestFollowJSONChain(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Default)
	type call struct {
		Callee string `json:"callee"`
		Line   int    `json:"line"`
		Value  int64  `json:"value"`
		Parent int    `json:"parent"`
		Depth  int    `json:"depth"`
		Binary string `json:"binary"`
		Target uint64 `json:"target"`
	}
	type origin struct {
		Call  int   `json:"call"`
		Chain []int `json:"chain"`
	}
	for _, c := range []struct {
		fn    string
		calls []call // Target: 1 stands for any non-zero address
	}{
		{"three", []call{{"mid3", m["three-call"], -2, -1, 1, b.Path, 1}, {"leaf3", m["mid3-call"], -2, 0, 2, b.Path, 1}}},
		{"viaplt", []call{{"lib_open@plt", m["viaplt-call"], -2, -1, 1, b.Lib, 1}}},
	} {
		r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), c.fn, "$return < 0", "--follow", "--json", "-c", b.Path+" >/dev/null")
		if r.status != 0 {
			dumpOnFailure(t, r)
			t.Fatalf("%s: exit status %d", c.fn, r.status)
		}
		traces := jsonTraces[struct {
			Calls  []call  `json:"calls"`
			Origin *origin `json:"origin"`
		}](t, r.stdout)
		if len(traces) != 1 || traces[0].Origin == nil {
			t.Fatalf("%s: traces %+v, want one with an origin", c.fn, traces)
		}
		got := traces[0].Calls
		if c.fn == "viaplt" && len(got) == 2 {
			got = got[:1] // lib_find's line is in followlib.c: TestFollow checks it
		}
		for i := range got {
			if got[i].Target != 0 {
				got[i].Target = 1
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.calls) {
			t.Errorf("%s: calls %+v, want %+v", c.fn, got, c.calls)
		}
		if want := (origin{Call: 1, Chain: []int{0, 1}}); fmt.Sprint(*traces[0].Origin) != fmt.Sprint(want) {
			t.Errorf("%s: origin %+v, want %+v", c.fn, *traces[0].Origin, want)
		}
	}
}

// TestFollowBufferGap: when the trace buffer drops records while the
// traced function runs (--max-statements 6: three's first statement
// kept, mid3's call dropped, leaf3's call, the returns and the last
// statements kept), a call recorded after them whose caller's call was
// dropped is not taken for the function's own (leaf3 would be), and the
// origin line says the origin is not known, with no re-run (TestFollow
// has the chain down to leaf3 with the whole trace kept).
func TestFollowBufferGap(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "follow", fixture.Default)
	r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "three", "$return < 0", "--follow", "--follow-eager", "--max-statements", "6", "-c", b.Path+" >/dev/null")
	if r.status != 0 || !onlyNotes(r.stderr) {
		dumpOnFailure(t, r)
		t.Fatalf("exit status %d, stderr %q; want 0 and notes (no re-run)", r.status, r.stderr)
	}
	got, _, _ := followLines(t, r.stdout)
	want := []string{"origin: not known (the trace buffer dropped 1 records while three ran: the call its value came from may be among them)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || !strings.Contains(r.stdout, "... 1 statements not recorded here") {
		t.Errorf("--follow lines\n%s\nwant\n%s\nin:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.stdout)
	}
}
