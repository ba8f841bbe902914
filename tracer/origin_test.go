package tracer_test

import (
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestFollowOriginPID: with --follow -x, the first failure prints its
// calls and names the origin; whythefail then places the origin's
// statement probes, says so in one line, and the next failure prints
// lookup's statements after its origin: line, down to its return
// -ENOENT. When no failure comes after that, one line says so at exit.
func TestFollowOriginPID(t *testing.T) {
	fixture.RequireBPF(t)
	wtf := whythefail(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	const file = "/fixture/src/follow.c"
	for _, again := range []bool{true, false} {
		t.Run(fmt.Sprintf("again=%v", again), func(t *testing.T) {
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
			cmd := exec.Command(wtf, fmt.Sprintf("process(%q)", b.Path), "passup", "$return < 0", "--follow", "-x", strconv.Itoa(prog.Process.Pid))
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
			io.WriteString(in, "ok\nfail\n")
			placed := "whythefail: lookup's statements are traced from now on"
			waitFor(t, "the origin's probes placed", func() bool { return strings.Contains(errb.String(), placed) })
			if again {
				io.WriteString(in, "ok\nfail\n")
				waitFor(t, "the second trace", func() bool { return strings.Count(out.String(), "function(passup)") == 2 })
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
			body, _, ok := strings.Cut(out.String(), "\nstatistics:\n")
			if !ok {
				t.Fatal("no statistics")
			}
			traces := strings.Split(strings.TrimPrefix(body, "\n"), "\n\n")
			want := 1
			if again {
				want = 2
			}
			if len(traces) != want {
				t.Fatalf("%d traces, want %d", len(traces), want)
			}
			origin := fmt.Sprintf("origin: lookup (%s:%d) returned -2, passed up", file, m["passup-call"])
			heading := fmt.Sprintf("origin's statements: lookup, in the call lookup (%s:%d), call 1 from that site:", file, m["passup-call"])
			for i, tr := range traces {
				lines := strings.Split(tr, "\n")
				at := -1
				for k, l := range lines {
					if l == origin {
						at = k
					}
				}
				if at < 0 {
					t.Fatalf("trace %d has no line %q", i, origin)
				}
				if i == 0 {
					if strings.HasPrefix(lines[at+1], "origin's statements") {
						t.Errorf("the first trace has the origin's statements, placed only after it")
					}
					continue
				}
				if lines[at+1] != heading {
					t.Fatalf("after the origin line %q, want %q", lines[at+1], heading)
				}
				var got []string
				for _, l := range lines[at+2:] {
					if strings.HasPrefix(l, "why: ") {
						break
					}
					_, rest, _ := strings.Cut(l, "] ")
					got = append(got, rest)
				}
				var want []string
				for _, n := range []int{m["lookup-fail"] - 3, m["lookup-fail"] - 2, m["lookup-fail"] - 1, m["lookup-fail"], m["lookup-ok"] + 1} {
					want = append(want, fmt.Sprintf("%s:%d $$vars: key=0x7", file, n))
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("origin's statements:\n%s\nwant (gcc -O0: every line of lookup but its other return)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			notRecurred := strings.Contains(errb.String(), "whythefail: the failure did not recur once lookup's statements were placed: no trace shows them\n")
			if notRecurred == again {
				t.Errorf("stderr says the failure did not recur: %v; want %v", notRecurred, !again)
			}
		})
	}
}
