package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// gaiOnce is the one-shot program: one getaddrinfo call with bad
// flags.
const gaiOnce = `#include <netdb.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct addrinfo h, *r;
	memset(&h, 0, sizeof h);
	h.ai_flags = 0x7fff;
	int e = getaddrinfo("localhost", "80", &h, &r);
	printf("%d %s\n", e, gai_strerror(e));
	return 0;
}
`

// TestGlibcQuietAndSources traces the one failing getaddrinfo call of
// glibc, where most variables are optimized out at most statements: by
// default stderr holds one note, not one per variable per statement. Then
// --source with --source-path .=DIR finds the text of each line under DIR,
// although Debian's glibc records only relative paths (compile directory
// ./posix, file ../sysdeps/posix/getaddrinfo.c); -q prints no note.
func TestGlibcQuietAndSources(t *testing.T) {
	fixture.RequireBPF(t)
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	dir := t.TempDir()
	prog := filepath.Join(dir, "gai")
	if err := os.WriteFile(prog+".c", []byte(gaiOnce), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-g", "-O2", "-o", prog, prog+".c").CombinedOutput(); err != nil {
		t.Fatalf("compiling: %v: %s", err, out)
	}
	target := fmt.Sprintf("process(%q)", libc)
	r := traceRun(t, target, "getaddrinfo", "$return == -1", "-c", prog+" >/dev/null")
	defer dumpOnFailure(t, r)
	if r.status != 0 {
		if strings.Contains(r.stderr, "no debug info") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
		}
		t.Fatalf("exit %d", r.status)
	}
	note := regexp.MustCompile(`^whythefail: note: \d+ variables print as \? at (all \d+|\d+ of the \d+) statements \(no location at this address\); -v lists them\n$`)
	if notes, _ := splitProgress(r.stderr); !note.MatchString(notes) {
		t.Errorf("stderr %q, want one line matching %s besides the progress lines", r.stderr, note)
	}
	traces, _ := parseOutput(t, r.stdout)
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1", len(traces))
	}
	// A stand-in for glibc's source tree: line N of getaddrinfo.c reads
	// "line N".
	tree := filepath.Join(dir, "glibc-2.36")
	var text strings.Builder
	for n := 1; n <= 3000; n++ {
		fmt.Fprintf(&text, "line %d\n", n)
	}
	if err := os.MkdirAll(filepath.Join(tree, "sysdeps/posix"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sysdeps/posix/getaddrinfo.c"), []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r = traceRun(t, "-q", "--source", "--source-path", ".="+tree, target, "getaddrinfo", "$return == -1", "-c", prog+" >/dev/null")
	if r.status != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.status, r.stderr)
	}
	var stmts int
	lines := strings.Split(r.stdout, "\n")
	for i, l := range lines {
		m := stmtRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		stmts++
		if want := fmt.Sprintf("%8s | line %s", m[4], m[4]); i+1 >= len(lines) || lines[i+1] != want {
			t.Errorf("statement %q is not followed by its source line %q", l, want)
		}
	}
	if stmts == 0 {
		t.Errorf("no statement lines:\n%s", r.stdout)
	}
}
