package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestOneLineFunction traces an unoptimised function written on one line:
// its only statement is its entry, before the prologue has stored the
// parameters in their stack slots, so they must be read from their
// registers (not from the slots, which hold stale memory there).
func TestOneLineFunction(t *testing.T) {
	fixture.RequireBPF(t)
	p := compileC(t, t.TempDir(), "one.c", "one", `#include <stdio.h>
__attribute__((noinline)) long add(long a, int b) { long r = a * 1000 + b; return r; }
int main(void) { long s = 0; for (int i = 1; i <= 3; i++) s += add(i * 7, i + 40); printf("%ld\n", s); return 0; }
`, "-g", "-O0")
	bin := p.Bin
	r := traceRun(t, fmt.Sprintf("process(%q)", bin), "add", "1", "-c", bin+" >/dev/null")
	if r.status != 0 || !onlyNotes(r.stderr) {
		t.Fatalf("exit %d: %s", r.status, r.stderr)
	}
	var got []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if _, v, ok := strings.Cut(l, "one.c:2 $$vars: "); ok {
			got = append(got, v)
		}
	}
	want := []string{"a=0x7 b=0x29 r=?", "a=0xe b=0x2a r=?", "a=0x15 b=0x2b r=?"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("values at the entry statement:\n%s\nwant:\n%s\noutput:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.stdout)
	}
}
