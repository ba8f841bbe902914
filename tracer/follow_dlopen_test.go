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
// places plug_run's statement probes in the plugin, and the next failure
// prints them after its origin: line: every one in dlplug.c, its call of
// check among them, with v=4. (Its own calls are not followed under -x:
// only a -c command's re-run follows a pointer's target.)
func TestFollowDlopenPID(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("dlhost"))
	pm := fixture.Markers(t, filepath.Join(fixture.SourceDir(), "dlplug.c"))
	b := fixture.Build(t, "dlhost", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	const host, plug = "/fixture/src/dlhost.c", "/fixture/src/dlplug.c"
	out, _ := followPID(t, b, fmt.Sprintf("process(%q)", b.Path), "run", "$return < 0", "plug_run", "ok\nfail\n", "ok\nfail\n")
	call := fmt.Sprintf("plug_run in %s (%s:%d)", filepath.Base(b.Lib), host, m["run-call"])
	origin := "origin: " + call + " returned -22, passed up"
	traces := pidTraces(t, out, 2, func(l string) bool { return l == origin })
	if h, _ := originStmts(traces[0]); h != "" {
		t.Errorf("the first trace has the origin's statements, placed only after it")
	}
	heading, stmts := originStmts(traces[1])
	if want := "origin's statements: plug_run, in the call " + call + ", call 1 from that site:"; heading != want {
		t.Errorf("heading %q, want %q", heading, want)
	}
	sawCall := false
	for _, s := range stmts {
		where, vars, _ := strings.Cut(s, " $$vars: ")
		if !strings.HasPrefix(where, plug+":") {
			t.Errorf("statement %q is not in %s", s, plug)
		}
		if !strings.Contains(" "+vars+" ", " v=0x4 ") && !strings.Contains(" "+vars+" ", " v=? ") {
			t.Errorf("statement %q: want v=0x4 (or ?)", s)
		}
		sawCall = sawCall || where == fmt.Sprintf("%s:%d", plug, pm["plug-call"])
	}
	if !sawCall {
		t.Errorf("plug_run's call of check (line %d) is not among its statements %q", pm["plug-call"], stmts)
	}
}
