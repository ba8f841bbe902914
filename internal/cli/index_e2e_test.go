package cli_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// exprLineRE matches a statement line of a trace that prints one VARIABLE
// expression: "comm[tid] file:line EXPR: value".
var exprLineRE = regexp.MustCompile(`^\S+\[\d+\] (\S+):(\d+) (.*)$`)

// exprStmt is one statement line printing a single expression.
type exprStmt struct {
	line  int
	value string
}

// exprTrace runs whythefail with one VARIABLE expression and returns the
// statement lines of the one committed trace.
func exprTrace(t *testing.T, b *fixture.Binary, fn, cond, variable, cmd string) []exprStmt {
	t.Helper()
	r := traceRun(t, append(debugDir(b), fmt.Sprintf("process(%q)", b.Path), fn, cond, variable, "-c", cmd)...)
	if r.status != 0 {
		t.Fatalf("%s: exit %d: %s", variable, r.status, r.stderr)
	}
	body, _, ok := strings.Cut(r.stdout, "\nstatistics:\n")
	if !ok {
		t.Fatalf("%s: no statistics block in output:\n%s", variable, r.stdout)
	}
	var out []exprStmt
	traces := 0
	for _, l := range strings.Split(body, "\n") {
		if l == "" {
			continue
		}
		if strings.Contains(l, " function("+fn+") $return: ") {
			traces++
			continue
		}
		if strings.HasPrefix(l, "why: ") && traces > 0 {
			continue // the verdict after each trace (verdict_e2e_test.go checks it)
		}
		m := exprLineRE.FindStringSubmatch(l)
		if m == nil || !strings.HasPrefix(m[3], variable+": ") {
			t.Fatalf("%s: unexpected output line %q in:\n%s", variable, l, r.stdout)
		}
		n, _ := strconv.Atoi(m[2])
		out = append(out, exprStmt{n, strings.TrimPrefix(m[3], variable+": ")})
	}
	if traces != 1 {
		t.Fatalf("%s: %d traces, want 1:\n%s", variable, traces, r.stdout)
	}
	return out
}

// TestIndexVariables checks array indexes that are variables, read at each
// statement: in validate's loop (inline.c), $vals[$i] must be the element
// that $i, printed at the same statement of the same deterministic run,
// selects. Unoptimized builds print every value exactly; optimized ones may
// print "?" where the index or the array is lost, never another value.
func TestIndexVariables(t *testing.T) {
	fixture.RequireBPF(t)
	batch := []int{5, 250, 60, 8} // the third batch of inline.c, the one that fails
	exprs := []struct {
		expr string
		elem func(i int) int // index into batch for $i == i
	}{
		{"$vals[$i]", func(i int) int { return i }},
		{"$vals[$i + 1]", func(i int) int { return i + 1 }},
		{"$vals[1 + $i - 1]", func(i int) int { return i }},
		{"*&$vals[$i]", func(i int) int { return i }},
	}
	src := fixture.Source("inline")
	for _, v := range fixture.Variants() {
		if v.SplitDebug {
			continue
		}
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "inline", v)
			listed, _ := listedLines(t, b, b.Path, "validate")
			failLine := reachLine(t, listed, fixture.SourcePrefix+"/inline.c", fixture.Line(t, src, "fail"))
			optimized := v.Opt != "-O0"
			cmd := fmt.Sprintf("%q >/dev/null", b.Path)
			idx := exprTrace(t, b, "validate", "$return == -EDOM", "$i", cmd)
			for _, e := range exprs {
				got := exprTrace(t, b, "validate", "$return == -EDOM", e.expr, cmd)
				if len(got) != len(idx) {
					t.Errorf("%s: %d statement lines, $i: %d", e.expr, len(got), len(idx))
					continue
				}
				exact, atFail := 0, ""
				for j, s := range got {
					if s.line != idx[j].line {
						t.Errorf("%s: statement %d at line %d, $i's at line %d", e.expr, j, s.line, idx[j].line)
						break
					}
					want := "?"
					if i, err := strconv.Atoi(idx[j].value); err == nil {
						k := e.elem(i)
						if k < 0 || k >= len(batch) {
							// $i before its initialization (a stale
							// stack slot at -O0): the element lies
							// outside the batch, whose memory the
							// test does not know.
							t.Logf("%s at line %d: %s ($i = %d, outside the batch)", e.expr, s.line, s.value, i)
							continue
						}
						want = strconv.Itoa(batch[k])
					} else if idx[j].value != "?" {
						t.Fatalf("$i printed %q at line %d", idx[j].value, s.line)
					}
					switch {
					case s.value == want:
						if want != "?" {
							exact++
						}
					case optimized && s.value == "?":
						t.Logf("%s at line %d: ? (exact value %s)", e.expr, s.line, want)
					default:
						t.Errorf("%s at line %d = %s, want %s ($i = %s)", e.expr, s.line, s.value, want, idx[j].value)
					}
					if s.line == failLine {
						atFail = s.value
					}
				}
				if !optimized {
					if exact == 0 {
						t.Errorf("%s: no exact value in the whole trace", e.expr)
					}
					if want := strconv.Itoa(batch[e.elem(1)]); atFail != want {
						t.Errorf("%s at the @fail line %d = %q, want %s", e.expr, failLine, atFail, want)
					}
				}
			}
		})
	}
}

// TestIndexBounds checks indexed reads in load_config (demo.c) at the
// @fail-flags line, where $workers is 16: indexes into a pointer and into
// arrays, and indexes outside an array's length, which print "?" rather
// than memory beside the array.
func TestIndexBounds(t *testing.T) {
	fixture.RequireBPF(t)
	exprs := []struct{ expr, want string }{
		{"$buf[$workers - 10]", "49"},      // buf is "batch\0" "16,debug": '1'
		{"$path[$workers - 10]", "49"},     // path is "batch:16,debug"
		{"$c->name[$workers - 16]", "113"}, // 'q' of "queue", the previous call's name
		{"$buf[$workers + 20]", "?"},       // 36: beyond buf's 32 chars
		{"$buf[$workers - 17]", "?"},       // -1
		{"$c->name[$workers + 16]", "?"},   // 32: beyond name's 32 chars
	}
	src := fixture.Source("demo")
	for _, v := range fixture.Variants() {
		if v.SplitDebug {
			continue
		}
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "demo", v)
			listed, _ := listedLines(t, b, b.Path, "load_config")
			marker := reachLine(t, listed, fixture.SourcePrefix+"/demo.c", fixture.Line(t, src, "fail-flags"))
			for _, e := range exprs {
				got := exprTrace(t, b, "load_config", "$return == -EINVAL", e.expr, fmt.Sprintf("%q 200 >/dev/null", b.Path))
				found := false
				for _, s := range got {
					if s.line != marker {
						continue
					}
					found = true
					switch {
					case s.value == e.want:
					case v.Opt != "-O0" && s.value == "?":
						t.Logf("%s at line %d: ? (exact value %s)", e.expr, marker, e.want)
					default:
						t.Errorf("%s at line %d = %s, want %s", e.expr, marker, s.value, e.want)
					}
				}
				if !found {
					t.Errorf("%s: no line %d in the trace", e.expr, marker)
				}
			}
		})
	}
}

// TestIndexErrors checks that indexes VARIABLE cannot read are refused up
// front, with the column of the index.
func TestIndexErrors(t *testing.T) {
	b := fixture.Build(t, "demo", fixture.Default)
	demo := fmt.Sprintf("process(%q)", b.Path)
	for _, tc := range []struct{ variable, want string }{
		{"$path[$c]", `column 7: an index must be an integer; $c is a struct cfg*`},
		{"$path[$nope]", `column 7: unknown variable $nope; the function's variables are $buf $c $colon $flags $m $path $verbose $workers`},
		{"$path[$workers * 2]", `column 16: an index is a constant, or a $variable plus or minus a constant; ($workers * 2) is not supported in VARIABLE`},
		{"$path[$workers - $m]", `column 16: an index is a $variable plus or minus a constant; ($workers - $m) is not supported in VARIABLE`},
		{"$path[&$workers]", `column 7: an index is a constant, or a $variable plus or minus a constant; (&$workers) is not supported in VARIABLE`},
		{"$path[$buf]", `column 7: an index must be an integer; $buf is a char[]`},
		{"$path[$path[$path[$workers]]]", `column 12: indexes nest at most 2 deep ($a[$b[$i]])`},
		{"$workers[$workers]", `column 9: index into int, which is not an array or a pointer`},
	} {
		r := runCLI(demo, "load_config", "1", tc.variable, "-c", "true")
		want := fmt.Sprintf("whythefail: variable %q: %s\n", tc.variable, tc.want)
		if r.status != 1 || r.stdout != "" || r.stderr != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and\n%s", tc.variable, r.status, r.stdout, r.stderr, want)
		}
	}
}
