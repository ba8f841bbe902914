package tracer_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestFollowDlopenPID: with --follow -x, a failure that came from plug_run
// of libdlplug.so, which the traced process loaded with dlopen and run
// called through a pointer, names it with its file; whythefail then
// follows plug_run's calls in the plugin (and places its statements), so
// the next failure names check, inside it, as the origin; whythefail
// places check's statement probes, and the third failure prints them
// after its origin: line, every one in dlplug.c, with v=4, down to its
// failing return.
func TestFollowDlopenPID(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("dlhost"))
	pm := fixture.Markers(t, filepath.Join(fixture.SourceDir(), "dlplug.c"))
	b := fixture.Build(t, "dlhost", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	const host, plug = "/fixture/src/dlhost.c", "/fixture/src/dlplug.c"
	// Each failure goes one level deeper: plug_run's calls are followed
	// (and its statements traced) after the first, check's statements
	// traced after the second, printed at the third.
	fail := "ok\nfail\n"
	out, _ := followPIDSteps(t, b, fmt.Sprintf("process(%q)", b.Path), "run", "$return < 0", []pidStep{{feed: fail, placed: "plug_run"}, {feed: fail, placed: "check"}, {feed: fail, traces: 3}})
	call := fmt.Sprintf("plug_run in %s (%s:%d)", filepath.Base(b.Lib), host, m["run-call"])
	inner := fmt.Sprintf("check (%s:%d)", plug, pm["plug-call"])
	first := "origin: " + call + " returned -22, passed up"
	deeper := "origin: " + inner + " returned -22, passed up"
	traces := stagedTraces(t, out, first, deeper, deeper)
	heading, stmts := originStmts(traces[2])
	if want := "origin's statements: check, in the call " + inner + ", call 1 from that site:"; heading != want {
		t.Errorf("heading %q, want %q", heading, want)
	}
	sawFail := false
	for _, s := range stmts {
		where, vars, _ := strings.Cut(s, " $$vars: ")
		if !strings.HasPrefix(where, plug+":") {
			t.Errorf("statement %q is not in %s", s, plug)
		}
		if !strings.Contains(" "+vars+" ", " v=0x4 ") && !strings.Contains(" "+vars+" ", " v=? ") {
			t.Errorf("statement %q: want v=0x4 (or ?)", s)
		}
		sawFail = sawFail || where == fmt.Sprintf("%s:%d", plug, pm["check-fail"])
	}
	if !sawFail {
		t.Errorf("check's failing line %d is not among its statements %q", pm["check-fail"], stmts)
	}
}
