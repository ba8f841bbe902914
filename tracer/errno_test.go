package tracer_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestErrnoAttachPID attaches with -x to a process that has been running
// (its libc loaded and its dynamic linker's lists built long before) and
// creates threads every 10 ms, each failing with its own errno: a
// condition on errno() must pick exactly the thread opening
// /dev/null/config (ENOTDIR), in a program function and in libc's open.
func TestErrnoAttachPID(t *testing.T) {
	fixture.RequireBPF(t)
	wtf := whythefail(t)
	b := fixture.Build(t, "errno", fixture.Default)
	for _, tc := range []struct{ target, fn, param string }{
		{fmt.Sprintf("process(%q)", b.Path), "open_config", "$path$"},
		{`process("/lib/x86_64-linux-gnu/libc.so.6")`, "open", "$file$"},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			target := exec.Command(b.Path, "0")
			if err := target.Start(); err != nil {
				t.Fatal(err)
			}
			targetDone := make(chan error, 1)
			go func() { targetDone <- target.Wait() }()
			defer func() {
				target.Process.Kill()
				<-targetDone
			}()
			// Let it run a few rounds before attaching.
			time.Sleep(100 * time.Millisecond)
			var out, errb syncBuffer
			cmd := exec.Command(wtf, tc.target, tc.fn, "$return == -1 && errno() == ENOTDIR", tc.param, "-x", strconv.Itoa(target.Process.Pid))
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			waitFor(t, "three traces", func() bool { return strings.Count(out.String(), "function("+tc.fn+")") >= 3 })
			target.Process.Kill()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("whythefail: %v; stderr: %s", err, errb.String())
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("whythefail did not end with its target; stderr: %s", errb.String())
			}
			if s := errb.String(); strings.Contains(s, "errno()") {
				t.Errorf("note about errno(): %s", s)
			}
			body, stats, ok := strings.Cut(out.String(), "\nstatistics:\n")
			if !ok {
				t.Fatalf("no statistics:\n%s", out.String())
			}
			header := regexp.MustCompile(`^errno\[\d+\] .* function\(` + tc.fn + `\) \$return: -1$`)
			stmt := regexp.MustCompile(`^errno\[\d+\] \S+:\d+ ` + regexp.QuoteMeta(tc.param) + `: "/dev/null/config"$`)
			traces := 0
			for _, l := range strings.Split(body, "\n") {
				switch {
				case l == "":
				case header.MatchString(l):
					traces++
				case strings.HasPrefix(l, "why: "): // the verdict, checked in internal/cli
				case !stmt.MatchString(l):
					t.Errorf("unexpected line %q", l)
				}
			}
			if !strings.Contains(stats, fmt.Sprintf("\nexit-hit count: %d\n", traces)) {
				t.Errorf("%d traces printed; statistics:\n%s", traces, stats)
			}
		})
	}
}
