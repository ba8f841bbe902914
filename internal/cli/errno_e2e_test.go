package cli_test

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// The errno fixture's four threads, created after the probes are attached,
// each fail open_config (and so libc's open) at once with their own errno;
// main then opens /dev/null, which works, and fails parse_port twice, with
// EINVAL and ERANGE.
var errnoThreads = []struct {
	path  string // as $path$ or $file$ prints it
	errno int
}{
	{`"/nonexistent/config"`, 2}, // ENOENT
	{`"/dev/null/config"`, 20},   // ENOTDIR
	{`"/"`, 21},                  // EISDIR
	// ENAMETOOLONG: a path of PATH_MAX+15 bytes, of which 64 are read.
	{`"/` + strings.Repeat("x", 63) + `"...`, 36},
}

// valueTrace is a committed invocation printed with a VARIABLE other than
// $$vars: one value per statement.
type valueTrace struct {
	header string
	tid    int
	ret    string
	lines  []int    // statement lines
	values []string // VARIABLE's value at each
}

// parseValueTraces splits stdout into traces whose statements print label
// ("errno()", "$path$") and the statistics block; any other line fails the
// test.
func parseValueTraces(t *testing.T, out, label string) ([]valueTrace, []string) {
	t.Helper()
	body, stats, ok := strings.Cut(out, "\nstatistics:\n")
	if !ok {
		t.Fatalf("no statistics block in output:\n%s", out)
	}
	stmt := regexp.MustCompile(`^(\S+)\[(\d+)\] (\S+):(\d+) ` + regexp.QuoteMeta(label) + `: (.*)$`)
	var traces []valueTrace
	for _, l := range strings.Split(body, "\n") {
		if l == "" {
			continue
		}
		if m := headerRE.FindStringSubmatch(l); m != nil {
			tid, _ := strconv.Atoi(m[2])
			traces = append(traces, valueTrace{header: l, tid: tid, ret: m[5]})
			continue
		}
		if strings.HasPrefix(l, "why: ") && len(traces) > 0 {
			continue // the verdict after each trace (verdict_e2e_test.go checks it)
		}
		m := stmt.FindStringSubmatch(l)
		if m == nil || len(traces) == 0 {
			t.Fatalf("unexpected output line %q in:\n%s", l, out)
		}
		tr := &traces[len(traces)-1]
		if tid, _ := strconv.Atoi(m[2]); tid != tr.tid {
			t.Errorf("statement line %q does not belong to trace %q", l, tr.header)
		}
		n, _ := strconv.Atoi(m[4])
		tr.lines = append(tr.lines, n)
		tr.values = append(tr.values, m[5])
	}
	return traces, strings.Split(strings.TrimSuffix(stats, "\n"), "\n")
}

// errnoTrace runs whythefail on the errno fixture b (its own binary, or
// TARGET when set) and checks that it succeeded with nothing on stderr but
// notes.
func errnoTrace(t *testing.T, b *fixture.Binary, target, fn, cond, variable string) result {
	t.Helper()
	if target == "" {
		target = fmt.Sprintf("process(%q)", b.Path)
	}
	r := traceRun(t, append(debugDir(b), target, fn, cond, variable, "-c", b.Path)...)
	if r.status != 0 || !onlyNotes(r.stderr) {
		if strings.Contains(r.stderr, "no debug info") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
		}
		t.Fatalf("%s %s %q %q: exit %d\nstderr:\n%s\nstdout:\n%s", target, fn, cond, variable, r.status, r.stderr, r.stdout)
	}
	if strings.Contains(r.stderr, "errno()") {
		t.Errorf("note about errno():\n%s", r.stderr)
	}
	return r
}

// TestErrnoLibcOpen traces glibc's open, the function a C program calls,
// with conditions and variables on errno(), in four threads created after
// the probes were attached: each must see its own errno.
func TestErrnoLibcOpen(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "errno", fixture.Default)
	libc := `process("/lib/x86_64-linux-gnu/libc.so.6")`

	r := errnoTrace(t, b, libc, "open", "$return == -1 && errno() == 2", "$file$")
	traces, stats := parseValueTraces(t, r.stdout, "$file$")
	checkStats(t, stats, 5, 1, 4)
	if len(traces) != 1 || traces[0].ret != "-1" {
		t.Fatalf("want one trace returning -1, got %+v", traces)
	}
	for _, v := range traces[0].values {
		if v != `"/nonexistent/config"` {
			t.Errorf("$file$ = %s in the ENOENT trace, want \"/nonexistent/config\"", v)
		}
	}

	r = errnoTrace(t, b, libc, "open", "$return == -1 && errno() == 13", "$file$")
	traces, stats = parseValueTraces(t, r.stdout, "$file$")
	checkStats(t, stats, 5, 0, 5)
	if len(traces) != 0 {
		t.Errorf("no open fails with EACCES, yet %d traces", len(traces))
	}

	for _, th := range errnoThreads {
		cond := fmt.Sprintf("$return == -1 && errno() == %d", th.errno)
		r = errnoTrace(t, b, libc, "open", cond, "$file$")
		traces, stats = parseValueTraces(t, r.stdout, "$file$")
		checkStats(t, stats, 5, 1, 4)
		if len(traces) != 1 || len(traces[0].values) == 0 || traces[0].values[0] != th.path {
			t.Errorf("%s: want the one trace of the thread opening %s, got %+v", cond, th.path, traces)
		}
	}

	r = errnoTrace(t, b, libc, "open", "$return == -1", "errno()")
	traces, stats = parseValueTraces(t, r.stdout, "errno()")
	checkStats(t, stats, 5, 4, 1)
	checkThreadErrnos(t, traces)
}

// checkThreadErrnos checks the traces of the four failing threads: errno
// is 0 when each starts (new threads begin with errno 0) and each thread's
// own errno when it returns.
func checkThreadErrnos(t *testing.T, traces []valueTrace) {
	t.Helper()
	var got, want []int
	tids := map[int]bool{}
	for _, tr := range traces {
		tids[tr.tid] = true
		if len(tr.values) < 2 || tr.values[0] != "0" {
			t.Errorf("trace %q: errno() at its statements %v, want 0 first", tr.header, tr.values)
			continue
		}
		e, err := strconv.Atoi(tr.values[len(tr.values)-1])
		if err != nil {
			t.Errorf("trace %q: errno() %v", tr.header, tr.values)
		}
		got = append(got, e)
	}
	for _, th := range errnoThreads {
		want = append(want, th.errno)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || len(tids) != len(want) {
		t.Errorf("errno() at the returns of %d threads: %v, want %v", len(tids), got, want)
	}
}

// TestErrnoProgram traces functions of the program itself, which reach
// errno through libc's TLS: open_config, whose errno comes from open, and
// parse_port, which sets errno itself.
func TestErrnoProgram(t *testing.T) {
	fixture.RequireBPF(t)
	for _, v := range []fixture.Variant{fixture.Default, {Compiler: "clang", Opt: "-O0", PIE: false}} {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "errno", v)
			r := errnoTrace(t, b, "", "open_config", "$return == -1", "errno()")
			traces, stats := parseValueTraces(t, r.stdout, "errno()")
			checkStats(t, stats, 5, 4, 1)
			checkThreadErrnos(t, traces)

			r = errnoTrace(t, b, "", "open_config", "$return == -1 && errno() == ENOTDIR", "$path$")
			traces, stats = parseValueTraces(t, r.stdout, "$path$")
			checkStats(t, stats, 5, 1, 4)
			if len(traces) != 1 || len(traces[0].values) == 0 || traces[0].values[0] != `"/dev/null/config"` {
				t.Errorf("want the one trace of the thread opening /dev/null/config, got %+v", traces)
			}

			r = errnoTrace(t, b, "", "parse_port", "$return == -1 && errno() == ERANGE", "errno()")
			traces, stats = parseValueTraces(t, r.stdout, "errno()")
			checkStats(t, stats, 3, 1, 2)
			lines := fixture.Markers(t, b.Source)
			if len(traces) != 1 {
				t.Fatalf("want the one ERANGE trace, got %+v", traces)
			}
			// errno is read at each statement, before it runs: 0 (set
			// at the top) at the line that stores ERANGE, 34 after it.
			tr := traces[0]
			set, ret := slices.Index(tr.lines, lines["port-range"]), slices.Index(tr.lines, lines["port-range-return"])
			if tr.ret != "-1" || set < 0 || tr.values[set] != "0" || (ret >= 0 && tr.values[ret] != "34") || tr.values[len(tr.values)-1] != "34" {
				t.Errorf("trace %q: errno() %v at lines %v; want 0 at line %d (@port-range), 34 after it and at the end",
					tr.header, tr.values, tr.lines, lines["port-range"])
			}
		})
	}
}

// TestErrnoStatic traces a statically linked program, whose errno is in
// its own TLS block at an offset fixed at link time.
func TestErrnoStatic(t *testing.T) {
	fixture.RequireBPF(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "errno-static")
	fixture.Run(t, "gcc", "-g", "-O2", "-static", "-pthread", "-o", bin, fixture.Source("errno"))
	b := &fixture.Binary{Path: bin, Dir: dir, Source: fixture.Source("errno")}
	r := errnoTrace(t, b, "", "open_config", "$return == -1 && errno() == EISDIR", "$path$")
	traces, stats := parseValueTraces(t, r.stdout, "$path$")
	checkStats(t, stats, 5, 1, 4)
	if len(traces) != 1 || len(traces[0].values) == 0 || traces[0].values[0] != `"/"` {
		t.Errorf("want the one trace of the thread opening /, got %+v", traces)
	}
	r = errnoTrace(t, b, "", "open_config", "$return == -1", "errno()")
	traces, stats = parseValueTraces(t, r.stdout, "errno()")
	checkStats(t, stats, 5, 4, 1)
	checkThreadErrnos(t, traces)
}

// TestErrnoUnavailable traces a function of a shared library other than
// libc, where errno() cannot be found: one note says why, the VARIABLE
// prints ? and a condition on errno() is false.
func TestErrnoUnavailable(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "lib", fixture.Default)
	target := fmt.Sprintf("process(%q)", b.Path)
	main := filepath.Join(b.Dir, "libmain")
	want := fmt.Sprintf("whythefail: note: errno() prints as ? and conditions on it are false: %s is a shared library other than libc, and errno is found only from libc or the program itself (trace a function of the program, or of libc)\n", b.Path)

	r := traceRun(t, append(debugDir(b), target, "wtf_open", "$return == -13", "errno()", "-c", main+" >/dev/null")...)
	if r.status != 0 || strings.Count(r.stderr, "errno()") != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr:\n%s\nwant the note:\n%s", r.status, r.stderr, want)
	}
	traces, stats := parseValueTraces(t, r.stdout, "errno()")
	checkStats(t, stats, 50, 10, 40)
	for _, tr := range traces {
		for _, v := range tr.values {
			if v != "?" {
				t.Errorf("trace %q prints errno() = %s, want ?", tr.header, v)
			}
		}
	}

	r = traceRun(t, append(debugDir(b), target, "wtf_open", "$return == -13 || errno() == 0", "-c", main+" >/dev/null")...)
	if r.status != 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr:\n%s", r.status, r.stderr)
	}
	if !strings.Contains(r.stdout, "\nstatistics:\nentry count: 50\nexit-hit count: 0\nexit-miss count: 50\n") {
		t.Errorf("a condition with an unavailable errno() held:\n%s", r.stdout)
	}
}

// TestErrnoOtherLibc runs the program with a libc that is not the one
// whythefail read (the system's, its build-id changed by one byte): the
// programs must refuse it, print ? rather than read a GOT slot of another
// layout, and say afterwards in how many invocations that happened.
func TestErrnoOtherLibc(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "errno", fixture.Default)
	dir := t.TempDir()
	raw, err := os.ReadFile("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	note := ef.Section(".note.gnu.build-id")
	if note == nil {
		t.Fatal("libc has no build-id note")
	}
	raw[note.Offset+note.Size-1] ^= 0xff // the build-id's last byte
	if err := os.WriteFile(filepath.Join(dir, "libc.so.6"), raw, 0o755); err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("process(%q)", b.Path)
	r := traceRun(t, target, "open_config", "$return == -1", "errno()", "-c", "LD_LIBRARY_PATH="+dir+" "+b.Path)
	if r.status != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.status, r.stderr)
	}
	want := "whythefail: note: errno() was not found in 5 invocation(s), where it printed ? and conditions on it were false: the process had not loaded /usr/lib/x86_64-linux-gnu/libc.so.6 (build-id "
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr:\n%s\nwant a note starting %q", r.stderr, want)
	}
	traces, stats := parseValueTraces(t, r.stdout, "errno()")
	checkStats(t, stats, 5, 4, 1)
	if len(traces) != 4 {
		t.Errorf("%d traces, want 4", len(traces))
	}
	for _, tr := range traces {
		for _, v := range tr.values {
			if v != "?" {
				t.Errorf("trace %q prints errno() = %s with another libc, want ?", tr.header, v)
			}
		}
	}
}
