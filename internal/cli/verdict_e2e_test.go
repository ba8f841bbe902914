package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// verdictVariants are the builds the verdict is checked on: both
// compilers, both optimisation levels.
var verdictVariants = []fixture.Variant{
	{Compiler: "gcc", Opt: "-O0", PIE: true},
	{Compiler: "gcc", Opt: "-O2", PIE: true},
	{Compiler: "clang", Opt: "-O0", PIE: true},
	{Compiler: "clang", Opt: "-O2", PIE: true},
}

// lineOf returns the number of the line of src whose text, without its
// indentation, is text; the test fails unless there is exactly one.
func lineOf(t *testing.T, src, text string) int {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == text {
			if n != 0 {
				t.Fatalf("%s: %q on lines %d and %d", src, text, n, i+1)
			}
			n = i + 1
		}
	}
	if n == 0 {
		t.Fatalf("%s: no line %q", src, text)
	}
	return n
}

// verdictOf traces fn in b until the condition holds once and returns the
// trace's verdict line.
func verdictOf(t *testing.T, b *fixture.Binary, fn, cond string, extra ...string) string {
	t.Helper()
	args := append([]string{"--source-path", "/fixture/src=" + fixture.SourceDir()}, extra...)
	args = append(args, fmt.Sprintf("process(%q)", b.Path), fn, cond, "-c", fmt.Sprintf("%q 20 >/dev/null", b.Path))
	r := traceRun(t, args...)
	defer dumpOnFailure(t, r)
	if r.status != 0 || !onlyNotes(r.stderr) {
		t.Fatalf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
	}
	traces, _ := parseOutput(t, r.stdout)
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	if traces[0].why == "" {
		t.Fatalf("no why: line after the trace:\n%s", r.stdout)
	}
	return traces[0].why
}

// TestVerdictDemo: the demo's failing call is answered by line 63's check
// and the value it compared, in every build, including -O2 where DWARF
// gives workers no location at that line.
func TestVerdictDemo(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("demo")
	check := lineOf(t, src, "if (workers > 8)")
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			why := verdictOf(t, b, "load_config", "$return == -22")
			prefix := "why: load_config returned -22 (EINVAL) at /fixture/src/demo.c:"
			suffix := fmt.Sprintf(` because /fixture/src/demo.c:%d "if (workers > 8)" was true with workers=16`, check)
			if !strings.HasPrefix(why, prefix) || !strings.HasSuffix(why, suffix) {
				t.Errorf("verdict %q, want %q...%q", why, prefix, suffix)
			}
		})
	}
}

// TestVerdictWithoutSource: without the source text the verdict still
// gives file:line and the values DWARF names.
func TestVerdictWithoutSource(t *testing.T) {
	fixture.RequireBPF(t)
	check := lineOf(t, fixture.Source("demo"), "if (workers > 8)")
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -22", "-c", fmt.Sprintf("%q 20 >/dev/null", b.Path))
	defer dumpOnFailure(t, r)
	traces, _ := parseOutput(t, r.stdout)
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	want := fmt.Sprintf(`why: load_config returned -22 (EINVAL) at /fixture/src/demo.c:%d because /fixture/src/demo.c:%d did not jump (jle: workers > 8) with workers=16`,
		fixture.Line(t, fixture.Source("demo"), "fail-flags"), check)
	if traces[0].why != want {
		t.Errorf("verdict\n%s\nwant\n%s", traces[0].why, want)
	}
}

// TestVerdictShapes: one function per shape of deciding branch.
func TestVerdictShapes(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("branches")
	at := func(text string) string {
		return fmt.Sprintf("/fixture/src/branches.c:%d %q", lineOf(t, src, text), text)
	}
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "branches", v)
			branchless := func(why string) bool { return strings.Contains(why, " decided without a jump (cmov") }

			// if (a && b): the second operand decided, unless the
			// compiler evaluated both without a jump (clang -O2).
			why := verdictOf(t, b, "both", "$return < 0")
			want := "because " + at("if (a > 1 && b > 2)")
			switch {
			case !strings.HasPrefix(why, "why: both returned -22 (EINVAL) at ") || !strings.Contains(why, want):
				t.Errorf("both: verdict %q, want the && line (%s)", why, want)
			case branchless(why):
				if !strings.HasSuffix(why, "with a=5") && !strings.HasSuffix(why, "with b=7") {
					t.Errorf("both: verdict %q names neither a=5 nor b=7", why)
				}
			case !strings.HasSuffix(why, want+": b > 2 was true with b=7"):
				t.Errorf("both: verdict %q, want %q", why, want+": b > 2 was true with b=7")
			}

			// A switch whose default fails: the switch's line.
			why = verdictOf(t, b, "pick", "$return < 0")
			if want := "because " + at("switch (kind) {"); !strings.HasPrefix(why, "why: pick returned -25 (ENOTTY) at ") || !strings.Contains(why, want) {
				t.Errorf("pick: verdict %q, want the switch (%s)", why, want)
			}
			// The value the range check compared: kind (9), or kind-1
			// where the compiler subtracted the first case; clang -O0
			// subtracts in a register its jump table's dispatch also
			// reaches, so that value is not named.
			if want := map[string]string{"gcc-O0": "with kind=9", "gcc-O2": "with (kind-1)=8", "clang-O0": "with %eax=5", "clang-O2": "with (kind-1)=8"}[v.Compiler+v.Opt]; !strings.HasSuffix(why, want) {
				t.Errorf("pick: verdict %q, want it to end %q", why, want)
			}

			// The loop's exit: its condition, false, where DWARF names
			// i and n (-O0).
			why = verdictOf(t, b, "find", "$return < 0")
			want = "because " + at("for (i = 0; i < n; i++) {")
			ret := "why: find returned -2 (ENOENT) at " + at("return -ENOENT;")
			if v.Opt == "-O2" {
				ret = "why: find returned -2 (ENOENT) at " // clang: the closing brace
			}
			if !strings.HasPrefix(why, ret) || !strings.Contains(why, want) {
				t.Errorf("find: verdict %q, want the return and the loop (%s)", why, want)
			}
			if v.Opt == "-O0" && !strings.HasSuffix(why, want+" was false with i=4, n=4") {
				t.Errorf("find: verdict %q, want %q", why, want+" was false with i=4, n=4")
			}

			// goto out: the branch before the jump decided.
			why = verdictOf(t, b, "setup", "$return < 0")
			if want := "because " + at("if (size > 4096) {") + " was true with size=8192"; !strings.HasPrefix(why, "why: setup returned -7 (E2BIG) at ") || !strings.HasSuffix(why, want) {
				t.Errorf("setup: verdict %q, want %q", why, want)
			}

			// A condition computed earlier: if (bad), or where the
			// compiler tests x itself, the line that computes bad.
			why = verdictOf(t, b, "late", "$return < 0")
			okLine := strings.Contains(why, "because "+at("if (bad)")) || strings.Contains(why, "because "+at("int bad = x > 3;"))
			okVal := strings.HasSuffix(why, " with bad=1") || strings.HasSuffix(why, " with x=5")
			if !strings.HasPrefix(why, "why: late returned -34 (ERANGE) at ") || !okLine || !okVal {
				t.Errorf("late: verdict %q, want if (bad) or bad's assignment, with bad=1 or x=5", why)
			}
			if v.Opt == "-O0" && !strings.HasSuffix(why, "because "+at("if (bad)")+" was true with bad=1") {
				t.Errorf("late: verdict %q, want if (bad) was true with bad=1 at -O0", why)
			}
		})
	}
}

// TestVerdictNonDeciding: the last branch before opendev's error return
// (if (mode & 1)) returns -ENODEV on both sides, so it decided nothing;
// the why: line names the check before it, which did, in every build.
// closedev's only branch decided nothing either: the line names none.
func TestVerdictNonDeciding(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("branches")
	at := func(text string) string {
		return fmt.Sprintf("/fixture/src/branches.c:%d %q", lineOf(t, src, text), text)
	}
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "branches", v)
			why := verdictOf(t, b, "opendev", "$return < 0")
			ret := at("return -ENODEV;")
			if v.Compiler == "clang" && v.Opt == "-O2" {
				// The constant is loaded on line 104's row; the return
				// line has no code, the ret the closing brace's.
				ret = fmt.Sprintf("/fixture/src/branches.c:%d \"}\"", lineOf(t, src, "return -ENODEV;")+1)
			}
			want := "why: opendev returned -19 (ENODEV) at " + ret + " because " + at("if (id > 9)") + " was true with id=12"
			if why != want {
				t.Errorf("verdict\n%s\nwant\n%s", why, want)
			}

			// closedev's one branch returns error both ways: none decided.
			why = verdictOf(t, b, "closedev", "$return < 0")
			want = "why: closedev returned -9 (EBADF) at " + at("return error;") + ", and no conditional branch that could change the return value ran before it"
			if why != want {
				t.Errorf("verdict\n%s\nwant\n%s", why, want)
			}
		})
	}
}

// TestVerdictGlibc: getaddrinfo with bad flags is answered by the check of
// hints->ai_flags and the flags the program passed, named through the
// pointer in a register DWARF does not place hints in.
func TestVerdictGlibc(t *testing.T) {
	fixture.RequireBPF(t)
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		fixture.Missing(t, "no %s: %v", libc, err)
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "gai")
	if err := os.WriteFile(prog+".c", []byte(gaiProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-O1", "-o", prog, prog+".c").CombinedOutput(); err != nil {
		t.Fatalf("compiling: %v: %s", err, out)
	}
	r := traceRun(t, fmt.Sprintf("process(%q)", libc), "getaddrinfo", "$return == -1", "-c", prog)
	defer dumpOnFailure(t, r)
	if r.status != 0 {
		if strings.Contains(r.stderr, "no debug info") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
		}
		t.Fatalf("exit %d: %s", r.status, r.stderr)
	}
	traces, _ := parseOutput(t, r.stdout)
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	why := traces[0].why
	// gaiProgram passes ai_flags 0x7fff.
	if !strings.HasPrefix(why, "why: getaddrinfo returned -1 at ../sysdeps/posix/getaddrinfo.c:") ||
		!strings.Contains(why, "hints->ai_flags") || !strings.HasSuffix(why, "with hints->ai_flags=32767") {
		t.Errorf("verdict %q: want the hints->ai_flags check with hints->ai_flags=32767", why)
	}
}

// TestVerdictJSONAndOff: --json carries the verdict as fields;
// --no-verdict leaves it out (and its probes: fewer are attached).
func TestVerdictJSONAndOff(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2", PIE: true})
	src := fixture.Source("demo")
	check := lineOf(t, src, "if (workers > 8)")
	target := fmt.Sprintf("process(%q)", b.Path)
	cmd := fmt.Sprintf("%q 20 >/dev/null", b.Path)
	r := traceRun(t, "--json", "--source-path", "/fixture/src="+fixture.SourceDir(), target, "load_config", "$return == -22", "-c", cmd)
	defer dumpOnFailure(t, r)
	first, _, _ := strings.Cut(r.stdout, "\n")
	var tr struct {
		Type string `json:"type"`
		Why  *struct {
			Text       string `json:"text"`
			Return     int64  `json:"return"`
			Errno      string `json:"errno"`
			BranchFile string `json:"branch_file"`
			BranchLine int    `json:"branch_line"`
			BranchText string `json:"branch_source"`
			Outcome    *bool  `json:"outcome"`
			Values     []struct {
				Name  string `json:"name"`
				Value int64  `json:"value"`
			} `json:"values"`
		} `json:"why"`
	}
	if err := json.Unmarshal([]byte(first), &tr); err != nil || tr.Type != "trace" || tr.Why == nil {
		t.Fatalf("first JSON line %q: %v; want a trace with a why object", first, err)
	}
	w := tr.Why
	if w.Return != -22 || w.Errno != "EINVAL" || w.BranchFile != "/fixture/src/demo.c" || w.BranchLine != check ||
		w.BranchText != "if (workers > 8)" || w.Outcome == nil || !*w.Outcome || len(w.Values) != 1 || w.Values[0].Name != "workers" || w.Values[0].Value != 16 ||
		!strings.HasPrefix(w.Text, "why: load_config returned -22") {
		t.Errorf("why %+v", *w)
	}
	with := attachedProbes(t, r.stderr)

	r = traceRun(t, "--no-verdict", target, "load_config", "$return == -22", "-c", cmd)
	traces, _ := parseOutput(t, r.stdout)
	if len(traces) != 1 || traces[0].why != "" || strings.Contains(r.stdout, "\nwhy: ") {
		t.Errorf("--no-verdict still prints a verdict:\n%s", r.stdout)
	}
	if without := attachedProbes(t, r.stderr); without >= with {
		t.Errorf("--no-verdict attached %d probes, with the verdict %d: want fewer", without, with)
	}
}

// attachedProbes reads the number from "whythefail: N probes attached".
func attachedProbes(t *testing.T, stderr string) int {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "whythefail: %d probes attached", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no probes attached line in %q", stderr)
	return 0
}

// TestSharedRowsSource: where line-table rows share an address (at -O2 the
// probe stap names demo.c:61 sits on the cmp of line 63), --source shows
// every row's text under the statement, so line 63's check is always
// printed; --annotate counts it as executed.
func TestSharedRowsSource(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("demo")
	check := lineOf(t, src, "if (workers > 8)")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Split(string(data), "\n")[check-1]
	for _, v := range verdictVariants {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			r := traceRun(t, "--source", "--annotate", "--source-path", "/fixture/src="+fixture.SourceDir(), fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -22", "-c", fmt.Sprintf("%q 20 >/dev/null", b.Path))
			defer dumpOnFailure(t, r)
			if want := fmt.Sprintf("\n%8d | %s\n", check, text); !strings.Contains(r.stdout, want) {
				t.Errorf("no source line %q under a statement", want)
			}
			if want := fmt.Sprintf("  1x  %6d  %s\n", check, text); !strings.Contains(r.stdout, want) {
				t.Errorf("the annotated listing does not count line %d as executed once (%q)", check, want)
			}
		})
	}
}
