package cli_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// movedReturnsRE matches -v's line about --follow's return probes.
var movedReturnsRE = regexp.MustCompile(`placement: --follow: (\d+) of the \d+ return probes outside \S+`)

// TestFollowPlacementIdentical traces each function of the follow fixture
// (followCases) with --follow, depth 3, one level per run, its origin's
// statements traced by the last re-run, in both compilers at -O2, glibc's
// fopen failing on its mode and getaddrinfo succeeding on a numeric
// lookup (with --follow-eager: every level in the first run, the
// callees' return probes outside fopen's code from the start), with --placement=naive
// (every return probe at its return address) and with automatic
// placement (-v: return probes outside the traced function moved to an
// emulated instruction after the return address where that records the
// same), with address space randomization off: the outputs must be
// identical byte for byte but for the process ids, and some return probe
// must have moved. Also at gcc -O0, where no return probe moves (the
// code stores rax after each call, which may be errno's memory) but
// statements do, the origin's among them: recurse's origin, down(0),
// prints its local r, which it never assigns, so its value (stack left
// over from before) differs from run to run and is masked
// (uninitialised).

func TestFollowPlacementIdentical(t *testing.T) {
	fixture.RequireBPF(t)
	fixture.NeedTool(t, "setarch")
	moved := 0
	compare := func(t *testing.T, name string, args ...string) {
		naive := traceRun(t, append(args, "--placement=naive")...)
		auto := traceRun(t, append(args, "-v")...)
		for _, r := range []result{naive, auto} {
			if r.status != 0 || !strings.Contains(r.stdout, "statistics:") {
				dumpOnFailure(t, r)
				t.Fatalf("%s: exit status %d; want 0 and traces", name, r.status)
			}
		}
		for _, m := range movedReturnsRE.FindAllStringSubmatch(auto.stderr, -1) {
			n, _ := strconv.Atoi(m[1])
			moved += n
			t.Logf("%s: %s", name, strings.TrimPrefix(m[0], "placement: "))
		}
		if got, want := pidRE.ReplaceAllString(uninitialised(name, auto.stdout), "[PID]"), pidRE.ReplaceAllString(uninitialised(name, naive.stdout), "[PID]"); got != want {
			t.Errorf("%s: automatic placement prints\n%s\nnaive placement\n%s\nstderr:\n%s", name, got, want, auto.stderr)
		}
	}
	for _, v := range verdictVariants {
		if v.Opt != "-O2" && v.Compiler != "gcc" {
			continue
		}
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "follow", v)
			for _, c := range followCases {
				compare(t, c.fn, fmt.Sprintf("process(%q)", b.Path), c.fn, "$return < 0", "--follow",
					"-c", fmt.Sprintf("setarch -R %q >/dev/null", b.Path))
			}
		})
	}
	t.Run("glibc-fopen", func(t *testing.T) {
		b := fixture.Build(t, "follow", fixture.Default)
		probe := traceRun(t, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "fopen", "$return == 0", "-c", b.Path+" >/dev/null")
		if probe.status != 0 && strings.Contains(probe.stderr, "debug") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(probe.stderr))
		}
		compare(t, "fopen", `process("/lib/x86_64-linux-gnu/libc.so.6")`, "fopen", "$return == 0", "--follow", "--follow-eager",
			"-c", fmt.Sprintf("setarch -R %q >/dev/null", b.Path))
	})
	t.Run("glibc-getaddrinfo", func(t *testing.T) {
		// A numeric lookup (getent's getaddrinfo): over a hundred
		// return probes in the functions getaddrinfo calls move.
		fixture.NeedTool(t, "getent")
		probe := traceRun(t, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "getaddrinfo", "$return == 0", "-c", "getent ahosts 127.0.0.1 >/dev/null")
		if probe.status != 0 && strings.Contains(probe.stderr, "debug") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(probe.stderr))
		}
		compare(t, "getaddrinfo", `process("/lib/x86_64-linux-gnu/libc.so.6")`, "getaddrinfo", "$return == 0", "--follow", "--follow-eager",
			"-c", "setarch -R getent ahosts 127.0.0.1 >/dev/null")
	})
	if moved == 0 {
		t.Errorf("no return probe moved")
	}
}

// originRRE matches r's value in an origin's statement line.
var originRRE = regexp.MustCompile(`^(\S+\[\S+\] \S+ \$\$vars: n=0x0 r=)0x[0-9a-f]+$`)

// uninitialised masks, for recurse, the value of the local r in the
// origin's statements (down(0), which returns before assigning it): what
// the stack held before. Other outputs are unchanged.
func uninitialised(name, out string) string {
	if name != "recurse" {
		return out
	}
	lines := strings.Split(out, "\n")
	in := false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "origin's statements: down,"):
			in = true
		case !stmtRE.MatchString(l):
			in = false
		case in:
			lines[i] = originRRE.ReplaceAllString(l, "${1}(uninitialised)")
		}
	}
	return strings.Join(lines, "\n")
}
