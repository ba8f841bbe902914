package cli_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// stringsProgram calls glibc's fopen with an invalid mode and open on a
// missing file, a NULL and an unmapped address: each call fails. Its string
// literals sit in .rodata, on a page nothing has touched when the calls
// start, so reading them at fopen's first statement needs the page faulted
// in.
const stringsProgram = `#include <fcntl.h>
#include <stdio.h>

int main(void)
{
	const char *volatile none = NULL;
	const char *volatile bad = (const char *)8;
	FILE *f = fopen("/tmp/x", "qz");
	int missing = open("/nonexistent/whythefail-missing", O_RDONLY);
	int null = open(none, O_RDONLY);
	int unmapped = open(bad, O_RDONLY);

	return f == NULL && missing == -1 && null == -1 && unmapped == -1 ? 0 : 1;
}
`

var stringsStmtRE = regexp.MustCompile(`^strs\[(\d+)\] \S+:\d+ \$\$parms\$:(.*)$`)

// TestTraceGlibcStrings traces glibc's fopen and open with '$$parms$':
// strings print from the first statement on, NULL prints NULL, and a
// pointer whose characters cannot be read prints as the pointer.
func TestTraceGlibcStrings(t *testing.T) {
	fixture.RequireBPF(t)
	p := compileC(t, t.TempDir(), "strs.c", "strs", stringsProgram, "-g", "-O0")
	libc := `process("/lib/x86_64-linux-gnu/libc.so.6")`
	for _, tc := range []struct {
		function, cond string
		want           []string // the parameters every statement of each trace prints
	}{
		{"fopen", "$return == 0", []string{` filename="/tmp/x" mode="qz"`}},
		{"open", "$return == -1", []string{` file="/nonexistent/whythefail-missing" oflag=0x0`, ` file=NULL oflag=0x0`, ` file=0x8 oflag=0x0`}},
	} {
		t.Run(tc.function, func(t *testing.T) {
			r := traceRun(t, libc, tc.function, tc.cond, "$$parms$", "-c", p.Bin)
			defer dumpOnFailure(t, r)
			if r.status != 0 {
				if strings.Contains(r.stderr, "no debug info") {
					fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
				}
				t.Fatalf("exit %d: %s", r.status, r.stderr)
			}
			body, stats, ok := strings.Cut(r.stdout, "\n\nstatistics:\n")
			if !ok {
				t.Fatalf("no statistics block")
			}
			traces := strings.Split(strings.TrimPrefix(body, "\n"), "\n\n")
			if len(traces) != len(tc.want) {
				t.Fatalf("%d traces, want %d", len(traces), len(tc.want))
			}
			for i, tr := range traces {
				lines := strings.Split(tr, "\n")
				header := fmt.Sprintf(" %s function(%s) $return: ", libc, tc.function)
				if !strings.Contains(lines[0], header) || len(lines) < 2 {
					t.Errorf("trace %d starts %q and has %d lines; want a header and statements", i, lines[0], len(lines))
					continue
				}
				stmts := lines[1:]
				if n := len(stmts); n > 0 && strings.HasPrefix(stmts[n-1], "why: ") {
					stmts = stmts[:n-1] // the verdict (verdict_e2e_test.go checks it)
				}
				for _, l := range stmts {
					m := stringsStmtRE.FindStringSubmatch(l)
					if m == nil || m[2] != tc.want[i] {
						t.Errorf("trace %d: line %q, want parameters%s", i, l, tc.want[i])
					}
				}
			}
			n := len(tc.want)
			wantStats := fmt.Sprintf("entry count: %d\nexit-hit count: %d\nexit-miss count: 0\nstatement count: ", n, n)
			if !strings.HasPrefix(stats, wantStats) || strings.Count(stats, "\n") != 4 {
				t.Errorf("statistics:\n%s\nwant:\n%s... and nothing lost", stats, wantStats)
			}
		})
	}
}
