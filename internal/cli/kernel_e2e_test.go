package cli_test

import (
	"testing"

	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// TestNoKprobes: on a kernel without kprobes (this project's development
// machine) tracing a kernel or module function says so in one line and
// exits 1, before any debug info is looked for.
func TestNoKprobes(t *testing.T) {
	if session.HaveKprobes() == nil {
		t.Skip("this kernel has kprobes: the refusal cannot be seen here (tracer's TestKernelGuest traces with them)")
	}
	want := "whythefail: the kernel has no kprobes (CONFIG_KPROBES and CONFIG_KPROBE_EVENTS are off): kernel functions cannot be traced on it\n"
	for _, target := range []string{"kernel", `module("9pnet")`} {
		r := runCLI(target, "do_sys_openat2", "$return == -2")
		if r.status != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("%s: got status %d, stdout %q, stderr %q; want 1, nothing, %q", target, r.status, r.stdout, r.stderr, want)
		}
	}
}

// TestTraceOtherRelease: -r names a kernel release other than the running
// one: its probe points can be listed, but tracing is refused in one line
// naming both.
func TestTraceOtherRelease(t *testing.T) {
	run, err := target.RunningRelease()
	if err != nil {
		t.Fatal(err)
	}
	const other = "6.1.0-57-amd64"
	if run == other {
		t.Skip("the running kernel is " + other)
	}
	r := runCLI("-r", other, "kernel", "do_sys_openat2", "$return == -2", "-c", "true")
	want := "whythefail: -r " + other + ": the running kernel is " + run + ": another release's probe points can be listed (-L/-l) but not traced\n"
	if r.status != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("got status %d, stdout %q, stderr %q; want 1, nothing, %q", r.status, r.stdout, r.stderr, want)
	}
}
