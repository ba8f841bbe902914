package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// supersededRE matches -v's line on the branch probes the why: line kept.
var supersededRE = regexp.MustCompile(`(?m)^whythefail: placement: (\d+) of (\d+) branch probes for the why: line, the others left out: another probed branch always follows them before any return$`)

// identicalVerdicts traces with automatic placement (-v), which leaves
// out the branch probes that can never be a trace's last, and with
// --placement=naive, which probes every branch, and fails unless stdout
// is the same byte for byte but for the process ids. It returns how many
// branch probes automatic placement left out.
func identicalVerdicts(t *testing.T, args ...string) int {
	t.Helper()
	naive := traceRun(t, append([]string{"--placement=naive"}, args...)...)
	auto := traceRun(t, append([]string{"-v"}, args...)...)
	for _, r := range []result{naive, auto} {
		if r.status != 0 && strings.Contains(r.stderr, "no debug info") {
			fixture.Missing(t, "%s: install libc6-dbg", strings.TrimSpace(r.stderr))
		}
		if r.status != 0 || !strings.Contains(r.stdout, "\nwhy: ") {
			dumpOnFailure(t, r)
			t.Fatalf("exit status %d; want 0 and verdicts", r.status)
		}
	}
	if got, want := pidRE.ReplaceAllString(auto.stdout, "[PID]"), pidRE.ReplaceAllString(naive.stdout, "[PID]"); got != want {
		t.Errorf("%v: with superseded branches unprobed\n%s\nwith every branch probed\n%s\n-v:\n%s", args, got, want, auto.stderr)
	}
	m := supersededRE.FindStringSubmatch(auto.stderr)
	if m == nil {
		return 0
	}
	kept, _ := strconv.Atoi(m[1])
	all, _ := strconv.Atoi(m[2])
	if kept >= all {
		t.Errorf("%v: -v says %s", args, m[0])
	}
	return all - kept
}

// TestVerdictSuperseded: every call of each function of the branches
// fixture (every return, so every deciding branch its paths reach) and
// of glibc's getaddrinfo (successful lookups and a failing one) gets the
// same why: line whether or not the branches another probed branch
// always follows are probed, in every fixture variant.
func TestVerdictSuperseded(t *testing.T) {
	fixture.RequireBPF(t)
	fixture.NeedTool(t, "setarch")
	left := 0
	for _, v := range fixture.Variants() {
		t.Run(v.String(), func(t *testing.T) {
			b := fixture.Build(t, "branches", v)
			for _, fn := range []string{"both", "pick", "find", "setup", "late", "opendev", "closedev"} {
				args := append(debugDir(b), fmt.Sprintf("process(%q)", b.Path), fn, "1", "--max-statements", "4096",
					"-c", fmt.Sprintf("setarch -R %q 20 >/dev/null", b.Path))
				n := identicalVerdicts(t, args...)
				t.Logf("%s: %d branch probes left out", fn, n)
				left += n
			}
		})
	}
	t.Run("glibc", func(t *testing.T) {
		const libc = "/lib/x86_64-linux-gnu/libc.so.6"
		if _, err := os.Stat(libc); err != nil {
			fixture.Missing(t, "no %s: %v", libc, err)
		}
		prog := filepath.Join(t.TempDir(), "gai")
		if err := os.WriteFile(prog+".c", []byte(gaiProgram), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("gcc", "-O1", "-o", prog, prog+".c").CombinedOutput(); err != nil {
			t.Fatalf("compiling: %v: %s", err, out)
		}
		n := identicalVerdicts(t, fmt.Sprintf("process(%q)", libc), "getaddrinfo", "1", "-c", "setarch -R "+prog)
		t.Logf("getaddrinfo: %d branch probes left out", n)
		if n == 0 {
			t.Errorf("getaddrinfo: no branch probe left out")
		}
		left += n
	})
	if left == 0 {
		t.Errorf("no branch probe left out in any variant")
	}
}
