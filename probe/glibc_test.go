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
	t.Parallel() // stap and this package's listing: independent of the other tests
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

const ldso = "/lib64/ld-linux-x86-64.so.2"

// TestListGlibcAliases compares with stap the listings whose order depends
// on module_info::update_symtab's ELF aliases and on the cache's real
// string hash: all of ld.so's statements (assembler units with several
// DIEs per entry point, C units whose functions share line addresses),
// and libc's syscall stubs, clone3.S and two C units whose rows differed
// while either was missing; also two units whose parameters have
// DW_OP_GNU_uninit locations, which libdw 0.188 cannot read (listing.ExprParses).
// Listed as -L lists (List).
func TestListGlibcAliases(t *testing.T) {
	staporacle.Require(t)
	t.Parallel() // stap and this package's listing: independent of the other tests
	for _, c := range []struct {
		bin   string
		specs []string
	}{
		{ldso, []string{`statement("*@*:*")`}},
		{libc, []string{
			`statement("*@../sysdeps/unix/syscall-template.S:*")`,
			`statement("*@*/clone3.S:*")`,
			`statement("*@./inet/getnameinfo.c:*")`,
			`statement("*@../malloc/dynarray-skeleton.c:*")`,
			`statement("*@./inet/inet_ntoa.c:*")`,
			`statement("*@../sysdeps/unix/sysv/linux/sigqueue.c:*")`,
		}},
	} {
		f, err := target.Open(c.bin, target.Options{})
		if err != nil {
			fixture.Missing(t, "cannot open %s: %v", c.bin, err)
		}
		if f.Debug == nil {
			f.Close()
			fixture.Missing(t, "no debug info for %s: install libc6-dbg", c.bin)
		}
		r, err := NewResolver(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range c.specs {
			ours := listRows(t, r, text)
			theirs, err := staporacle.List(t, `process("`+r.Bin.Name()+`").`+text)
			if err != nil {
				t.Fatal(err)
			}
			if len(ours) == 0 {
				t.Errorf("%s %s: no rows", c.bin, text)
			}
			if got, want := strings.Join(ours, "\n"), strings.Join(theirs, "\n"); got != want {
				t.Errorf("whythefail -L differs from stap -L for %s %s (-stap +whythefail):\n%s", c.bin, text, fixture.Diff(want, got))
			}
		}
		f.Close()
	}
}

// TestListGlibcAliasNames compares with stap the rows of functions named
// through an ELF alias (a name that is only a key of SystemTap's function
// cache, added by update_symtab): assembler units whose DIEs have no
// DW_AT_decl_line (the row takes the line of the entry row), C functions
// named by an alias (malloc is the DIE __libc_malloc), aliases that name
// no cache entry (__GI___libc_malloc, whose symbol update_symtab ties to
// the DIE, so it is not listed either), and the symbol rows that the
// DWARF probes hide (.part. clones, .cold parts entered by an inlined
// instance, several symbols at one address). Listed as -L lists
// (List); tracing matches DW_AT_name only.
func TestListGlibcAliasNames(t *testing.T) {
	staporacle.Require(t)
	t.Parallel() // stap and this package's listing: independent of the other tests
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
		`function("__GI_munmap")`,
		`function("__GI_munmap").call`,
		`function("__GI_munmap").return`,
		`function("*munmap*")`,
		`function("*munmap*").return`,
		`function("__munmap")`,
		`function("__GI___clone3")`,
		`statement("__GI_munmap@*:*")`,
		`statement("__munmap")`,
		`function("malloc")`,
		`function("malloc").return`,
		`function("*alloc*")`,
		`function("*alloc*").call`,
		`function("*alloc*").inline`,
		`function("*alloc*").return`,
		`function("*tf2")`,
		`function("*cold*")`,
		`function("fputc.cold")`,
		`function("m*")`,
	} {
		ours := listRows(t, r, text)
		theirs, err := staporacle.List(t, `process("`+r.Bin.Name()+`").`+text)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(ours, "\n"), strings.Join(theirs, "\n"); got != want {
			t.Errorf("whythefail -L differs from stap -L for %s (-stap +whythefail):\n%s", text, fixture.Diff(want, got))
		}
	}
}
