package probe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/staporacle"
)

// TestListHeader lists a program whose main-file function has a header's
// static inline function inlined into it, built by gcc and clang at -O2,
// for file patterns naming the header and the main file. It pins two
// rules of SystemTap 4.8 that the fixtures (one source file each) do not
// reach: every selected function containing a collected line address is
// listed at that line, and clang's main-file functions (DW_AT_decl_file 0)
// pass a header's file pattern. Rows are compared with stap where it runs
// and with testdata/list/header.txt.
func TestListHeader(t *testing.T) {
	stapErr := staporacle.Available()
	if stapErr != nil && fixture.InCI() {
		t.Fatalf("CI=true and %v", stapErr)
	}
	t.Parallel() // its own binaries in its own directory
	dir := t.TempDir()
	for _, f := range []string{"m.c", "h.h"} {
		data := readFile(t, filepath.Join("testdata", "header", f))
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var golden strings.Builder
	for _, cc := range []string{"gcc", "clang"} {
		if _, err := exec.LookPath(cc); err != nil {
			fixture.Missing(t, "%s is not installed", cc)
		}
		bin := filepath.Join(dir, cc)
		cmd := exec.Command(cc, "-g", "-O2", "-fdebug-prefix-map="+dir+"=/hdr", "-o", bin, "m.c")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building with %s: %v\n%s", cc, err, out)
		}
		b := &fixture.Binary{Path: bin}
		r := openFixture(t, b)
		for _, text := range []string{
			`function("*@*h.h")`,
			`statement("*@*h.h:*")`,
			`statement("*@*h.h:3-5")`,
			`statement("*@*m.c:*")`,
		} {
			ours := listRows(t, r, text)
			fmt.Fprintf(&golden, "# %s %s\n", cc, text)
			for _, row := range ours {
				golden.WriteString(strings.ReplaceAll(row, bin, "BIN") + "\n")
			}
			if stapErr != nil {
				continue
			}
			theirs, err := staporacle.List(t, `process("`+r.Bin.Name()+`").`+text)
			if err != nil && !errors.Is(err, staporacle.ErrNoMatch) {
				t.Fatal(err)
			}
			if got, want := strings.Join(ours, "\n"), strings.Join(theirs, "\n"); got != want {
				t.Errorf("%s: whythefail -L differs from stap -L for %s (-stap +whythefail):\n%s",
					cc, text, fixture.Diff(want, got))
			}
		}
	}
	if stapErr != nil {
		t.Logf("stap not compared: %v", stapErr)
	}
	fixture.Golden(t, filepath.Join("testdata", "list", "header.txt"), []byte(golden.String()))
}
