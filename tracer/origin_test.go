package tracer_test

import (
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
)

// followPID runs the follow fixture reading lines on stdin, attaches
// whythefail with --follow -x to it, feeds it first, waits until
// whythefail says the origin's statements (of origin) are placed, feeds
// it then (when not empty) and waits for the second trace, then ends the
// fixture and returns whythefail's stdout and stderr once it exited.
func followPID(t *testing.T, b *fixture.Binary, target, fn, cond, origin, first, then string) (string, string) {
	t.Helper()
	steps := []pidStep{{feed: first, placed: origin}}
	if then != "" {
		steps = append(steps, pidStep{feed: then, traces: 2})
	}
	return followPIDSteps(t, b, target, fn, cond, steps)
}

// pidStep is a step of followPIDSteps: lines fed to the fixture, then
// what is waited for: whythefail saying the statements of placed are
// traced from now on (its calls followed too, or not), or traces traces
// of fn printed.
type pidStep struct {
	feed, placed string
	traces       int
}

// placedLine reports whether stderr says origin's statements are placed,
// its calls followed too or not.
func placedLine(stderr, origin string) bool {
	return strings.Contains(stderr, "whythefail: "+origin+"'s statements are traced from now on") ||
		strings.Contains(stderr, "whythefail: "+origin+"'s calls are followed and its statements traced from now on")
}

// followPIDSteps runs the follow fixture reading lines on stdin, attaches
// whythefail with --follow -x to it, takes each step, then ends the
// fixture and returns whythefail's stdout and stderr once it exited.
func followPIDSteps(t *testing.T, b *fixture.Binary, target, fn, cond string, steps []pidStep) (string, string) {
	t.Helper()
	prog := exec.Command(b.Path)
	prog.Env = []string{"FOLLOW_STDIN=1"}
	in, err := prog.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := prog.Start(); err != nil {
		t.Fatal(err)
	}
	progDone := make(chan error, 1)
	go func() { progDone <- prog.Wait() }()
	defer func() {
		prog.Process.Kill()
		<-progDone
	}()
	var out, errb syncBuffer
	cmd := exec.Command(whythefail(t), target, fn, cond, "--follow", "-x", strconv.Itoa(prog.Process.Pid))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
		}
	}()
	waitFor(t, "the probes attached", func() bool { return strings.Contains(errb.String(), "probes attached") })
	for _, s := range steps {
		io.WriteString(in, s.feed)
		if s.placed != "" {
			waitFor(t, s.placed+"'s probes placed", func() bool { return placedLine(errb.String(), s.placed) })
		}
		if s.traces > 0 {
			waitFor(t, fmt.Sprintf("trace %d", s.traces), func() bool { return strings.Count(out.String(), "function("+fn+")") == s.traces })
		}
	}
	in.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("whythefail: %v", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("whythefail did not end with its target")
	}
	return out.String(), errb.String()
}

// pidTraces splits -x's output into its traces, each as its lines, and
// checks their count and that each has the origin line.
func pidTraces(t *testing.T, out string, n int, origin func(string) bool) [][]string {
	t.Helper()
	body, _, ok := strings.Cut(out, "\nstatistics:\n")
	if !ok {
		t.Fatal("no statistics")
	}
	var traces [][]string
	for _, tr := range strings.Split(strings.TrimPrefix(body, "\n"), "\n\n") {
		traces = append(traces, strings.Split(tr, "\n"))
	}
	if len(traces) != n {
		t.Fatalf("%d traces, want %d", len(traces), n)
	}
	for i, tr := range traces {
		found := false
		for _, l := range tr {
			found = found || origin(l)
		}
		if !found {
			t.Fatalf("trace %d has no origin line:\n%s", i, strings.Join(tr, "\n"))
		}
	}
	return traces
}

// stagedTraces splits the output of a -x run that went one level deeper
// at each failure into its traces, one per line of origins, and checks
// that trace i has the origin line origins[i] and that only the last
// prints the origin's statements (an earlier one came before they were
// placed, or blamed a call below the one whose statements were: its
// heading says the origin's are not traced, and prints that call's).
func stagedTraces(t *testing.T, out string, origins ...string) [][]string {
	t.Helper()
	traces := pidTraces(t, out, len(origins), func(l string) bool { return slices.Contains(origins, l) })
	for i, want := range origins {
		if !slices.Contains(traces[i], want) {
			t.Errorf("trace %d: no line %q", i, want)
		}
		if h, _ := originStmts(traces[i]); (h != "" && !strings.HasPrefix(h, "origin's statements: not traced")) != (i == len(origins)-1) {
			t.Errorf("trace %d: origin's statements heading %q; want statements in the last trace only", i, h)
		}
	}
	return traces
}

// originStmts returns the heading after a trace's origin line and the
// statement lines under it, without their comm[tid] prefix.
func originStmts(tr []string) (string, []string) {
	for k, l := range tr {
		if !strings.HasPrefix(l, "origin's statements") {
			continue
		}
		var stmts []string
		for _, s := range tr[k+1:] {
			if strings.HasPrefix(s, "why: ") {
				break
			}
			_, rest, _ := strings.Cut(s, "] ")
			stmts = append(stmts, rest)
		}
		return l, stmts
	}
	return "", nil
}

// TestFollowOriginPID: with --follow -x, the first failure prints its
// calls and names the origin; whythefail then places the origin's
// statement probes, says so in one line, and the next failure prints
// lookup's statements after its origin: line, down to its return
// -ENOENT (gcc -O0: every line of lookup but its other return). When no
// failure comes after that, one line says so at exit.
func TestFollowOriginPID(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	const file = "/fixture/src/follow.c"
	for _, again := range []bool{true, false} {
		t.Run(fmt.Sprintf("again=%v", again), func(t *testing.T) {
			then, n := "", 1
			if again {
				then, n = "ok\nfail\n", 2
			}
			out, errs := followPID(t, b, fmt.Sprintf("process(%q)", b.Path), "passup", "$return < 0", "lookup", "ok\nfail\n", then)
			origin := fmt.Sprintf("origin: lookup (%s:%d) returned -2, passed up", file, m["passup-call"])
			traces := pidTraces(t, out, n, func(l string) bool { return l == origin })
			if h, _ := originStmts(traces[0]); h != "" {
				t.Errorf("the first trace has the origin's statements, placed only after it")
			}
			if again {
				heading, got := originStmts(traces[1])
				if want := fmt.Sprintf("origin's statements: lookup, in the call lookup (%s:%d), call 1 from that site:", file, m["passup-call"]); heading != want {
					t.Errorf("heading %q, want %q", heading, want)
				}
				var want []string
				for _, n := range []int{m["lookup-fail"] - 3, m["lookup-fail"] - 2, m["lookup-fail"] - 1, m["lookup-fail"], m["lookup-ok"] + 1} {
					want = append(want, fmt.Sprintf("%s:%d $$vars: key=0x7", file, n))
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("origin's statements:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			notRecurred := strings.Contains(errs, "whythefail: the failure did not recur once lookup's statements were placed: no trace shows them\n")
			if notRecurred == again {
				t.Errorf("stderr says the failure did not recur: %v; want %v", notRecurred, !again)
			}
		})
	}
}

// TestFollowOriginPIDGlibc: glibc's fopen(path, "qz") with --follow -x:
// the second failure prints _IO_new_file_fopen's statements down to the
// __set_errno (EINVAL) of the default: case of its mode switch, never
// past the switch (lines found by their text in glibc's source).
func TestFollowOriginPIDGlibc(t *testing.T) {
	fixture.RequireBPF(t)
	const fn = "_IO_new_file_fopen (FILE *fp"
	def := fixture.GlibcLine(t, "libio/fileops.c", fn, "default:")
	einval := fixture.GlibcLine(t, "libio/fileops.c", fn, "__set_errno (EINVAL);")
	past := fixture.GlibcLine(t, "libio/fileops.c", fn, "last_recognized = mode;")
	if einval != def+1 {
		t.Fatalf("libio/fileops.c: __set_errno (EINVAL) at line %d does not follow default: at %d", einval, def)
	}
	b := fixture.Build(t, "follow", fixture.Default)
	out, _ := followPID(t, b, `process("/lib/x86_64-linux-gnu/libc.so.6")`, "fopen", "$return == 0", "_IO_new_file_fopen", "q\n", "q\n")
	// The first call sets errno to EINVAL; the second leaves it
	// EINVAL, which a call's errno is only when it changed.
	// The first failure's origin line says _IO_new_file_fopen's calls
	// were not followed yet: they are from then on.
	withErrno := "origin: _IO_new_file_fopen (in __fopen_internal) returned 0x0 with errno EINVAL (22), passed up (its own calls not followed yet: --follow goes one level deeper each time the failure recurs)"
	without := "origin: _IO_new_file_fopen (in __fopen_internal) returned 0x0, passed up"
	traces := pidTraces(t, out, 2, func(l string) bool { return l == withErrno || l == without })
	for i, want := range []string{withErrno, without} {
		if !slices.Contains(traces[i], want) {
			t.Errorf("trace %d: no line %q", i, want)
		}
	}
	heading, stmts := originStmts(traces[1])
	if !strings.HasPrefix(heading, "origin's statements: _IO_new_file_fopen, in the call ") || !strings.HasSuffix(heading, "fopen (in __fopen_internal), call 1 from that site:") {
		t.Errorf("heading %q: want _IO_new_file_fopen's statements for the call in __fopen_internal", heading)
	}
	reached := false
	for _, s := range stmts {
		if !strings.HasPrefix(s, "./libio/fileops.c:") {
			t.Errorf("statement %q is not in libio/fileops.c", s)
		}
		reached = reached || strings.HasPrefix(s, fmt.Sprintf("./libio/fileops.c:%d ", einval))
		if strings.HasPrefix(s, fmt.Sprintf("./libio/fileops.c:%d ", past)) {
			t.Errorf("statement %q is past the mode switch", s)
		}
	}
	if !reached {
		t.Errorf("the origin's statements do not reach line %d (__set_errno (EINVAL)): %q", einval, stmts)
	}
}
