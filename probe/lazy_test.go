package probe

import (
	"fmt"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/staporacle"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// resolveText resolves (with list, lists) text with r and renders the points whole (as -v -L
// prints them, with addresses and offsets), or the error.
func resolveText(t *testing.T, r *Resolver, text string, list bool) string {
	t.Helper()
	s, err := spec.Parse(`process("` + r.Bin.Name() + `").` + text)
	if err != nil {
		t.Fatal(err)
	}
	resolve := r.Resolve
	if list {
		resolve = r.List
	}
	pts, err := resolve(s)
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "%s /* pc=%#x offset=%#x */\n", p.Listing(), p.Addr, p.FileOffset)
	}
	return b.String() + strings.Join(List(pts, true), "\n")
}

// TestLazyResolverGlibc: with the function index in the cache, a lazy
// resolver indexes only the units a spec can select, and resolves every
// spec exactly as a full index does: statements of a function, of a
// glob, of a function named through an ELF alias, function probes for
// tracing (malloc, an alias of __libc_malloc), specs that need the whole
// file (function listing), a spec that selects other units after the
// first, and one that matches nothing.
func TestLazyResolverGlibc(t *testing.T) {
	t.Setenv("WHYTHEFAIL_CACHE", "")
	t.Setenv("WHYTHEFAIL_CACHE_DIR", t.TempDir())
	f, err := target.Open(libc, target.Options{})
	if err != nil {
		fixture.Missing(t, "cannot open %s: %v", libc, err)
	}
	defer f.Close()
	if f.Debug == nil {
		fixture.Missing(t, "no debug info for %s: install libc6-dbg", libc)
	}
	full, err := NewResolver(f) // puts the function index in the cache
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		listOnly bool
		specs    []string
		partial  bool // the first spec is resolved from some units only
	}{
		{true, []string{`statement("getaddrinfo@*:*")`}, true},
		{true, []string{`statement("*fopen*@*:*")`, `statement("getaddrinfo@*:*")`}, true},
		{true, []string{`statement("malloc@*:*")`}, true},
		{true, []string{`statement("__GI___clone3@*:*")`}, true},
		{false, []string{`function("malloc").call`, `statement("__libc_malloc@*:*")`}, true},
		{false, []string{`function("getaddrinfo").call`, `statement("getaddrinfo@../sysdeps/posix/getaddrinfo.c:*")`}, true},
		{true, []string{`function("*fopen*")`}, false},
		{true, []string{`statement("no_such_function_here@*:*")`}, false},
	} {
		lazy := NewLazyResolver(f)
		for i, text := range c.specs {
			got, want := resolveText(t, lazy, text, c.listOnly), resolveText(t, full, text, c.listOnly)
			if got != want {
				t.Errorf("%s: lazy resolver differs (-full +lazy):\n%s", text, fixture.Diff(want, got))
			}
			if i == 0 && lazy.Data.Partial != c.partial {
				t.Errorf("%s: Partial = %v, want %v", text, lazy.Data.Partial, c.partial)
			}
			if i == 0 && c.partial && len(lazy.Data.CUs) >= len(full.Data.CUs)/10 {
				t.Errorf("%s: %d units of %d indexed", text, len(lazy.Data.CUs), len(full.Data.CUs))
			}
		}
	}
}

// TestLazyListGlibc compares the lazy resolver's listing with stap's, the
// way whythefail -L resolves when the index is cached.
func TestLazyListGlibc(t *testing.T) {
	staporacle.Require(t)
	t.Setenv("WHYTHEFAIL_CACHE", "")
	t.Setenv("WHYTHEFAIL_CACHE_DIR", t.TempDir())
	f, err := target.Open(libc, target.Options{})
	if err != nil {
		fixture.Missing(t, "cannot open %s: %v", libc, err)
	}
	defer f.Close()
	if f.Debug == nil {
		fixture.Missing(t, "no debug info for %s: install libc6-dbg", libc)
	}
	if _, err := NewResolver(f); err != nil {
		t.Fatal(err)
	}
	// Opened again, the debug file's sections come from the cache too.
	f2, err := target.Open(libc, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	for _, text := range []string{`statement("getaddrinfo@*:*")`, `statement("*fopen*@*:*")`, `statement("malloc@*:*")`} {
		r := NewLazyResolver(f2)
		ours := listRows(t, r, text)
		if !r.Data.Partial {
			t.Errorf("%s: the whole file was indexed", text)
		}
		theirs, err := staporacle.List(t, `process("`+r.Bin.Name()+`").`+text)
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
