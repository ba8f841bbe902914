package probe

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/staporacle"
	"github.com/whythefail/whythefail/target"
)

const libc = "/lib/x86_64-linux-gnu/libc.so.6"

// TestListGlibc compares our listing of glibc (with libc6-dbg's separate
// debug file) with stap's: a large, real, optimised, split-debug target.
// The rows depend on the installed glibc, so there is no golden file.
func TestListGlibc(t *testing.T) {
	staporacle.Require(t)
	f, err := target.Open(libc, target.Options{})
	if err != nil {
		fixture.Missing(t, "cannot open %s: %v", libc, err)
	}
	defer f.Close()
	if f.Debug == nil {
		fixture.Missing(t, "no debug info for %s: install libc6-dbg", libc)
	}
	r, err := NewResolver(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		`statement("getaddrinfo@*:*")`,
		`function("*fopen*")`,
		`function("*fopen*").inline`,
		`function("*fopen*").call`,
		`function("getaddrinfo").return`,
	} {
		ours := listRows(t, r, text)
		theirs, err := staporacle.List(t, `process("`+r.Bin.Path+`").`+text)
		if err != nil {
			t.Fatal(err)
		}
		if len(ours) == 0 {
			t.Errorf("%s: no rows", text)
		}
		if got, want := strings.Join(ours, "\n"), strings.Join(theirs, "\n"); got != want {
			t.Errorf("whythefail -L differs from stap -L for %s (-stap +whythefail):\n%s", text, fixture.Diff(want, got))
		}
	}
}
