package cli_test

import (
	"testing"

	"github.com/whythefail/whythefail/session"
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
