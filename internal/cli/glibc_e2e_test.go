package cli_test

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/staporacle"
)

// TestListGlibcLibraries lists parts of glibc (libc6-dbg) through the
// command line and compares them with stap -L: every statement of
// libresolv, where the order stap visits a unit's functions in decides
// which function a shared line belongs to, and glibc's assembly spin lock,
// one of whose line rows sits inside an instruction (after a lock prefix):
// listed, as stap lists it, though it could never be traced.
func TestListGlibcLibraries(t *testing.T) {
	staporacle.Require(t)
	for _, c := range []struct{ lib, spec, must string }{
		{"/lib/x86_64-linux-gnu/libresolv.so.2", `statement("*@*:*")`, `statement("addlen@./resolv/ns_print.c:733")`},
		{"/lib/x86_64-linux-gnu/libc.so.6", `statement("*@*pthread_spin_lock.S:*")`, `statement("__pthread_spin_lock@../sysdeps/x86_64/nptl/pthread_spin_lock.S:23")`},
	} {
		spec := `process("` + c.lib + `").` + c.spec
		r := runCLI("-L", spec)
		if r.status != 0 {
			if strings.Contains(r.stderr, "no debug info") {
				fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
			}
			t.Fatalf("-L %s: exit %d: %s", spec, r.status, r.stderr)
		}
		theirs, err := staporacle.List(t, spec)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSuffix(r.stdout, "\n"), strings.Join(theirs, "\n"); got != want {
			t.Errorf("whythefail -L differs from stap -L for %s (-stap +whythefail):\n%s", spec, fixture.Diff(want, got))
		}
		if !strings.Contains(r.stdout, c.must) {
			t.Errorf("-L %s: no row %s", spec, c.must)
		}
	}
}

// TestTraceGlibcAlias traces malloc, which glibc's DWARF calls
// __libc_malloc (malloc is an ELF alias at the same address), the way
// users name it.
func TestTraceGlibcAlias(t *testing.T) {
	fixture.RequireBPF(t)
	r := traceRun(t, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "malloc", "$return == 0", "-c", "true")
	if r.status != 0 {
		if strings.Contains(r.stderr, "no debug info") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
		}
		t.Fatalf("exit %d: %s", r.status, r.stderr)
	}
	if !strings.Contains(r.stderr, "whythefail: note: malloc is an alias of __libc_malloc (") {
		t.Errorf("no note naming the function traced: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "\nentry count: ") || strings.Contains(r.stdout, "\nentry count: 0\n") {
		t.Errorf("no call of malloc counted:\n%s", r.stdout)
	}
}
