package cli_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestGlobalCopiedIntoExecutable reads a shared library's exported
// variable that the executable uses: the executable holds the variable's
// copy (an R_X86_64_COPY relocation) and the library's code reaches it
// through its GOT, so @var must read the copy, never the library's own
// image, which keeps the initial value.
func TestGlobalCopiedIntoExecutable(t *testing.T) {
	fixture.RequireBPF(t)
	dir := t.TempDir()
	lib := `int counter = 42;
__attribute__((noinline)) int bump(int x)
{
	counter += x;
	return counter; /* @after */
}
`
	main := `#include <stdio.h>
extern int counter;
int bump(int);
int main(void) { int r = 0; for (int i = 1; i <= 3; i++) r = bump(i); printf("%d %d\n", r, counter); return 0; }
`
	so := compileC(t, dir, "lib.c", "libbump.so", lib, "-g", "-O0", "-fPIC", "-shared").Bin
	bin := compileC(t, dir, "main.c", "main", main, "-g", "-O0", "-no-pie", "-L"+dir, "-lbump", "-Wl,-rpath,"+dir).Bin
	if out, _ := exec.Command("readelf", "-r", bin).CombinedOutput(); !strings.Contains(string(out), "R_X86_64_COPY") {
		t.Fatalf("the executable holds no copy of counter; the test tests nothing:\n%s", out)
	}
	marks, err := fixture.ParseMarkers([]byte(lib))
	if err != nil {
		t.Fatal(err)
	}
	after := fmt.Sprintf("lib.c:%d @var(\"counter\"): ", marks["after"])
	r := traceRun(t, fmt.Sprintf("process(%q)", so), "bump", "1", `@var("counter")`, "-c", bin+" >/dev/null")
	var got []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if _, v, ok := strings.Cut(l, after); ok {
			got = append(got, v)
		}
	}
	// 42, then +1, +2 and +3.
	if r.status != 0 || strings.Join(got, " ") != "43 45 48" {
		t.Errorf("counter after each bump: %q, want 43 45 48 (exit %d)\n%s%s", got, r.status, r.stdout, r.stderr)
	}
	r = traceRun(t, fmt.Sprintf("process(%q)", so), "bump", `@var("counter") == 45`, "-c", bin+" >/dev/null")
	if r.status != 0 || !strings.Contains(r.stdout, "exit-hit count: 1\n") {
		t.Errorf("condition @var(\"counter\") == 45: want exactly the second call (exit %d)\n%s%s", r.status, r.stdout, r.stderr)
	}
}
