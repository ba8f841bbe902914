package probe

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/staporacle"
)

// TestListFunctionOrder lists testdata/order/order.c, three static helpers
// shaped like glibc's resolv/ns_print.c (addlen inlined into addstr,
// addstr into the out-of-line addtab), built by gcc -O2. Two of the
// helpers' walks collect the same line address there, so which one gets it
// depends on the order SystemTap 4.8 visits a unit's functions in: the
// iteration order of its name-keyed hash table, not DIE order (in DIE
// order addstr would take addlen's first address and be listed at line
// 25; stap lists addlen there at line 11). Rows are compared with stap
// where it runs and with testdata/list/order.txt.
func TestListFunctionOrder(t *testing.T) {
	stapErr := staporacle.Available()
	if stapErr != nil && fixture.InCI() {
		t.Fatalf("CI=true and %v", stapErr)
	}
	t.Parallel() // its own binary in its own directory
	if _, err := exec.LookPath("gcc"); err != nil {
		fixture.Missing(t, "gcc is not installed")
	}
	dir := t.TempDir()
	src := readFile(t, filepath.Join("testdata", "order", "order.c"))
	if err := os.WriteFile(filepath.Join(dir, "order.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "order")
	cmd := exec.Command("gcc", "-g", "-O2", "-fdebug-prefix-map="+dir+"=/order", "-o", bin, "order.c")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building with gcc: %v\n%s", err, out)
	}
	r := openFixture(t, &fixture.Binary{Path: bin})
	var golden strings.Builder
	for _, text := range []string{
		`statement("*@*order.c:*")`,
		`statement("add*@*order.c:*")`,
		`statement("*@*order.c:11")`,
		`function("*")`,
	} {
		ours := listRows(t, r, text)
		fmt.Fprintf(&golden, "# %s\n", text)
		for _, row := range ours {
			golden.WriteString(strings.ReplaceAll(row, bin, "BIN") + "\n")
		}
		if stapErr != nil {
			continue
		}
		theirs, err := staporacle.List(t, `process("`+r.Bin.Name()+`").`+text)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(ours, "\n"), strings.Join(theirs, "\n"); got != want {
			t.Errorf("whythefail -L differs from stap -L for %s (-stap +whythefail):\n%s", text, fixture.Diff(want, got))
		}
	}
	if stapErr != nil {
		t.Logf("stap not compared: %v", stapErr)
	}
	fixture.Golden(t, filepath.Join("testdata", "list", "order.txt"), []byte(golden.String()))
}
