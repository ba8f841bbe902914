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

const ldso = "/lib64/ld-linux-x86-64.so.2"

// TestListGlibcAliases compares with stap the listings whose order depends
// on module_info::update_symtab's ELF aliases and on the cache's real
// string hash: all of ld.so's statements (assembler units with several
// DIEs per entry point, C units whose functions share line addresses),
// and libc's syscall stubs, clone3.S and two C units whose rows differed
// while either was missing; also two units whose parameters have
// DW_OP_GNU_uninit locations, which libdw 0.188 cannot read (libdwParses).
// Listed as -L lists (ListOnly).
func TestListGlibcAliases(t *testing.T) {
	staporacle.Require(t)
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
		r.ListOnly = true
		for _, text := range c.specs {
			ours := listRows(t, r, text)
			theirs, err := staporacle.List(t, `process("`+r.Bin.Path+`").`+text)
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
