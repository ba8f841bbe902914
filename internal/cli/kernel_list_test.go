package cli_test

import (
	"os"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// TestKernelListErrors checks the one-line answers of -r and kernel
// listings that cannot be served: a release with no debug info anywhere,
// a module name that is a glob, -r with a process spec, and tracing
// with another release than the running one.
func TestKernelListErrors(t *testing.T) {
	run, err := target.RunningRelease()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-r", "0.0.0-none", "-L", `kernel.function("x")`},
			[]string{"whythefail: no debug info for kernel 0.0.0-none: no vmlinux with DWARF at /usr/lib/debug/boot/vmlinux-0.0.0-none, ", "install linux-image-0.0.0-none-dbg"}},
		{[]string{"-r", "0.0.0-none", "-l", `module("9pnet").function("x")`},
			[]string{"whythefail: no debug info for module 9pnet of kernel 0.0.0-none: no 9pnet.ko with DWARF at /usr/lib/debug/lib/modules/0.0.0-none/**/9pnet.ko"}},
		{[]string{"-L", `module("9p*").function("x")`},
			[]string{`whythefail: bad module name "9p*": give one module's name, as lsmod prints it`}},
		{[]string{"-r", "0.0.0-none", "-L", `process("/bin/true").function("main")`},
			[]string{"whythefail: -r 0.0.0-none names a kernel release: it applies to kernel and module(\"NAME\") probe points only"}},
		{[]string{"-r", "0.0.0-none", "kernel", "x", "1"},
			[]string{"whythefail: -r 0.0.0-none: the running kernel is " + run + ": another release's probe points can be listed (-L/-l) but not traced"}},
		{[]string{"-r", "", "-L", `kernel.function("x")`},
			[]string{"whythefail: -r needs a kernel release, as uname -r prints it (see whythefail --help)"}},
	} {
		r := runCLI(c.args...)
		if r.status != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q: want exit 1 and one line", c.args, r.status, r.stdout, r.stderr)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q lacks %q", c.args, r.stderr, w)
			}
		}
	}
}

// TestKernelList lists the article's statements of perf_event_open from
// 6.1.0-57-amd64's vmlinux through the command line, twice: the first run
// on an empty cache says on stderr that it reads the kernel's function
// names (the index a statement listing needs), the second
// reads the cached index and says nothing; both list the same rows.
func TestKernelList(t *testing.T) {
	const rel = "6.1.0-57-amd64"
	if _, err := os.Stat("/usr/lib/debug/boot/vmlinux-" + rel); err != nil {
		fixture.Missing(t, "vmlinux of %s (linux-image-%s-dbg): %v", rel, rel, err)
	}
	t.Setenv("WHYTHEFAIL_CACHE_DIR", t.TempDir())
	first := runCLI("-r", rel, "-L", `kernel.statement("*perf_event_open@*:*")`)
	if first.status != 0 || !strings.Contains(first.stderr, "whythefail: reading the function names of kernel once") {
		t.Fatalf("first run: exit %d, stderr %q", first.status, first.stderr)
	}
	second := runCLI("-r", rel, "-L", `kernel.statement("*perf_event_open@*:*")`)
	if second.status != 0 || second.stderr != "" {
		t.Fatalf("second run: exit %d, stderr %q", second.status, second.stderr)
	}
	if first.stdout != second.stdout {
		t.Errorf("the runs list different rows:\n%s", fixture.Diff(first.stdout, second.stdout))
	}
	// The article's row, found by its text: the branch_sample_type check.
	if !strings.Contains(first.stdout, `kernel.statement("__do_sys_perf_event_open@kernel/events/core.c:`) || !strings.Contains(first.stdout, "$attr_uptr:struct perf_event_attr*") {
		t.Errorf("no __do_sys_perf_event_open row with $attr_uptr:\n%s", first.stdout)
	}
}
