package cli_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// pidRE matches the process and thread ids in trace headers and lines,
// which differ from run to run.
var pidRE = regexp.MustCompile(`\[\d+\]`)

// placementRE matches the lines -v prints about where each probe went.
var placementRE = regexp.MustCompile(`(?m)^whythefail: placement: .*\n`)

// TestPlacementIdentical traces every variant of the demo, loop,
// branches, inline (inlined callees), recurse (a recursive function) and
// callers fixtures with --placement=naive and with automatic placement
// (-v, which says where each probe went), with address space
// randomization off: the outputs must be identical byte for byte but for
// the process ids. The loop fixture has jump targets in the middle of
// runs; the demo, calls and conditional jumps after statements, and
// every way into its shared return (the demo's 6 calls take each path
// of its mode switch); the branches fixture, statements that follow
// other statements on one straight line and are recorded with them
// (placer.before). Also glibc's getaddrinfo, on a numeric lookup.
func TestPlacementIdentical(t *testing.T) {
	fixture.RequireBPF(t)
	fixture.NeedTool(t, "setarch")
	moved, early := 0, 0
	compare := func(t *testing.T, name string, args ...string) {
		naive := traceRun(t, append(args, "--placement=naive")...)
		auto := traceRun(t, append(args, "-v")...)
		for _, r := range []result{naive, auto} {
			if r.status != 0 || !strings.Contains(r.stdout, "statistics:") {
				dumpOnFailure(t, r)
				t.Fatalf("%s: exit status %d; want 0 and traces", name, r.status)
			}
		}
		n, e := strings.Count(auto.stderr, ": moved to "), strings.Count(auto.stderr, ": recorded earlier, ")
		moved += n
		early += e
		t.Logf("%s: %d probes moved, %d statements recorded earlier", name, n, e)
		if got, want := pidRE.ReplaceAllString(auto.stdout, "[PID]"), pidRE.ReplaceAllString(naive.stdout, "[PID]"); got != want {
			t.Errorf("%s: automatic placement prints\n%s\nnaive placement\n%s\nplacement:\n%s", name, got, want, auto.stderr)
		}
	}
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			for _, c := range []struct{ fixture, fn, cond, cmd string }{
				{"demo", "load_config", "1", " 6"},
				{"loop", "find_key", "$return == -ENOENT", ""},
				{"branches", "both", "1", " 6"},
				{"branches", "pick", "1", " 6"},
				{"branches", "setup", "1", " 6"},
				{"inline", "validate", "1", ""},
				{"recurse", "parse_group", "1", ""},
				{"callers", "check_mode", "1", ""},
			} {
				b := fixture.Build(t, c.fixture, v)
				compare(t, c.fixture+" "+c.fn, append(debugDir(b), fmt.Sprintf("process(%q)", b.Path), c.fn, c.cond, "--max-statements", "4096",
					"-c", fmt.Sprintf("setarch -R %q%s >/dev/null", b.Path, c.cmd))...)
			}
		})
	}
	t.Run("glibc-getaddrinfo", func(t *testing.T) {
		fixture.NeedTool(t, "getent")
		const libc = `process("/lib/x86_64-linux-gnu/libc.so.6")`
		probe := traceRun(t, libc, "getaddrinfo", "$return == 0", "-c", "getent ahosts 127.0.0.1 >/dev/null")
		if probe.status != 0 && strings.Contains(probe.stderr, "debug") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(probe.stderr))
		}
		compare(t, "getaddrinfo", libc, "getaddrinfo", "1", "-c", "setarch -R getent ahosts 127.0.0.1 >/dev/null")
	})
	if moved == 0 {
		t.Errorf("no probe moved in any variant")
	}
	if early == 0 {
		t.Errorf("no statement recorded earlier in any variant")
	}
}

// TestListPlacement checks that -L -v says for each statement where its
// probe would go, and that -L alone stays as stap prints it.
func TestListPlacement(t *testing.T) {
	b := fixture.Build(t, "demo", fixture.Default)
	spec := fmt.Sprintf("process(%q).statement(\"load_config@*:*\")", b.Path)
	v := runCLI("-v", "-L", spec)
	plain := runCLI("-L", spec)
	if v.status != 0 || plain.status != 0 {
		t.Fatalf("exit status %d and %d: %s%s", v.status, plain.status, v.stderr, plain.stderr)
	}
	rowRE := regexp.MustCompile(` /\* pc=0x[0-9a-f]+ placement: ((moved to|recorded earlier, at) \+0x[0-9a-f]+ [a-z]+ .*|kept: .*); offset=0x[0-9a-f]+ \*/$`)
	moved := 0
	for _, l := range strings.Split(strings.TrimSpace(v.stdout), "\n") {
		if !rowRE.MatchString(l) {
			t.Errorf("-L -v row without its placement: %q", l)
		}
		if strings.Contains(l, "placement: moved to ") {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("-L -v moves no probe:\n%s", v.stdout)
	}
	if strings.Contains(plain.stdout, "placement") {
		t.Errorf("-L without -v mentions placement:\n%s", plain.stdout)
	}
}
