package cli_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestNotesLevels traces the demo's failing call at -O2, where several
// variables print ? at some statements: by default stderr holds one summary
// note, -v one note per variable naming the lines where it prints ? and
// why, -q nothing (not even the line saying the probes are attached); the
// trace is the same at every level.
func TestNotesLevels(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "demo", fixture.Default)
	target := fmt.Sprintf("process(%q)", b.Path)
	var shapes []string
	for _, c := range []struct{ name, flag string }{{"default", ""}, {"verbose", "-v"}, {"quiet", "-q"}} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{target, "load_config", "$return == -22", "-c", b.Path + " 200 >/dev/null"}
			if c.flag != "" {
				args = append(args, c.flag)
			}
			r := traceRun(t, args...)
			defer dumpOnFailure(t, r)
			if r.status != 0 {
				t.Fatalf("exit status %d", r.status)
			}
			notes, progress := splitProgress(r.stderr)
			// -v also says where each probe went: TestPlacementIdentical
			// checks those lines, which depend on the kernel.
			notes = placementRE.ReplaceAllString(notes, "")
			if want := c.flag != "-q"; (len(progress) == 1 && attachedRE.MatchString(progress[0])) != want {
				t.Errorf("progress lines %q: want the attached line: %v", progress, want)
			}
			fixture.Golden(t, filepath.Join("testdata", "notes", c.name+".txt"), b.Redact([]byte(notes)))
			traces, _ := parseOutput(t, r.stdout)
			if len(traces) != 1 {
				t.Fatalf("%d traces, want 1", len(traces))
			}
			shapes = append(shapes, fmt.Sprint(printedLines(traces[0])))
		})
	}
	if len(shapes) == 3 && (shapes[0] != shapes[1] || shapes[1] != shapes[2]) {
		t.Errorf("the notes level changed the trace: lines %s", strings.Join(shapes, ", "))
	}
}

// splitProgress separates the lines saying that probes are attached or being
// detached (which a loaded machine may or may not print) from the rest of
// stderr.
func splitProgress(stderr string) (rest string, progress []string) {
	var b strings.Builder
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if t := strings.TrimSuffix(l, "\n"); attachedRE.MatchString(t) || detachingRE.MatchString(t) {
			progress = append(progress, t)
			continue
		}
		b.WriteString(l)
	}
	return b.String(), progress
}
