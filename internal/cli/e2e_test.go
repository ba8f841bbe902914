package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/cli"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/tracer"
)

// TestMain lets the test binary serve as the -c command's gate: whythefail
// re-executes os.Executable(), which in a test is this binary.
// The build-id cache is a fresh directory for the run, so that the tests
// fill it and then read from it, and never read or write the user's.
func TestMain(m *testing.M) {
	tracer.MaybeGate()
	os.Exit(fixture.WithPrivateCache(m.Run))
}

// result is one in-process run of whythefail.
type result struct {
	stdout, stderr string
	status         int
}

func runCLI(args ...string) result {
	var stdout, stderr bytes.Buffer
	status := cli.Main(&stdout, &stderr, args)
	return result{stdout.String(), stderr.String(), status}
}

// traceRun runs a tracing command line and checks that every BPF object it
// created is gone afterwards. It counts this process's file descriptors
// rather than reading `bpftool link list`: a link or perf event lives exactly
// as long as a descriptor for it, and other processes' probes (parallel test
// packages) show up in bpftool's system-wide list too.
func traceRun(t *testing.T, args ...string) result {
	t.Helper()
	before := bpfFDs(t)
	r := runCLI(args...)
	after := bpfFDs(t)
	for kind, n := range after {
		if n > before[kind] {
			t.Errorf("%d more %s file descriptors open after the run than before (%d): probes or BPF objects leaked", n-before[kind], kind, before[kind])
		}
	}
	return r
}

// onlyNotes reports whether stderr holds nothing but whythefail's notes
// (variables that print ? at some statement, and why), the line saying
// where the probes were attached and the one saying that detaching them
// takes a while (on a loaded machine).
func onlyNotes(stderr string) bool {
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "whythefail: note: ") && !attachedRE.MatchString(l) && !detachingRE.MatchString(l) {
			return false
		}
	}
	return true
}

// attachedRE matches the line whythefail prints once its probes are
// attached, detachingRE the one it prints when detaching takes over a second.
var (
	attachedRE  = regexp.MustCompile(`^whythefail: \d+ probes attached to \S+ \(\S+\)$`)
	detachingRE = regexp.MustCompile(`^whythefail: detaching \d+ (single uprobes, one kernel wait each|probes \(taking over a second\))\.\.\.$`)
)

// bpfFDs counts this process's open descriptors of BPF links, programs, maps
// and perf events (uprobes attached with perf_event_open) by kind.
func bpfFDs(t *testing.T) map[string]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing open files: %v", err)
	}
	n := map[string]int{}
	for _, e := range ents {
		dst, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed meanwhile, e.g. ReadDir's own descriptor
		}
		switch dst {
		case "anon_inode:bpf_link", "anon_inode:[perf_event]", "anon_inode:bpf-prog", "anon_inode:bpf-map", "anon_inode:[perf_event]:uprobe":
			n[dst]++
		}
	}
	return n
}

// stmtLine is one statement line of a trace.
type stmtLine struct {
	comm string
	tid  int
	file string
	line int
	vars map[string]string
	text string
}

// parsedTrace is one committed invocation as printed.
type parsedTrace struct {
	comm, target, function, ret string
	tid                         int
	header                      string
	stmts                       []stmtLine
	// why is the verdict line after the statements ("" with --no-verdict).
	why string
}

var (
	headerRE = regexp.MustCompile(`^(\S+)\[(\d+)\] (process\(.*\)) function\((\S+)\) \$return: (\S+)$`)
	stmtRE   = regexp.MustCompile(`^(\S+)\[(\d+)\] (\S+):(\d+) \$\$vars:(.*)$`)
)

// parseOutput splits whythefail's stdout into traces and statistics. It
// fails the test on any line it does not recognize.
func parseOutput(t *testing.T, out string) ([]parsedTrace, []string) {
	t.Helper()
	body, stats, ok := strings.Cut(out, "\nstatistics:\n")
	if !ok {
		t.Fatalf("no statistics block in output:\n%s", out)
	}
	var traces []parsedTrace
	lines := strings.Split(body, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		if m := headerRE.FindStringSubmatch(l); m != nil {
			if i == 0 || lines[i-1] != "" {
				t.Errorf("trace header %q is not preceded by a blank line", l)
			}
			tid, _ := strconv.Atoi(m[2])
			traces = append(traces, parsedTrace{comm: m[1], tid: tid, target: m[3], function: m[4], ret: m[5], header: l})
			continue
		}
		if strings.HasPrefix(l, "why: ") && len(traces) > 0 && traces[len(traces)-1].why == "" {
			traces[len(traces)-1].why = l
			continue
		}
		m := stmtRE.FindStringSubmatch(l)
		if m == nil || len(traces) == 0 || traces[len(traces)-1].why != "" {
			t.Fatalf("unexpected output line %q in:\n%s", l, out)
		}
		tid, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[4])
		s := stmtLine{comm: m[1], tid: tid, file: m[3], line: n, vars: map[string]string{}, text: l}
		for _, kv := range strings.Fields(m[5]) {
			k, v, _ := strings.Cut(kv, "=")
			s.vars[k] = v
		}
		tr := &traces[len(traces)-1]
		if s.comm != tr.comm || s.tid != tr.tid {
			t.Errorf("statement line %q does not belong to trace %q", l, tr.header)
		}
		tr.stmts = append(tr.stmts, s)
	}
	return traces, strings.Split(strings.TrimSuffix(stats, "\n"), "\n")
}

// wantStats is the exact statistics block for counts with nothing lost.
func wantStats(entries, hit, miss, stmts int) []string {
	return []string{
		fmt.Sprintf("entry count: %d", entries),
		fmt.Sprintf("exit-hit count: %d", hit),
		fmt.Sprintf("exit-miss count: %d", miss),
		fmt.Sprintf("statement count: %d", stmts),
	}
}

// statementCount extracts the statement count from a statistics block.
func statementCount(t *testing.T, stats []string) int {
	t.Helper()
	for _, l := range stats {
		if s, ok := strings.CutPrefix(l, "statement count: "); ok {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("bad statement count line %q", l)
			}
			return n
		}
	}
	t.Fatalf("no statement count in %q", stats)
	return 0
}

func checkStats(t *testing.T, got []string, entries, hit, miss int) int {
	t.Helper()
	n := statementCount(t, got)
	if want := wantStats(entries, hit, miss, n); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("statistics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n <= 0 {
		t.Errorf("statement count %d, want > 0", n)
	}
	return n
}

var listStmtRE = regexp.MustCompile(`\.statement\("[^@"]*@([^"]*):(\d+)"\)`)

// listedLines returns FILE:LINE -> line for every statement probe point
// `whythefail -L 'process("BIN").statement("FN@*:*")'` lists, and the
// largest line number.
func listedLines(t *testing.T, b *fixture.Binary, bin, fn string) (map[string]int, int) {
	t.Helper()
	r := runCLI(append(debugDir(b), "-L", fmt.Sprintf(`process(%q).statement("%s@*:*")`, bin, fn))...)
	if r.status != 0 || r.stderr != "" {
		t.Fatalf("-L exited %d: %s", r.status, r.stderr)
	}
	lines := map[string]int{}
	last := 0
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		m := listStmtRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unexpected -L line %q", l)
		}
		n, _ := strconv.Atoi(m[2])
		lines[m[1]+":"+m[2]] = n
		last = max(last, n)
	}
	if len(lines) == 0 {
		t.Fatalf("-L listed no statements of %s in %s", fn, bin)
	}
	return lines, last
}

// debugDir returns the flags that point whythefail at a split-debug
// fixture's DWARF.
func debugDir(b *fixture.Binary) []string {
	if b.DebugDir == "" {
		return nil
	}
	return []string{"--debug-dir", b.DebugDir}
}

func dumpOnFailure(t *testing.T, r result) {
	t.Helper()
	if t.Failed() {
		t.Logf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.stdout, r.stderr)
	}
}

// printedLines returns the line numbers a trace printed, in order.
func printedLines(tr parsedTrace) []int {
	var ns []int
	for _, s := range tr.stmts {
		ns = append(ns, s.line)
	}
	return ns
}

func hasLine(tr parsedTrace, n int) bool {
	for _, s := range tr.stmts {
		if s.line == n {
			return true
		}
	}
	return false
}

// reachLine returns the line a trace must contain to show that it reached
// marker: the marker's own line, or when the compiler left no statement
// probe on it (an optimized `return -E...` folded into a shared exit), the
// nearest listed line above it.
func reachLine(t *testing.T, listed map[string]int, file string, marker int) int {
	t.Helper()
	for n := marker; n > 0; n-- {
		if _, ok := listed[fmt.Sprintf("%s:%d", file, n)]; ok {
			if n != marker {
				t.Logf("marker line %d has no statement probe in this build; checking line %d instead", marker, n)
			}
			return n
		}
	}
	t.Fatalf("no listed line at or above %s:%d", file, marker)
	return 0
}

// checkNotReached checks that the trace has none of the lines of other
// exits, except as its last line: optimizers attribute a shared epilogue to
// one of the return statements.
func checkNotReached(t *testing.T, tr parsedTrace, marks map[string]int, others ...string) {
	t.Helper()
	for _, other := range others {
		for i, s := range tr.stmts {
			if s.line == marks[other] && i != len(tr.stmts)-1 {
				t.Errorf("line %d (@%s) is in the trace, before its end: lines %v", marks[other], other, printedLines(tr))
			}
		}
	}
}

// checkKnownLines checks that every statement line of every trace is one the
// -L listing offers.
func checkKnownLines(t *testing.T, traces []parsedTrace, listed map[string]int) {
	t.Helper()
	for _, tr := range traces {
		for _, s := range tr.stmts {
			if _, ok := listed[s.file+":"+strconv.Itoa(s.line)]; !ok {
				t.Errorf("trace line %q names %s:%d, which -L does not list", s.text, s.file, s.line)
			}
		}
	}
}

// TestTraceDemo is the article's workflow on demo.c: the one failing
// load_config call out of 200 is printed with the path it took.
func TestTraceDemo(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("demo")
	marks := fixture.Markers(t, src)
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			listed, last := listedLines(t, b, b.Path, "load_config")
			target := fmt.Sprintf("process(%q)", b.Path)
			r := traceRun(t, append(debugDir(b), target, "load_config", "$return == -22", "-c", b.Path+" 200")...)
			defer dumpOnFailure(t, r)
			if r.status != 0 || !onlyNotes(r.stderr) {
				t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
			}
			traces, stats := parseOutput(t, r.stdout)
			n := checkStats(t, stats, 200, 1, 199)
			if len(traces) != 1 {
				t.Fatalf("%d traces, want 1", len(traces))
			}
			tr := traces[0]
			if want := fmt.Sprintf("demo[%d] %s function(load_config) $return: -22", tr.tid, target); tr.header != want {
				t.Errorf("header %q, want %q", tr.header, want)
			}
			if len(tr.stmts) == 0 || len(tr.stmts) > n {
				t.Errorf("trace has %d statement lines, want 1..%d (the statement count)", len(tr.stmts), n)
			}
			checkKnownLines(t, traces, listed)
			failLine := reachLine(t, listed, fixture.SourcePrefix+"/demo.c", marks["fail-flags"])
			if !hasLine(tr, failLine) {
				t.Errorf("line %d (@fail-flags or the nearest probed line above it) is not in the trace: lines %v", failLine, printedLines(tr))
			}
			checkNotReached(t, tr, marks, "fail-null", "fail-long", "fail-nocolon", "fail-range", "fail-mode", "success")
			// load_config has no loops: lines only go forward, except the
			// closing brace, which epilogues reach from anywhere.
			prev := 0
			for i, s := range tr.stmts {
				if s.line == last && i == len(tr.stmts)-1 {
					break
				}
				if s.line <= prev {
					t.Errorf("line %d follows line %d: lines %v are not increasing", s.line, prev, printedLines(tr))
					break
				}
				prev = s.line
			}
			for _, s := range tr.stmts {
				if s.line != marks["fail-flags"] {
					continue
				}
				if w, ok := s.vars["workers"]; ok && w != "?" && w != "0x10" {
					t.Errorf("workers=%s at the @fail-flags line, want 0x10", w)
				}
				if m, ok := s.vars["m"]; v.Opt == "-O0" && (!ok || m != "0x2") {
					t.Errorf("m=%q (printed %v) at the @fail-flags line at -O0, want 0x2", m, ok)
				}
			}
		})
	}
}

// TestTraceConditions checks a condition nothing satisfies and one that
// everything satisfies.
func TestTraceConditions(t *testing.T) {
	fixture.RequireBPF(t)
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			target := fmt.Sprintf("process(%q)", b.Path)
			t.Run("never", func(t *testing.T) {
				r := traceRun(t, append(debugDir(b), target, "load_config", "$return == -999", "-c", b.Path+" 200")...)
				defer dumpOnFailure(t, r)
				if r.status != 0 || !onlyNotes(r.stderr) {
					t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
				}
				traces, stats := parseOutput(t, r.stdout)
				checkStats(t, stats, 200, 0, 200)
				if len(traces) != 0 {
					t.Errorf("%d traces, want none", len(traces))
				}
			})
			t.Run("always", func(t *testing.T) {
				const calls = 20
				r := traceRun(t, append(debugDir(b), target, "load_config", "1", "-c", fmt.Sprintf("%s %d", b.Path, calls))...)
				defer dumpOnFailure(t, r)
				// With 20 iterations the failing call is still the middle one.
				if r.status != 0 || !onlyNotes(r.stderr) {
					t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
				}
				traces, stats := parseOutput(t, r.stdout)
				n := checkStats(t, stats, calls, calls, 0)
				if len(traces) != calls {
					t.Errorf("%d traces, want %d", len(traces), calls)
				}
				// Every invocation was committed, so the printed lines are
				// every statement run.
				total := 0
				fails := 0
				for _, tr := range traces {
					total += len(tr.stmts)
					if tr.ret == "-22" {
						fails++
					} else if tr.ret != "0" {
						t.Errorf("trace %q returns %s, want 0 or -22", tr.header, tr.ret)
					}
				}
				if total != n {
					t.Errorf("the traces print %d statement lines, the statement count is %d", total, n)
				}
				if fails != 1 {
					t.Errorf("%d traces return -22, want 1", fails)
				}
			})
		})
	}
}

// TestTraceRecursion checks that each failing level of a recursion is its own
// trace.
func TestTraceRecursion(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("recurse")
	marks := fixture.Markers(t, src)
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "recurse", v)
			listed, _ := listedLines(t, b, b.Path, "parse_group")
			first := 1 << 30
			for _, n := range listed {
				first = min(first, n)
			}
			target := fmt.Sprintf("process(%q)", b.Path)
			// E2BIG is 7. "(a(b(c(d(e)))))" fails at depth 5 (MAX_DEPTH+1)
			// and depths 4..1 propagate the error: 5 failing invocations.
			r := traceRun(t, append(debugDir(b), target, "parse_group", "$return == -7", "-c", b.Path)...)
			defer dumpOnFailure(t, r)
			if r.status != 0 || !onlyNotes(r.stderr) {
				t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
			}
			traces, stats := parseOutput(t, r.stdout)
			// Calls: "(a)" 1, "(a(b)c)" 2, "((((x))))" 4, the deep one 5,
			// "(a(b)" 2.
			checkStats(t, stats, 14, 5, 9)
			if len(traces) != 5 {
				t.Fatalf("%d traces, want 5", len(traces))
			}
			checkKnownLines(t, traces, listed)
			failDepth := reachLine(t, listed, fixture.SourcePrefix+"/recurse.c", marks["fail-depth"])
			propagate := reachLine(t, listed, fixture.SourcePrefix+"/recurse.c", marks["propagate"])
			for i, tr := range traces {
				if tr.ret != "-7" {
					t.Errorf("trace %d returns %s", i, tr.ret)
				}
				starts := 0
				for _, s := range tr.stmts {
					if s.line == first {
						starts++
					}
				}
				if len(tr.stmts) == 0 || tr.stmts[0].line != first || starts != 1 {
					t.Errorf("trace %d: lines %v, want exactly one entry line %d, first", i, printedLines(tr), first)
				}
				// The innermost invocation (depth 5) returns first, then
				// the four enclosing ones propagate its error.
				if i == 0 {
					if !hasLine(tr, failDepth) || hasLine(tr, propagate) {
						t.Errorf("trace 0 (depth 5): lines %v, want line %d (@fail-depth) and not %d (@propagate)", printedLines(tr), failDepth, propagate)
					}
					continue
				}
				if !hasLine(tr, propagate) {
					t.Errorf("trace %d: lines %v, want line %d (@propagate)", i, printedLines(tr), propagate)
				}
				if failDepth == marks["fail-depth"] && hasLine(tr, failDepth) {
					t.Errorf("trace %d: lines %v, want no line %d (@fail-depth)", i, printedLines(tr), failDepth)
				}
			}
		})
	}
}

// TestTraceThreads checks that one failing call among four threads' calls is
// found.
func TestTraceThreads(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("threads")
	marks := fixture.Markers(t, src)
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "threads", v)
			listed, _ := listedLines(t, b, b.Path, "check_item")
			target := fmt.Sprintf("process(%q)", b.Path)
			r := traceRun(t, append(debugDir(b), target, "check_item", "$return == -75", "-c", b.Path)...) // EOVERFLOW
			defer dumpOnFailure(t, r)
			if r.status != 0 || !onlyNotes(r.stderr) {
				t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
			}
			traces, stats := parseOutput(t, r.stdout)
			checkStats(t, stats, 4*500, 1, 4*500-1)
			if len(traces) != 1 {
				t.Fatalf("%d traces, want 1", len(traces))
			}
			tr := traces[0]
			checkKnownLines(t, traces, listed)
			if want := fmt.Sprintf("threads[%d] %s function(check_item) $return: -75", tr.tid, target); tr.header != want {
				t.Errorf("header %q, want %q", tr.header, want)
			}
			failLine := reachLine(t, listed, fixture.SourcePrefix+"/threads.c", marks["fail-overflow"])
			if !hasLine(tr, failLine) {
				t.Errorf("line %d (@fail-overflow or the nearest probed line above it) not in trace: %v", failLine, printedLines(tr))
			}
			checkNotReached(t, tr, marks, "fail-negative", "success")
			// Thread 2 (weight 3) passes LIMIT: scaled is 3*LIMIT.
			for _, s := range tr.stmts {
				if s.line != marks["fail-overflow"] {
					continue
				}
				for name, want := range map[string]string{"value": "0x186a0", "weight": "0x3", "scaled": "0x493e0"} {
					if got, ok := s.vars[name]; ok && got != "?" && got != want {
						t.Errorf("%s=%s at the @fail-overflow line %d, want %s", name, got, s.line, want)
					}
				}
			}
		})
	}
}

// TestTraceSharedLibrary traces a function of a shared library that the -c
// command loads.
func TestTraceSharedLibrary(t *testing.T) {
	fixture.RequireBPF(t)
	marks := fixture.Markers(t, fixture.Source("lib"))
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "lib", v)
			listed, _ := listedLines(t, b, b.Lib, "wtf_open")
			target := fmt.Sprintf("process(%q)", b.Lib)
			r := traceRun(t, append(debugDir(b), target, "wtf_open", "$return == -13", "-c", filepath.Join(b.Dir, "libmain"))...)
			defer dumpOnFailure(t, r)
			if r.status != 0 || !onlyNotes(r.stderr) {
				t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
			}
			traces, stats := parseOutput(t, r.stdout)
			// 10 rounds of 5 calls; "/etc/passwd" for writing fails.
			checkStats(t, stats, 50, 10, 40)
			if len(traces) != 10 {
				t.Fatalf("%d traces, want 10", len(traces))
			}
			checkKnownLines(t, traces, listed)
			failLine := reachLine(t, listed, fixture.SourcePrefix+"/lib.c", marks["fail-access"])
			for i, tr := range traces {
				if want := fmt.Sprintf("libmain[%d] %s function(wtf_open) $return: -13", tr.tid, target); tr.header != want {
					t.Errorf("trace %d header %q, want %q", i, tr.header, want)
				}
				if !hasLine(tr, failLine) {
					t.Errorf("trace %d lines %v: want line %d (@fail-access or the nearest probed line above it)", i, printedLines(tr), failLine)
				}
				checkNotReached(t, tr, marks, "fail-null", "fail-flags", "success")
			}
		})
	}
}

const gaiProgram = `#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(void)
{
	struct addrinfo hints, *res;
	int bad = 0;

	for (int i = 0; i < 6; i++) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_flags = i == 3 ? 0x7fff : AI_NUMERICHOST;
		int err = getaddrinfo("127.0.0.1", NULL, &hints, &res);
		if (err == 0)
			freeaddrinfo(res);
		bad += (err != 0) != (i == 3);
	}
	return bad;
}
`

// TestTraceGlibc traces getaddrinfo in the system's libc, whose DWARF comes
// from libc6-dbg through the build-id.
func TestTraceGlibc(t *testing.T) {
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
	target := fmt.Sprintf("process(%q)", libc)
	r := traceRun(t, target, "getaddrinfo", "$return == -1", "-c", prog)
	defer dumpOnFailure(t, r)
	if r.status != 0 || !onlyNotes(r.stderr) {
		t.Errorf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
	}
	traces, stats := parseOutput(t, r.stdout)
	checkStats(t, stats, 6, 1, 5)
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	tr := traces[0]
	if want := fmt.Sprintf("gai[%d] %s function(getaddrinfo) $return: -1", tr.tid, target); tr.header != want {
		t.Errorf("header %q, want %q", tr.header, want)
	}
	if len(tr.stmts) == 0 {
		t.Errorf("trace has no statement lines")
	}
	for _, s := range tr.stmts {
		if s.file != "../sysdeps/posix/getaddrinfo.c" {
			t.Errorf("line %q is not in ../sysdeps/posix/getaddrinfo.c", s.text)
		}
	}
}

// TestBadInput checks that each mistake gives exit status 1 and one line of
// diagnosis on stderr, without tracing anything.
func TestBadInput(t *testing.T) {
	b := fixture.Build(t, "demo", fixture.Default)
	demo := fmt.Sprintf("process(%q)", b.Path)
	tmp := t.TempDir()
	// A truncated copy of a real binary, one without debug info, and a Go
	// program (this test binary).
	whole, err := os.ReadFile(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(tmp, "truncated")
	if err := os.WriteFile(truncated, whole[:300], 0o755); err != nil {
		t.Fatal(err)
	}
	nodebug := filepath.Join(tmp, "nodebug")
	src := filepath.Join(tmp, "nodebug.c")
	os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644)
	if out, err := exec.Command("gcc", "-O2", "-Wl,--build-id=0x1234567890abcdef", "-o", nodebug, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	goprog, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
	}{
		{"missing-binary", []string{`process("/nonexistent/prog")`, "main", "$return == -1", "-c", "true"}},
		{"missing-program", []string{"no_such_program_wtf", "main", "$return == -1", "-c", "true"}},
		{"not-elf", []string{`process("testdata/not-elf.txt")`, "main", "$return == -1", "-c", "true"}},
		{"no-such-function", []string{demo, "no_such_fn", "$return == -22", "-c", "true"}},
		{"malformed-condition", []string{demo, "load_config", "$return ==", "-c", "true"}},
		{"unknown-variable", []string{demo, "load_config", "$nope == 1", "-c", "true"}},
		{"too-few-args", []string{demo, "load_config"}},
		{"pid-zero", []string{demo, "load_config", "$return == -22", "-x", "0"}},
		{"no-such-pid", []string{demo, "load_config", "$return == -22", "-x", "999999999"}},
		{"unknown-flag", []string{demo, "load_config", "$return == -22", "--frobnicate"}},
		{"kernel", []string{"kernel", "vfs_open", "$return == -2"}},
		{"c-and-x", []string{demo, "load_config", "$return == -22", "-c", "true", "-x", "1"}},
		{"directory", []string{`process("/tmp")`, "main", "1", "-c", "true"}},
		{"truncated-elf", []string{fmt.Sprintf("process(%q)", truncated), "main", "1", "-c", "true"}},
		{"no-debug-info", []string{fmt.Sprintf("process(%q)", nodebug), "main", "1", "-c", "true"}},
		{"go-program", []string{fmt.Sprintf("process(%q)", goprog), "main.main", "1", "-c", "true"}},
		{"list-malformed-spec", []string{"-L", `process("/bin/true").fnction("x")`}},
		{"list-unterminated-string", []string{"-L", `process("/bin/true).function("x")`}},
		{"list-no-match", []string{"-L", demo + `.function("load_confg")`}},
		{"list-line-without-code", []string{"-L", demo + `.statement("load_config@*:2")`}},
		{"list-extra-argument", []string{"-L", demo + `.function("main")`, "extra"}},
		{"list-kernel", []string{"-r", "0.0.0-none", "-L", `kernel.function("vfs_open")`}},
		{"empty-condition", []string{demo, "load_config", "", "-c", "true"}},
		{"unknown-errno", []string{demo, "load_config", "$return == -EINVALL", "-c", "true"}},
		{"condition-string", []string{demo, "load_config", `$path == "x"`, "-c", "true"}},
		{"condition-function", []string{demo, "load_config", "frobnicate() == 1", "-c", "true"}},
		{"condition-index-not-integer", []string{demo, "load_config", "$path[$c] == 1", "-c", "true"}},
		{"condition-unknown-global", []string{demo, "load_config", `@var("nope") == 1`, "-c", "true"}},
		{"condition-global-struct", []string{demo, "load_config", `@cast($c, "struct cfg") == 1`, "-c", "true"}},
		{"variable-unknown", []string{demo, "load_config", "1", "$nope", "-c", "true"}},
		{"variable-no-member", []string{demo, "load_config", "1", "$c->nope", "-c", "true"}},
		{"variable-not-struct", []string{demo, "load_config", "1", "$workers->x", "-c", "true"}},
		{"variable-unknown-global", []string{demo, "load_config", "1", `@var("nope")`, "-c", "true"}},
		{"variable-unknown-type", []string{demo, "load_config", "1", `@cast($c, "struct nope")`, "-c", "true"}},
		{"variable-syntax", []string{demo, "load_config", "1", "$c->", "-c", "true"}},
		{"function-glob-several", []string{demo, "*", "1", "-c", "true"}},
		{"pid-not-number", []string{demo, "load_config", "1", "-x", "abc"}},
		{"flag-without-value", []string{demo, "load_config", "1", "-c"}},
		{"ringbuf-size", []string{demo, "load_config", "1", "--ringbuf-size", "1000", "-c", "true"}},
		{"too-many-args", []string{demo, "load_config", "1", "$c", "extra", "-c", "true"}},
		{"nothing-to-do", []string{}},
		{"empty-command", []string{demo, "load_config", "$return == -22", "-c", ""}},
		{"blank-command", []string{demo, "load_config", "$return == -22", "-c", "  "}},
		{"max-traces-zero", []string{demo, "load_config", "$return == -22", "--max-traces", "0", "-c", "true"}},
		{"quiet-and-verbose", []string{demo, "load_config", "$return == -22", "-q", "-v", "-c", "true"}},
		{"output-unwritable", []string{demo, "load_config", "$return == -22", "-o", "/nonexistent/traces.txt", "-c", "true"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(c.args...)
			if r.status != 1 {
				t.Errorf("exit status %d, want 1", r.status)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if !strings.HasPrefix(r.stderr, "whythefail: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
				t.Errorf("stderr %q, want exactly one line starting with \"whythefail: \"", r.stderr)
			}
			if strings.Contains(r.stderr, "internal error") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stderr %q reports a panic", r.stderr)
			}
			got := b.Redact([]byte(r.stderr))
			got = bytes.ReplaceAll(got, []byte(tmp), []byte("/TMP"))
			got = bytes.ReplaceAll(got, []byte(goprog), []byte("/GO-PROGRAM"))
			if wd, err := os.Getwd(); err == nil {
				got = bytes.ReplaceAll(got, []byte(wd), []byte("/CWD"))
			}
			fixture.Golden(t, filepath.Join("testdata", "errors", c.name+".txt"), got)
		})
	}
}

// TestNoUprobes: a kernel without uprobe support gets one clear line.
func TestNoUprobes(t *testing.T) {
	fixture.RequireRoot(t)
	b := fixture.Build(t, "demo", fixture.Default)
	saved := tracer.UprobePMU
	tracer.UprobePMU = "/nonexistent/uprobe"
	defer func() { tracer.UprobePMU = saved }()
	r := runCLI(fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -22", "-c", "true")
	want := "whythefail: this kernel has no uprobe support (/nonexistent/uprobe is missing): tracing user space needs a kernel built with CONFIG_UPROBES and CONFIG_UPROBE_EVENTS\n"
	if r.status != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("got status %d, stdout %q, stderr %q; want 1, nothing, %q", r.status, r.stdout, r.stderr, want)
	}
}

// TestPrivileges runs whythefail as an unprivileged user: listing works,
// tracing says exactly which capabilities are missing.
func TestPrivileges(t *testing.T) {
	fixture.RequireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		fixture.Missing(t, "setpriv is not installed (util-linux)")
		return
	}
	dir, err := os.MkdirTemp("", "whythefail-priv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := fixture.Whythefail(t)
	src, err := os.ReadFile(fixture.Source("demo"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "demo.c"), src, 0o644)
	demo := filepath.Join(dir, "demo")
	if out, err := exec.Command("gcc", "-g", "-O2", "-o", demo, filepath.Join(dir, "demo.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	asNobody := func(args ...string) (string, string, int) {
		cmd := exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}
	out, errs, code := asNobody("-l", fmt.Sprintf("process(%q).function(\"load_config\")", demo))
	if code != 0 || !strings.Contains(out, `function("load_config@`) {
		t.Errorf("listing as nobody: status %d, stdout %q, stderr %q", code, out, errs)
	}
	out, errs, code = asNobody(fmt.Sprintf("process(%q)", demo), "load_config", "$return == -22", "-c", demo)
	want := "whythefail: tracing needs root, or the capabilities CAP_BPF and CAP_PERFMON; this process lacks CAP_BPF and CAP_PERFMON (run it with sudo)\n"
	if code != 1 || errs != want || out != "" {
		t.Errorf("tracing as nobody: status %d, stdout %q, stderr %q; want 1, nothing, %q", code, out, errs, want)
	}
	// An error of BPF generation comes before the privilege check: the
	// programs are generated while preparing, which needs no kernel.
	out, errs, code = asNobody("--max-statements", "65536", fmt.Sprintf("process(%q)", demo), "load_config", "$return == -22", "$$vars", "-c", demo)
	// (The size depends on how many values the compiler leaves to read.)
	wantRE := regexp.MustCompile(`^whythefail: generating BPF programs: invocation buffer of \d+ bytes is too large: lower the record limit\n$`)
	if code != 1 || !wantRE.MatchString(errs) || out != "" {
		t.Errorf("generation error as nobody: status %d, stdout %q, stderr %q; want 1, nothing, %v", code, out, errs, wantRE)
	}
}

// TestExpressions traces the demo's failing call with each form of
// VARIABLE and checks the value printed where the call decides to fail. The
// values are known from the program: the failing call is call 101 of 200,
// with path "batch:16,debug", and the previous call stored "queue:16,fast"
// in *c. Optimized builds may print "?" for what the compiler has let go,
// never a wrong value; unoptimized builds must print the exact value.
func TestExpressions(t *testing.T) {
	fixture.RequireBPF(t)
	exact := []struct {
		expr, want string
		always     bool // exact even when optimized
	}{
		{"$workers", "16", false},
		{"$path$", `"batch:16,debug"`, false},
		{"*$path", "98", false},
		{"$path[2]", "116", false},
		{"$c->workers", "16", false},
		{"$c->name$", `"queue"`, false},
		{"$c->name[0]", "113", false},
		{"$c$$", `{.name="queue", .workers=16, .mode=0, .verbose=0}`, false},
		{`@cast($c, "struct cfg")->workers`, "16", false},
		{`@var("loads")`, "101", true},
		{`@var("loads@demo.c")`, "101", true},
		{"$buf$", `"batch"`, false},
		{"&$c->workers", "", false}, // checked against $c below
		{"$$locals$", `buf="batch"`, false},
		{"$$parms$$", `path="batch:16,debug" c={.name="queue", .workers=16, .mode=0, .verbose=0}`, false},
	}
	for _, v := range fixture.Variants() {
		if v.SplitDebug {
			continue
		}
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			listed, _ := listedLines(t, b, b.Path, "load_config")
			src := fixture.Source("demo")
			marker := reachLine(t, listed, "/fixture/src/demo.c", fixture.Line(t, src, "fail-flags"))
			// Address-valued expressions are compared across two runs
			// with address space randomization off (setarch -R).
			addrOfWorkers := ""
			defer func() {
				if addrOfWorkers == "" || addrOfWorkers == "?" {
					return
				}
				r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -EINVAL", "$c", "-c", fmt.Sprintf("setarch -R %q 200 >/dev/null", b.Path))
				prefix := fmt.Sprintf(":%d $c: ", marker)
				for _, l := range strings.Split(r.stdout, "\n") {
					if i := strings.Index(l, prefix); i >= 0 {
						c, err1 := strconv.ParseUint(l[i+len(prefix):], 0, 64)
						w, err2 := strconv.ParseUint(addrOfWorkers, 0, 64)
						if err1 != nil || err2 != nil || w != c+32 {
							t.Errorf("&$c->workers = %s, $c = %s: want $c + 32 (offsetof(struct cfg, workers))", addrOfWorkers, l[i+len(prefix):])
						}
						return
					}
				}
				t.Errorf("$c not printed at line %d:\n%s", marker, r.stdout)
			}()
			for _, e := range exact {
				cmd := fmt.Sprintf("%q 200 >/dev/null", b.Path)
				if e.want == "" {
					cmd = "setarch -R " + cmd
				}
				r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -EINVAL", e.expr, "-c", cmd)
				if r.status != 0 {
					t.Errorf("%s: exit %d: %s", e.expr, r.status, r.stderr)
					continue
				}
				prefix := fmt.Sprintf(":%d %s: ", marker, e.expr)
				got, found := "", false
				for _, l := range strings.Split(r.stdout, "\n") {
					if i := strings.Index(l, prefix); i >= 0 {
						got, found = l[i+len(prefix):], true
					}
				}
				if !found {
					t.Errorf("%s: no line %d in the trace:\n%s", e.expr, marker, r.stdout)
					continue
				}
				optimized := v.Opt != "-O0"
				switch {
				case e.want == "":
					// &$c->workers: the address of the member, checked
					// against $c below.
					addrOfWorkers = got
				case strings.HasPrefix(e.expr, "$$locals") && strings.Contains(got, e.want):
				case got == e.want:
				case optimized && !e.always && matchUnknown(got, e.want):
					t.Logf("%s at line %d: %s (partly optimized out; exact value %s)", e.expr, marker, got, e.want)
				default:
					t.Errorf("%s at line %d = %s, want %s", e.expr, marker, got, e.want)
				}
			}
		})
	}
}

// TestTraceJSON: --json prints one object per committed trace and one for
// the statistics, nothing else.
func TestTraceJSON(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "demo", fixture.Default)
	r := traceRun(t, "--json", fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -EINVAL", "-c", fmt.Sprintf("%q 50 >/dev/null", b.Path))
	if r.status != 0 {
		t.Fatalf("exit %d: %s", r.status, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got %d:\n%s", len(lines), r.stdout)
	}
	var tr struct {
		Type, Execname, Function string
		Return                   int64
		Statements               []struct {
			File string
			Line int
			Vars []struct {
				Name  string
				Value any
			}
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Type != "trace" || tr.Function != "load_config" || tr.Return != -22 || len(tr.Statements) == 0 || tr.Statements[0].File != "/fixture/src/demo.c" || len(tr.Statements[0].Vars) == 0 {
		t.Errorf("unexpected trace object %+v", tr)
	}
	// Values are typed: the pointers path and c are numbers, the array
	// buf keeps its text, and what the text prints as ? is null (colon,
	// optimized out before it is set, at the first statement).
	first := map[string]any{}
	for _, v := range tr.Statements[0].Vars {
		first[v.Name] = v.Value
	}
	for name, want := range map[string]string{"path": "number", "c": "number", "buf": "[...]", "colon": "null"} {
		got, ok := first[name]
		switch {
		case !ok:
			t.Errorf("no variable %s at the first statement: %v", name, first)
		case want == "number":
			if n, ok := got.(float64); !ok || n <= 0 {
				t.Errorf("%s = %#v, want a positive JSON number", name, got)
			}
		case want == "null":
			if got != nil {
				t.Errorf("%s = %#v, want null", name, got)
			}
		case got != want:
			t.Errorf("%s = %#v, want %q", name, got, want)
		}
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &st); err != nil {
		t.Fatal(err)
	}
	if st["type"] != "statistics" || st["entry"] != 50.0 || st["exit_hit"] != 1.0 || st["exit_miss"] != 49.0 {
		t.Errorf("unexpected statistics object %v", st)
	}
	if rb, _ := st["ring_buffer_bytes"].(float64); rb <= 0 {
		t.Errorf("ring_buffer_bytes %v, want the committed trace's size", st["ring_buffer_bytes"])
	}
}

// TestTraceSource: --source prints each traced line's text, found through a
// --source-path substitution (the fixtures record /fixture/src), and
// --annotate prints the function with the executed lines counted.
func TestTraceSource(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	subst := "/fixture/src=" + fixture.SourceDir()
	r := traceRun(t, "--source", "--annotate", "--source-path", subst, fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -EINVAL", "-c", fmt.Sprintf("%q 20 >/dev/null", b.Path))
	if r.status != 0 || !onlyNotes(r.stderr) {
		t.Fatalf("exit %d: %s", r.status, r.stderr)
	}
	src := fixture.Source("demo")
	fail := fixture.Line(t, src, "fail-flags")
	text, _ := os.ReadFile(src)
	want := strings.Split(string(text), "\n")[fail-1]
	if !strings.Contains(r.stdout, fmt.Sprintf("demo.c:%d $$vars: ", fail)) || !strings.Contains(r.stdout, fmt.Sprintf("%8d | %s\n", fail, want)) {
		t.Errorf("no source text for line %d (%q) under its statement:\n%s", fail, want, r.stdout)
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("  1x  %6d  %s\n", fail, want)) {
		t.Errorf("annotated listing does not mark line %d as executed once:\n%s", fail, r.stdout)
	}
	// The last line executed, the function's closing brace at -O0, carries
	// the arrow, and only it.
	if n := regexp.MustCompile(`(?m)^  1x >\s+\d+  \}$`).FindAllString(r.stdout, -1); len(n) != 1 || strings.Count(r.stdout, "x >") != 1 {
		t.Errorf("want exactly one arrow, on the closing brace:\n%s", r.stdout)
	}
	// Without the substitution the source is not found: a note on stderr,
	// and the trace as usual.
	r = traceRun(t, "--source", fmt.Sprintf("process(%q)", b.Path), "load_config", "$return == -EINVAL", "-c", fmt.Sprintf("%q 20 >/dev/null", b.Path))
	if r.status != 0 || !strings.Contains(r.stderr, "whythefail: note: no source text for /fixture/src/demo.c") || !strings.Contains(r.stdout, "function(load_config) $return: -22") {
		t.Errorf("without --source-path: exit %d, stderr %q", r.status, r.stderr)
	}
}

// TestConditionForms checks that each form of CONDITION commits exactly the
// invocations it should, on unoptimized and optimized builds.
func TestConditionForms(t *testing.T) {
	fixture.RequireBPF(t)
	for _, v := range []fixture.Variant{{Compiler: "gcc", Opt: "-O0", PIE: true}, {Compiler: "clang", Opt: "-O2", PIE: true}} {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			for _, c := range []struct {
				cond string
				hits int
			}{
				{"$return == -22", 1},
				{"$return == -EINVAL", 1},
				{"$return == -EINVAL && user_string($path) == \"batch:16,debug\"", 1},
				{"user_string($path) == \"web:4\"", 5},
				{"user_string($path) != \"web:4\"", 15},
				{"execname() == \"demo\" && $return < 0", 1},
				{"execname() == \"cat\"", 0},
				{"pid() > 0 && tid() == pid() && uid() == 0 && $return != 0", 1},
				{"randint(1) == 0", 20},
				{"!($return == 0)", 1},
				{"$return + 22 == 0 || $return == -ENOENT", 1},
				{"($return & 0xff) == 0xea", 1},
				{"$c != NULL && $path != NULL", 20},
				{"$return * 2 == -44", 1},
				{"-$return == EINVAL", 1},
				{"1", 20},
				{"0", 0},
				// Members, elements and dereferences read at return through
				// the parameter's value at entry (20 calls: "web:4" five
				// times, "batch:16,debug" once, the rest succeed).
				{"$c->workers == 16 && $return < 0", 0},
				{"user_string($path) == \"web:4\" && $c->workers == 4", 5},
				{"*$path == 98", 1},
				{"$path[1] == 97", 5},
				{"$c->name[0] == 113", 5},
				// Indexes computed at return: path[1] again, and path[1]
				// only for the call that returns -22 (for the others the
				// element read is anywhere, and the && is false anyway).
				{"$path[$return * 0 + 1] == 97", 5},
				{"$return < 0 && $path[-$return - 21] == 97", 1},
				// Globals, read at return (the nth call returns with
				// loads == n), and @cast.
				{`@var("loads") == 7`, 1},
				{`(@var("loads@demo.c") & 3) == 0`, 5},
				{`user_string($path) == "web:4" && @cast($c, "struct cfg")->workers == 4`, 5},
			} {
				r := traceRun(t, fmt.Sprintf("process(%q)", b.Path), "load_config", c.cond, "-c", fmt.Sprintf("%q 20 >/dev/null", b.Path))
				if r.status != 0 {
					t.Errorf("%s: exit %d: %s", c.cond, r.status, r.stderr)
					continue
				}
				got := strings.Count(r.stdout, " function(load_config) $return: ")
				if got != c.hits || !strings.Contains(r.stdout, fmt.Sprintf("exit-hit count: %d\n", c.hits)) {
					t.Errorf("%s: %d traces printed, want %d", c.cond, got, c.hits)
				}
			}
		})
	}
}

// matchUnknown reports whether got equals want except that some values
// are "?": optimized code may lose a variable or a pointer, never print a
// wrong value. Values nest as {.name=value, ...} and name=value lists.
func matchUnknown(got, want string) bool {
	if got == want || got == "?" {
		return true
	}
	if strings.HasPrefix(got, "{") && strings.HasSuffix(got, "}") && strings.HasPrefix(want, "{") && strings.HasSuffix(want, "}") {
		return matchFields(splitTop(got[1:len(got)-1], ", "), splitTop(want[1:len(want)-1], ", "))
	}
	if g, w := splitTop(got, " "), splitTop(want, " "); len(g) > 1 && len(g) == len(w) {
		return matchFields(g, w)
	}
	return false
}

func matchFields(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		gn, gv, _ := strings.Cut(got[i], "=")
		wn, wv, _ := strings.Cut(want[i], "=")
		if gn != wn || !matchUnknown(gv, wv) {
			return false
		}
	}
	return true
}

// splitTop splits s at sep where it is not inside braces or quotes.
func splitTop(s, sep string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '{':
			depth++
		case !quoted && c == '}':
			depth--
		case !quoted && depth == 0 && strings.HasPrefix(s[i:], sep):
			out = append(out, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[start:])
}

func TestMatchUnknown(t *testing.T) {
	want := `path="batch:16,debug" c={.name="queue", .workers=16, .mode=0, .verbose=0}`
	for _, tc := range []struct {
		got string
		ok  bool
	}{
		{want, true},
		{`path=? c={.name="queue", .workers=?, .mode=0, .verbose=0}`, true},
		{`path="batch:16,debug" c=?`, true},
		{`path="batch:16,debug" c={.name="queue", .workers=17, .mode=0, .verbose=0}`, false},
		{`path=? c={.name=?, .workers=16, .mode=1, .verbose=0}`, false},
		{`path="x" c=?`, false},
	} {
		if got := matchUnknown(tc.got, want); got != tc.ok {
			t.Errorf("matchUnknown(%q) = %v, want %v", tc.got, got, tc.ok)
		}
	}
}
