package cli_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// loopTrace is the one committed trace of a run of the loop fixture, split
// into its lines, with the statistics block.
type loopTrace struct {
	tid   string
	lines []string // after the header, up to the verdict line
	why   string   // the verdict line
	stats []string
}

var loopHeaderRE = regexp.MustCompile(`^loop\[(\d+)\] process\(.*\) function\(find_key\) \$return: -2$`)

// runLoopFixture traces find_key's failing call in b and returns its trace.
func runLoopFixture(t *testing.T, b *fixture.Binary, extra ...string) loopTrace {
	t.Helper()
	args := append(debugDir(b), fmt.Sprintf("process(%q)", b.Path), "find_key", "$return == -ENOENT", "-c", b.Path)
	r := traceRun(t, append(args, extra...)...)
	if r.status != 0 || !onlyNotes(r.stderr) {
		dumpOnFailure(t, r)
		t.Fatalf("exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
	}
	body, stats, ok := strings.Cut(r.stdout, "\n\nstatistics:\n")
	if !ok || !strings.HasPrefix(body, "\n") {
		t.Fatalf("output is not one trace and the statistics:\n%s", r.stdout)
	}
	lines := strings.Split(strings.TrimPrefix(body, "\n"), "\n")
	m := loopHeaderRE.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("first line %q is not the header of find_key's failing call", lines[0])
	}
	lines = lines[1:]
	var why string
	if n := len(lines); n > 0 && strings.HasPrefix(lines[n-1], "why: ") {
		why, lines = lines[n-1], lines[:n-1]
	}
	return loopTrace{tid: m[1], lines: lines, why: why, stats: strings.Split(strings.TrimSuffix(stats, "\n"), "\n")}
}

// TestTraceLongLoop traces a call that loops 1,000 times before returning
// -ENOENT, more statements than the trace buffer holds: the trace keeps the
// first 64 statements and the last 448, and says in between how many it
// dropped there. A run with a buffer large enough for every statement
// gives the expected lines; the loop fixture's table is at a fixed address
// in non-PIE builds, so both runs print the same values.
func TestTraceLongLoop(t *testing.T) {
	fixture.RequireBPF(t)
	src := fixture.Source("loop")
	marks := fixture.Markers(t, src)
	file := fixture.SourcePrefix + "/loop.c"
	for _, v := range fixture.Variants() {
		if v.PIE || v.SplitDebug {
			continue
		}
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "loop", v)
			listed, last := listedLines(t, b, b.Path, "find_key")
			full := runLoopFixture(t, b, "--max-statements", "4096")
			if strings.Contains(strings.Join(full.lines, "\n"), " not recorded ") {
				t.Fatalf("4096 records did not hold the whole call:\n%s", strings.Join(full.lines, "\n"))
			}
			compares := 0
			for _, l := range full.lines {
				if strings.Contains(l, fmt.Sprintf(" %s:%d ", file, marks["compare"])) {
					compares++
				}
			}
			if compares != 1000 {
				t.Errorf("the whole trace compares %d times, want 1000", compares)
			}
			failLine := reachLine(t, listed, file, marks["fail"])
			end := full.lines[len(full.lines)-1]
			if !strings.Contains(end, fmt.Sprintf(" %s:%d ", file, failLine)) && !strings.Contains(end, fmt.Sprintf(" %s:%d ", file, last)) {
				t.Errorf("the whole trace ends with %q, not at line %d (@fail) or %d (the closing brace)", end, failLine, last)
			}
			fullStmts := statementCount(t, full.stats)

			got := runLoopFixture(t, b)
			const head, tail = 64, 448
			n := len(full.lines)
			dropped := n - head - tail
			if dropped <= 0 {
				t.Fatalf("the whole call ran %d statements: not more than the %d records", n, head+tail)
			}
			prefix := "loop[" + got.tid + "] "
			var want []string
			for _, l := range full.lines[:head] {
				want = append(want, prefix+strings.TrimPrefix(l, "loop["+full.tid+"] "))
			}
			want = append(want, fmt.Sprintf("%s... %d statements not recorded here (the trace buffer keeps the first %d and the last %d) ...", prefix, dropped, head, tail))
			for _, l := range full.lines[n-tail:] {
				want = append(want, prefix+strings.TrimPrefix(l, "loop["+full.tid+"] "))
			}
			// The verdict does not depend on the statements dropped: the
			// last branch is kept aside from them.
			if got.why != full.why || !strings.HasPrefix(got.why, "why: find_key returned -2 (ENOENT) at ") {
				t.Errorf("verdict %q with the default buffer, %q with the whole call", got.why, full.why)
			}
			if g, w := strings.Join(got.lines, "\n"), strings.Join(want, "\n"); g != w {
				t.Errorf("trace with the default buffer (-want +got):\n%s", fixture.Diff(w, g))
			}
			// The successful call ran fullStmts-n statements, all kept.
			wantStats := []string{
				"entry count: 2", "exit-hit count: 1", "exit-miss count: 1",
				fmt.Sprintf("statement count: %d", fullStmts-n+head+tail),
				fmt.Sprintf("truncated-statement (trace buffer full) count: %d", dropped),
			}
			if g, w := strings.Join(got.stats, "\n"), strings.Join(wantStats, "\n"); g != w {
				t.Errorf("statistics (-want +got):\n%s", fixture.Diff(w, g))
			}

			r := traceRun(t, append(debugDir(b), fmt.Sprintf("process(%q)", b.Path), "find_key", "$return == -ENOENT", "--json", "-c", b.Path)...)
			if r.status != 0 || !onlyNotes(r.stderr) {
				t.Fatalf("--json: exit status %d, stderr %q; want 0 and notes at most", r.status, r.stderr)
			}
			var tr struct {
				Type       string `json:"type"`
				Statements []struct {
					Line int `json:"line"`
				} `json:"statements"`
				Truncated   int  `json:"truncated"`
				TruncatedAt *int `json:"truncated_at"`
			}
			first, _, _ := strings.Cut(r.stdout, "\n")
			if err := json.Unmarshal([]byte(first), &tr); err != nil || tr.Type != "trace" {
				t.Fatalf("first JSON line %q: %v", first, err)
			}
			if tr.Truncated != dropped || tr.TruncatedAt == nil || *tr.TruncatedAt != head || len(tr.Statements) != head+tail {
				t.Errorf("JSON trace has %d statements, truncated %d at %v; want %d, %d at %d", len(tr.Statements), tr.Truncated, tr.TruncatedAt, head+tail, dropped, head)
			}
			if len(tr.Statements) > 0 {
				if l := tr.Statements[len(tr.Statements)-1].Line; l != failLine && l != last {
					t.Errorf("JSON trace ends at line %d, want %d or %d", l, failLine, last)
				}
			}
		})
	}
}
