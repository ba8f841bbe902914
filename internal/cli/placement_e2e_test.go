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

// TestPlacementIdentical traces every variant of the demo and loop
// fixtures with --placement=naive and with automatic placement (-v, which
// says where each probe went), with address space randomization off:
// the outputs must be identical byte for byte but for the process ids.
// The loop fixture has jump targets in the middle of runs; the demo, calls
// and conditional jumps after statements.
func TestPlacementIdentical(t *testing.T) {
	fixture.RequireBPF(t)
	fixture.NeedTool(t, "setarch")
	moved := 0
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			for _, c := range []struct{ fixture, fn, cond, cmd string }{
				{"demo", "load_config", "1", " 3"},
				{"loop", "find_key", "$return == -ENOENT", ""},
			} {
				b := fixture.Build(t, c.fixture, v)
				args := append(debugDir(b), fmt.Sprintf("process(%q)", b.Path), c.fn, c.cond, "--max-statements", "4096",
					"-c", fmt.Sprintf("setarch -R %q%s >/dev/null", b.Path, c.cmd))
				naive := traceRun(t, append(args, "--placement=naive")...)
				auto := traceRun(t, append(args, "-v")...)
				for _, r := range []result{naive, auto} {
					if r.status != 0 || !strings.Contains(r.stdout, "statistics:") {
						dumpOnFailure(t, r)
						t.Fatalf("%s: exit status %d; want 0 and traces", c.fixture, r.status)
					}
				}
				n := strings.Count(auto.stderr, ": moved to ")
				moved += n
				t.Logf("%s %s: %d probes moved", c.fixture, c.fn, n)
				if got, want := pidRE.ReplaceAllString(auto.stdout, "[PID]"), pidRE.ReplaceAllString(naive.stdout, "[PID]"); got != want {
					t.Errorf("%s: automatic placement prints\n%s\nnaive placement\n%s\nplacement:\n%s", c.fixture, got, want, auto.stderr)
				}
			}
		})
	}
	if moved == 0 {
		t.Errorf("no probe moved in any variant")
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
	rowRE := regexp.MustCompile(` /\* pc=0x[0-9a-f]+ placement: (moved to \+0x[0-9a-f]+ [a-z]+ .*|kept: .*); offset=0x[0-9a-f]+ \*/$`)
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
