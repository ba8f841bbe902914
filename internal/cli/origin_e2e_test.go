package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// rerunRE is a line that says the -c command runs again: to follow the
// calls of the callee a run blamed and trace its statements (--follow
// goes one level deeper per run), or to trace the origin's statements.
var rerunRE = regexp.MustCompile(`^whythefail: re-running .+ to (trace \S+'s statements|follow \S+'s calls( and trace its statements)?)$`)

// withoutRerun drops the re-run lines from stderr.
func withoutRerun(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if !rerunRE.MatchString(l) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// tracesLast reports whether the last of stderr's re-run lines traces
// origin's statements (following its calls or not).
func tracesLast(stderr, origin string) bool {
	last := ""
	for _, l := range strings.Split(stderr, "\n") {
		if rerunRE.MatchString(l) {
			last = l
		}
	}
	return strings.HasSuffix(last, " to trace "+origin+"'s statements") || strings.HasSuffix(last, " to follow "+origin+"'s calls and trace its statements")
}

// followStep and traceStep are the ends of re-run lines (rerunLines): the run
// that follows name's calls and traces its statements, the one that
// traces its statements alone.
func followStep(name string) string { return "follow " + name + "'s calls and trace its statements" }
func traceStep(name string) string  { return "trace " + name + "'s statements" }

// rerunLines are the lines saying that cmd runs again for each step, in
// order ("again" from the second on).
func rerunLines(cmd string, steps ...string) []string {
	var out []string
	for i, s := range steps {
		again := ""
		if i > 0 {
			again = " again"
		}
		out = append(out, fmt.Sprintf("whythefail: re-running %s%s to %s\n", cmd, again, s))
	}
	return out
}

// chainCallees are the callees of a chain: line (a PLT call's by the
// function's name), FUNCTION and the functions tail-jumped to or inlined
// left out.
func chainCallees(chain string) []string {
	var out []string
	for i, p := range strings.Split(strings.TrimPrefix(chain, "chain: "), " → ") {
		if i == 0 || strings.HasSuffix(p, " (tail call)") || strings.HasSuffix(p, " (inlined)") {
			continue
		}
		name, _, _ := strings.Cut(p, " ")
		out = append(out, strings.TrimSuffix(name, "@plt"))
	}
	return out
}

// withoutStagedReruns removes from stderr the re-run lines of a staged
// --follow of cmd whose chain is callees, checking them: in order, each
// for a callee further down the chain than the one before (a recursive
// callee's are all followed at once: fewer lines than callees), each
// following its callee's calls and tracing its statements, but the last,
// the origin's, which may trace its statements alone (it makes no call).
// Not ok when they are not so.
func withoutStagedReruns(stderr, cmd string, callees []string) (string, bool) {
	var keep, reruns []string
	for _, l := range strings.Split(stderr, "\n") {
		if rerunRE.MatchString(l) {
			reruns = append(reruns, l)
		} else {
			keep = append(keep, l)
		}
	}
	if len(reruns) == 0 || len(reruns) > len(callees) {
		return stderr, len(callees) == 0 && len(reruns) == 0
	}
	k, origin := -1, len(callees)-1
	for i, l := range reruns {
		prefix := "whythefail: re-running " + cmd + " to "
		if i > 0 {
			prefix = "whythefail: re-running " + cmd + " again to "
		}
		if i == len(reruns)-1 {
			// The origin's, below every callee matched before.
			if k >= origin || l != prefix+followStep(callees[origin]) && l != prefix+traceStep(callees[origin]) {
				return stderr, false
			}
			break
		}
		found := false
		for k+1 < origin && !found {
			k++
			found = l == prefix+followStep(callees[k])
		}
		if !found {
			return stderr, false
		}
	}
	return strings.Join(keep, "\n"), true
}

// withoutLines removes each of lines from stderr, once and in order; not
// ok when one is missing.
func withoutLines(stderr string, lines []string) (string, bool) {
	at := 0
	for _, l := range lines {
		k := strings.Index(stderr[at:], l)
		if k < 0 {
			return stderr, false
		}
		stderr = stderr[:at+k] + stderr[at+k+len(l):]
		at += k
	}
	return stderr, true
}

// originSection returns the heading of the origin's statements in a text
// output holding one trace, and the statement lines under it, checking
// that they come after the origin: and chain: lines and before the why:
// line.
func originSection(t *testing.T, out string) (heading string, stmts []stmtLine) {
	t.Helper()
	lines := strings.Split(out, "\n")
	at := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "origin's statements") {
			if at >= 0 {
				t.Fatalf("two origin's statements headings in:\n%s", out)
			}
			at = i
		}
	}
	if at < 0 {
		return "", nil
	}
	if at < 2 || !strings.HasPrefix(lines[at-1], "chain: ") || !strings.HasPrefix(lines[at-2], "origin: ") {
		t.Errorf("the origin's statements do not follow the origin: and chain: lines:\n%s", out)
	}
	i := at + 1
	for ; i < len(lines); i++ {
		m := stmtRE.FindStringSubmatch(lines[i])
		if m == nil {
			break
		}
		tid, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[4])
		s := stmtLine{comm: m[1], tid: tid, file: m[3], line: n, vars: map[string]string{}, text: lines[i]}
		for _, kv := range strings.Fields(m[5]) {
			k, v, _ := strings.Cut(kv, "=")
			s.vars[k] = v
		}
		stmts = append(stmts, s)
	}
	if i >= len(lines) || !strings.HasPrefix(lines[i], "why: ") {
		t.Errorf("the origin's statements are not followed by the why: line:\n%s", out)
	}
	return lines[at], stmts
}

// TestFollowOrigin: with --follow -c, the command runs a second time with
// the blamed callee's statements traced, and each trace prints them after
// its origin: line, for the blamed call only: lookup's statements down to
// its return -ENOENT (passed up, and translated), the fifth of five calls
// of check in a loop (v=120, not the four calls before it that
// succeeded), check called through a pointer, and the deepest origins
// of follow.c's deeper cases (two and three levels down, recursion, a
// loop one level down, a call in an inlined function, a callee that
// recovered and then failed, NULL with errno set). Both compilers, -O0
// and -O2. The lines are the callee's listed statements, its failing line
// (by its marker) among them whenever it has a probe, the line of the
// other return never.
func TestFollowOrigin(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("follow")
	m := fixture.Markers(t, src)
	lm := fixture.Markers(t, filepath.Join(fixture.SourceDir(), "followlib.c"))
	// at is a marker's file and line ("lib:" for followlib.c's).
	at := func(marker string) (string, int) {
		if name, ok := strings.CutPrefix(marker, "lib:"); ok {
			return "/fixture/src/followlib.c", lm[name]
		}
		return "/fixture/src/follow.c", m[marker]
	}
	cases := []struct {
		fn, origin, call string
		nth              int
		variable, value  string // the origin's parameter and its value in the blamed call
		fail, never      string // markers
	}{
		{"passup", "lookup", "passup-call", 1, "key", "0x7", "lookup-fail", "lookup-ok"},
		{"translate", "lookup", "translate-call", 1, "key", "0x7", "lookup-fail", "lookup-ok"},
		{"each", "check", "each-call", 5, "v", "0x78", "check-fail", ""},
		{"viaptr", "check", "viaptr-call", 1, "v", "0x1f4", "check-fail", ""},
		// Below FUNCTION: the deepest call of the chain, its site in
		// its caller, counted among that site's calls in the
		// invocation (down(0) is the second call from down's site).
		{"three", "leaf3", "mid3-call", 1, "key", "0x7", "leaf3-fail", "leaf3-ok"},
		// Below a call through a pointer (of mid3): a second re-run,
		// the first having followed mid3's calls.
		{"viaptr3", "leaf3", "mid3-call", 1, "key", "0x7", "leaf3-fail", "leaf3-ok"},
		{"loop3", "check", "scan-call", 5, "v", "0x78", "check-fail", ""},
		// down(1)'s line after its call of down(0) never prints
		// among down(0)'s, although a probe at the return address
		// is the call's and the statement's.
		{"recurse", "down", "down-call", 2, "n", "0x0", "down-fail", "down-after"},
		{"viainline", "lookup", "helper-call", 1, "key", "0x7", "lookup-fail", "lookup-ok"},
		{"recover3", "mid_recover", "recover3-call", 1, "key", "0x7", "", ""},
		{"use_thing", "find_thing", "use-thing-call", 1, "key", "0x7", "find-errno", ""},
		// In libfollow.so, reached through the PLT ("lib:" markers
		// are followlib.c's).
		{"viaplt", "lib_find", "lib:lib-find-call", 1, "key", "0x7", "lib:lib-find-fail", "lib:lib-find-ok"},
	}
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "follow", v)
			for _, c := range cases {
				path := b.Path
				if strings.HasPrefix(c.call, "lib:") {
					path = b.Lib
				}
				listed, _ := listedLines(t, b, path, c.origin)
				r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), c.fn, "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
				if r.status != 0 || !onlyNotes(withoutRerun(r.stderr)) || !tracesLast(r.stderr, c.origin) {
					dumpOnFailure(t, r)
					t.Fatalf("%s: exit status %d, stderr %q; want 0, re-run lines, the last for the origin, and notes", c.fn, r.status, r.stderr)
				}
				_, _, rest := followLines(t, r.stdout)
				traces, _ := parseOutput(t, rest)
				if len(traces) != 1 {
					t.Fatalf("%s: %d traces, want 1:\n%s", c.fn, len(traces), r.stdout)
				}
				heading, stmts := originSection(t, r.stdout)
				cf, cl := at(c.call)
				want := fmt.Sprintf("origin's statements: %s, in the call %s (%s:%d), call %d from that site:", c.origin, c.origin, cf, cl, c.nth)
				if heading != want {
					t.Errorf("%s: heading %q, want %q", c.fn, heading, want)
				}
				if len(stmts) == 0 {
					t.Errorf("%s: no statements of %s:\n%s", c.fn, c.origin, r.stdout)
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
				ff, fl := at(c.fail)
				fail := fmt.Sprintf("%s:%d", ff, fl)
				if _, ok := listed[fail]; ok && !seen[fail] {
					t.Errorf("%s: the failing line %s of %s is not among its statements:\n%s", c.fn, fail, c.origin, r.stdout)
				}
				if nf, nl := at(c.never); c.never != "" && seen[fmt.Sprintf("%s:%d", nf, nl)] {
					t.Errorf("%s: line %s:%d ran in the blamed call:\n%s", c.fn, nf, nl, r.stdout)
				}
			}
		})
	}
}

// TestFollowOriginJSON: --json carries the origin's statements in the
// origin object, with the callee's DWARF name.
func TestFollowOriginJSON(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Default)
	r := followRun(t, false, fmt.Sprintf("process(%q)", b.Path), "passup", "$return < 0", "--follow", "--json", "-c", b.Path+" >/dev/null")
	type stmt struct {
		File string `json:"file"`
		Line int    `json:"line"`
		Vars []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"vars"`
	}
	traces := jsonTraces[struct {
		Statements []stmt `json:"statements"`
		Origin     *struct {
			Callee     string `json:"callee"`
			Function   string `json:"function"`
			Statements []stmt `json:"statements"`
		} `json:"origin"`
	}](t, r.stdout)
	if len(traces) != 1 || traces[0].Origin == nil {
		t.Fatalf("want one trace with an origin")
	}
	o := traces[0].Origin
	if o.Callee != "lookup" || o.Function != "lookup" || len(o.Statements) == 0 {
		t.Fatalf("origin %+v, want lookup's statements", o)
	}
	fail := false
	for _, s := range o.Statements {
		if s.File != "/fixture/src/follow.c" || len(s.Vars) != 1 || s.Vars[0].Name != "key" || (s.Vars[0].Value != nil && s.Vars[0].Value != float64(7)) {
			t.Errorf("origin statement %+v: want follow.c with key=7", s)
		}
		fail = fail || s.Line == m["lookup-fail"]
	}
	if !fail {
		t.Errorf("the origin's statements do not reach line %d", m["lookup-fail"])
	}
	for _, s := range traces[0].Statements {
		if s.Line < m["passup-call"]-2 || s.Line > m["passup-call"]+5 {
			t.Errorf("statement %+v of passup's statements is not passup's", s)
		}
	}
}

// TestFollowOriginNoRecur: a failure that depends on a file the failing
// call removes does not recur in the re-run: one line says so, and the
// first run's trace prints with its calls alone: one level (the origin
// line says present's calls were not followed yet), or with
// --follow-eager every level.
func TestFollowOriginNoRecur(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Default)
	for _, eager := range []bool{false, true} {
		t.Run(fmt.Sprintf("eager=%v", eager), func(t *testing.T) {
			flag := filepath.Join(t.TempDir(), "present")
			if err := os.WriteFile(flag, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{fmt.Sprintf("process(%q)", b.Path), "once", "$return < 0", "--follow", "-c", fmt.Sprintf("FOLLOW_ONCE=%s %s >/dev/null", flag, b.Path)}
			if eager {
				args = append(args, "--follow-eager")
			}
			r := followRun(t, false, args...)
			var rest []string
			for _, l := range strings.Split(withoutRerun(r.stderr), "\n") {
				if strings.HasPrefix(l, "whythefail: the failure did not recur") {
					if want := "whythefail: the failure did not recur in the re-run (no trace blamed present, call 1 from its site, again): the first run's traces follow, without its statements"; l != want {
						t.Errorf("stderr line %q, want %q", l, want)
					}
					continue
				}
				rest = append(rest, l)
			}
			if len(rest) == strings.Count(withoutRerun(r.stderr), "\n")+1 || !onlyNotes(strings.Join(rest, "\n")) || !tracesLast(r.stderr, "present") {
				t.Errorf("stderr %q: want the re-run line, the did-not-recur line and notes", r.stderr)
			}
			calls, origin, body := followLines(t, r.stdout)
			traces, _ := parseOutput(t, body)
			const file = "/fixture/src/follow.c"
			want := fmt.Sprintf("origin: present (%s:%d) returned -17, passed up", file, m["once-call"])
			wantCalls := []string{ // followLines' calls, origin and chain lines
				fmt.Sprintf("call: present (%s:%d) returned -17", file, m["once-call"]),
				fmt.Sprintf("call:   access@plt (%s:%d) returned 0", file, m["present-access"]),
				fmt.Sprintf("call: unlink@plt (%s:%d) returned (value not used)", file, m["once-unlink"]),
				want,
				fmt.Sprintf("chain: once → present (%s:%d) returned -17", file, m["once-call"]),
			}
			if !eager {
				// present's calls were to be followed by the re-run.
				want += " (its own calls not followed yet: --follow goes one level deeper each time the failure recurs)"
				wantCalls = append(wantCalls[:1:1], wantCalls[2], want, wantCalls[4])
			}
			if len(traces) != 1 || traces[0].ret != "-17" || origin != want || strings.Join(calls, "\n") != strings.Join(wantCalls, "\n") {
				t.Errorf("traces %d, calls %q, origin %q; want one returning -17, calls %q and %q", len(traces), calls, origin, wantCalls, want)
			}
			if strings.Contains(r.stdout, "origin's statements") {
				t.Errorf("the origin's statements printed although the failure did not recur:\n%s", r.stdout)
			}
			if _, err := os.Stat(flag); !os.IsNotExist(err) {
				t.Errorf("the fixture did not remove %s: %v", flag, err)
			}
		})
	}
}

// fopenLines are the lines of glibc's _IO_new_file_fopen that its
// statements reach for the mode "qz" (the __set_errno (EINVAL) of the
// default: case of the mode switch) and never reach (the first statement
// after the switch), found by their text.
func fopenLines(t *testing.T) (einval, past int) {
	const fn = "_IO_new_file_fopen (FILE *fp"
	def := fixture.GlibcLine(t, "libio/fileops.c", fn, "default:")
	einval = fixture.GlibcLine(t, "libio/fileops.c", fn, "__set_errno (EINVAL);")
	if einval != def+1 {
		t.Fatalf("libio/fileops.c: the first __set_errno (EINVAL) of _IO_new_file_fopen (line %d) does not follow its default: (line %d)", einval, def)
	}
	return einval, fixture.GlibcLine(t, "libio/fileops.c", fn, "last_recognized = mode;")
}

// TestFollowOriginGlibc: glibc's fopen(path, "qz") with --follow -c
// re-runs the program and traces _IO_new_file_fopen's statements down to
// the __set_errno (EINVAL) of the default: case of its mode switch, and
// never past the switch (found by their text in glibc's source).
func TestFollowOriginGlibc(t *testing.T) {
	fixture.RequireBPF(t)
	einval, past := fopenLines(t)
	b := fixture.Build(t, "follow", fixture.Default)
	r := followRun(t, true, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "fopen", "$return == 0", "--follow", "-c", b.Path+" >/dev/null")
	// fopen tail-jumps to __fopen_internal, whose calls are fopen's own:
	// _IO_new_file_fopen is blamed at depth 1, one re-run.
	if want := rerunLines(b.Path+" >/dev/null", followStep("_IO_new_file_fopen")); !strings.Contains(r.stderr, want[0]) {
		t.Errorf("stderr %q: want the re-run line %q", r.stderr, want[0])
	}
	heading, stmts := originSection(t, r.stdout)
	var named bool
	for _, name := range []string{"_IO_new_file_fopen", "_IO_file_fopen"} {
		named = named || heading == "origin's statements: _IO_new_file_fopen, in the call "+name+" (in __fopen_internal), call 1 from that site:"
	}
	if !named {
		t.Errorf("heading %q: want _IO_new_file_fopen's statements for the call of _IO_file_fopen (in __fopen_internal)", heading)
	}
	checkFopenStmts(t, stmts, einval, past, r.stdout)
}

// TestFollowOriginLibc: a function of the program (openq) whose fopen
// call fails on glibc's mode check: --follow -c follows the call through
// the PLT into libc, blames _IO_new_file_fopen there (two levels down,
// errno EINVAL passed up as -1), and the re-run traces its statements in
// libc.so.6, with libc's debug info, down to the __set_errno (EINVAL) of
// the default: case of its mode switch and never past the switch.
func TestFollowOriginLibc(t *testing.T) {
	fixture.RequireBPF(t)
	einval, past := fopenLines(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Default)
	r := followRun(t, true, fmt.Sprintf("process(%q)", b.Path), "openq", "$return < 0", "--follow", "-c", b.Path+" q >/dev/null")
	// One level per run: fopen's calls (_IO_new_fopen's, with those of
	// __fopen_internal it tail-jumps to), then _IO_new_file_fopen's.
	rest, ok := withoutLines(r.stderr, rerunLines(b.Path+" q >/dev/null", followStep("_IO_new_fopen"), followStep("_IO_new_file_fopen")))
	if !ok || !onlyNotes(rest) {
		t.Errorf("stderr %q: want the re-run lines and notes", r.stderr)
	}
	at := fmt.Sprintf("(/fixture/src/follow.c:%d)", m["openq-call"])
	// __fopen_internal's call of _IO_file_fopen (an alias, named by
	// libc's DWARF), placed by libc's line table.
	in := fmt.Sprintf("(./libio/iofopen.c:%d)", fixture.GlibcLine(t, "libio/iofopen.c", "__fopen_internal (const char *filename", "if (_IO_file_fopen ((FILE *) new_f, filename, mode, is32) != NULL)"))
	origin := "origin: _IO_new_file_fopen " + in + " returned 0 with errno EINVAL (22), passed up as a failure with errno set"
	lines, got, body := followLines(t, r.stdout)
	traces, _ := parseOutput(t, body)
	if len(traces) != 1 || traces[0].ret != "-1" || got != origin {
		t.Errorf("traces %d, origin %q; want one returning -1 and %q", len(traces), got, origin)
	}
	chain := "chain: openq → fopen@plt " + at + " returned 0 with errno EINVAL (22) → __fopen_internal (tail call) → _IO_new_file_fopen " + in + " returned 0 with errno EINVAL (22)"
	if len(lines) == 0 || lines[len(lines)-1] != chain {
		t.Errorf("lines %q: want the last %q", lines, chain)
	}
	heading, stmts := originSection(t, r.stdout)
	if want := "origin's statements: _IO_new_file_fopen, in the call _IO_new_file_fopen " + in + ", call 1 from that site:"; heading != want {
		t.Errorf("heading %q, want %q", heading, want)
	}
	checkFopenStmts(t, stmts, einval, past, r.stdout)
}

// TestFollowTailOrigin: tail1's `return leafcheck(key + 1);` is a jump
// at -O2 (gcc and clang) and a call at -O0. Called, leafcheck is the
// origin; jumped to, tail1 is, and its statements are printed with
// leafcheck's, which decided the value: some of leafcheck's lines with
// key=8 (the failing return at -O0, where it has code of its own).
func TestFollowTailOrigin(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	const file = "/fixture/src/follow.c"
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "follow", v)
			r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "viatail", "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
			if r.status != 0 || !onlyNotes(withoutRerun(r.stderr)) {
				dumpOnFailure(t, r)
				t.Fatalf("exit status %d, stderr %q; want 0, re-run lines and notes", r.status, r.stderr)
			}
			_, origin, _ := followLines(t, r.stdout)
			jumped := v.Opt == "-O2"
			want := fmt.Sprintf("origin: tail1 (%s:%d) returned -22, passed up", file, m["viatail-call"])
			wantH := fmt.Sprintf("origin's statements: tail1 (with leafcheck, which it tail-jumps to), in the call tail1 (%s:%d), call 1 from that site:", file, m["viatail-call"])
			if !jumped {
				want = fmt.Sprintf("origin: leafcheck (%s:%d) returned -22, passed up", file, m["tail1-jump"])
				wantH = fmt.Sprintf("origin's statements: leafcheck, in the call leafcheck (%s:%d), call 1 from that site:", file, m["tail1-jump"])
			}
			heading, stmts := originSection(t, r.stdout)
			if origin != want || heading != wantH {
				t.Fatalf("origin %q, heading %q; want %q, %q", origin, heading, want, wantH)
			}
			inLeaf, failed := 0, false
			for _, s := range stmts {
				if s.line >= m["leafcheck-fail"]-4 && s.line <= m["leafcheck-ok"]+1 {
					inLeaf++
					if s.vars["key"] != "0x8" {
						t.Errorf("leafcheck's statement %q: want key=0x8", s.text)
					}
				}
				failed = failed || s.line == m["leafcheck-fail"]
			}
			if inLeaf == 0 || !jumped && !failed {
				t.Errorf("origin's statements %q: want leafcheck's (its failing return at -O0)", r.stdout)
			}
		})
	}
}
