package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestArrayDimensionsTrace prints elements and rows of arrays of several
// dimensions, local and global, by constant and variable index, and checks
// each value against what the program computes.
func TestArrayDimensionsTrace(t *testing.T) {
	fixture.RequireBPF(t)
	p := compileC(t, t.TempDir(), "dims.c", "dims", `#include <stdio.h>
#include <string.h>
int grid[3][4];
char names[3][8] = {"ann", "bob", "cy"};
__attribute__((noinline)) int f(int k) {
	int local[2][3] = {{1, 2, 3}, {4, 5, 6}};
	int i = k % 3;
	grid[1][2] = k;
	return local[1][2] + grid[1][2] + (int)strlen(names[i]) - 100; /* @ret */
}
int main(void) { int s = 0; for (int i = 0; i < 3; i++) s += f(i + 10); printf("%d\n", s); return 0; }
`, "-g", "-O0")
	bin := p.Bin
	line := fmt.Sprintf("%s:%d ", p.Src, p.Lines["ret"])
	for _, c := range []struct{ expr, want string }{
		// f(10), f(11), f(12): i = 1, 2, 0.
		{"$local[1][2]", "6 6 6"},
		{"$local[0][1]", "2 2 2"},
		{"$local[$i][2]", "6 ? 3"}, // local has 2 rows: local[2] is past the end
		{"@var(\"grid\")[1][2]", "10 11 12"},
		{"@var(\"names\")[$i]$", `"bob" "cy" "ann"`},
		{"@var(\"names\")[2]$", `"cy" "cy" "cy"`},
		{"$local[1]", "[...] [...] [...]"},
	} {
		r := traceRun(t, fmt.Sprintf("process(%q)", bin), "f", "1", c.expr, "-c", bin+" >/dev/null")
		if r.status != 0 {
			t.Errorf("%s: exit %d: %s", c.expr, r.status, r.stderr)
			continue
		}
		var got []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if _, v, ok := strings.Cut(l, line+c.expr+": "); ok {
				got = append(got, v)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s at @ret: %q, want %s\n%s", c.expr, got, c.want, r.stdout)
		}
	}
}
