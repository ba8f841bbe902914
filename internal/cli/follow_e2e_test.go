package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// followLines returns the "call:" and "origin:" lines of --follow's text
// output, checking that they come after the trace's statements and before
// its why: line, and the output without them (for parseOutput).
func followLines(t *testing.T, out string) (calls []string, origin string, rest string) {
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
		case strings.HasPrefix(l, "call: "):
			if sawWhy || origin != "" {
				t.Errorf("call line %q after the origin or why: line", l)
			}
			calls = append(calls, l)
			continue
		case strings.HasPrefix(l, "origin: "):
			if sawWhy || origin != "" {
				t.Errorf("origin line %q after the why: line or a second one", l)
			}
			origin = l
			continue
		case strings.HasPrefix(l, "why: "):
			sawWhy = true
		}
		keep = append(keep, l)
	}
	return calls, origin, strings.Join(keep, "\n")
}

// TestFollow traces each function of the follow fixture with --follow, in
// both compilers at -O0 and -O2, and checks the complete list of calls
// with their values and the origin line: a failure passed up unchanged,
// -ENOENT translated into -EINVAL (at the return line), a callee failing
// on the last of five calls in a loop, a failure the caller recovered from
// (never blamed: the function failed by itself), and a call through a
// function pointer named from the address recorded at the call.
func TestFollow(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("follow")
	m := fixture.Markers(t, src)
	const file = "/fixture/src/follow.c"
	at := func(marker string) string { return fmt.Sprintf("(%s:%d)", file, m[marker]) }
	cases := []struct {
		fn, ret string
		calls   []string
		origin  string
	}{
		{"passup", "-2", []string{"lookup " + at("passup-call") + " returned -2"},
			"lookup " + at("passup-call") + " returned -2, passed up"},
		{"translate", "-22", []string{"lookup " + at("translate-call") + " returned -2"},
			"lookup " + at("translate-call") + " returned -2, translated at TRANSLATE"},
		{"each", "-22", []string{
			"check " + at("each-call") + " returned 0", "check " + at("each-call") + " returned 0",
			"check " + at("each-call") + " returned 0", "check " + at("each-call") + " returned 0",
			"check " + at("each-call") + " returned -22"},
			"check " + at("each-call") + " returned -22, passed up"},
		{"recover", "-1", []string{"lookup " + at("recover-first") + " returned -2", "lookup " + at("recover-second") + " returned 8"},
			"recover itself (no call returned -1)"},
		{"viaptr", "-22", []string{"check " + at("viaptr-call") + " returned -22"},
			"check " + at("viaptr-call") + " returned -22, passed up"},
	}
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
			for _, c := range cases {
				c.origin = strings.Replace(c.origin, "TRANSLATE", translated, 1)
				r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), c.fn, "$return < 0", "--follow", "-c", b.Path+" >/dev/null")
				if r.status != 0 || !onlyNotes(withoutRerun(r.stderr)) {
					dumpOnFailure(t, r)
					t.Fatalf("%s: exit status %d, stderr %q; want 0 and notes at most", c.fn, r.status, r.stderr)
				}
				calls, origin, rest := followLines(t, r.stdout)
				traces, _ := parseOutput(t, rest)
				if len(traces) != 1 || traces[0].ret != c.ret {
					t.Errorf("%s: %d traces, want 1 returning %s:\n%s", c.fn, len(traces), c.ret, r.stdout)
					continue
				}
				var want []string
				for _, l := range c.calls {
					want = append(want, "call: "+l)
				}
				if strings.Join(calls, "\n") != strings.Join(want, "\n") || origin != "origin: "+c.origin {
					t.Errorf("%s:\ngot\n%s\n%s\nwant\n%s\norigin: %s", c.fn, strings.Join(calls, "\n"), origin, strings.Join(want, "\n"), c.origin)
				}
			}
		})
	}
}

// TestFollowJSON: --json carries the calls and the origin, with the
// translation's line.
func TestFollowJSON(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("follow")
	m := fixture.Markers(t, src)
	b := fixture.Build(t, "follow", fixture.Default)
	r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "translate", "$return < 0", "--follow", "--json", "-c", b.Path+" >/dev/null")
	defer dumpOnFailure(t, r)
	if r.status != 0 {
		t.Fatalf("exit status %d", r.status)
	}
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
	var got []struct {
		Calls  []call  `json:"calls"`
		Origin *origin `json:"origin"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var tr struct {
			Type   string  `json:"type"`
			Calls  []call  `json:"calls"`
			Origin *origin `json:"origin"`
		}
		if err := dec.Decode(&tr); err != nil {
			t.Fatal(err)
		}
		if tr.Type == "trace" {
			got = append(got, struct {
				Calls  []call  `json:"calls"`
				Origin *origin `json:"origin"`
			}{tr.Calls, tr.Origin})
		}
	}
	const file = "/fixture/src/follow.c"
	wantCall := call{Callee: "lookup", File: file, Line: m["translate-call"], Returned: true, Value: -2}
	wantOrigin := origin{Call: 0, Callee: "lookup", Translated: true, File: file, Line: m["translate-ret"]}
	if len(got) != 1 || len(got[0].Calls) != 1 || got[0].Calls[0] != wantCall || got[0].Origin == nil || *got[0].Origin != wantOrigin {
		t.Fatalf("traces %+v, want one with calls [%+v] and origin %+v", got, wantCall, wantOrigin)
	}
}

// TestFollowGlibc traces glibc's fopen, which the follow fixture calls
// with the mode "qz" that it rejects: fopen tail-jumps to __fopen_internal, whose calls are followed,
// and the origin is the call of _IO_file_fopen (by whichever of its
// aliases the symbol table names first) returning NULL; the void calls
// after it (_IO_un_link, free) are shown without a value and never blamed.
func TestFollowGlibc(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "follow", fixture.Default)
	r := traceRun(t, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "fopen", "$return == 0", "--follow", "-c", b.Path+" >/dev/null")
	defer dumpOnFailure(t, r)
	if r.status != 0 {
		if strings.Contains(r.stderr, "debug") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
		}
		t.Fatalf("exit status %d", r.status)
	}
	calls, origin, _ := followLines(t, r.stdout)
	var named bool
	for _, name := range []string{"_IO_new_file_fopen", "_IO_file_fopen"} {
		if origin == "origin: "+name+" (in __fopen_internal) returned 0x0, passed up" {
			named = true
		}
	}
	if !named {
		t.Errorf("origin line %q, want _IO_new_file_fopen (or _IO_file_fopen) (in __fopen_internal) returned 0x0, passed up", origin)
	}
	var freed bool
	for _, c := range calls {
		if c == "call: free@plt (in __fopen_internal) returned (value not used)" {
			freed = true
		}
	}
	if !freed {
		t.Errorf("calls %q: want free@plt's call, its value not used", calls)
	}
}

// TestFollowDepth: only depth 1 is supported yet; other depths are one
// line and exit status 1.
func TestFollowDepth(t *testing.T) {
	for _, arg := range []string{"--follow=2", "--follow=x"} {
		r := runCLI("/bin/true", "main", "$return < 0", arg)
		if r.status != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--follow=") || r.stdout != "" {
			t.Errorf("%s: status %d, stdout %q, stderr %q; want 1 and one line", arg, r.status, r.stdout, r.stderr)
		}
	}
}
