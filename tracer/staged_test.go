package tracer_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/tracer"
)

// TestFollowStagedProbes: --follow probes the calls FUNCTION makes and
// no other until a failure blames one (three's call of mid3 only: mid3's
// other callers, spin among them, pay nothing); a later run that follows
// the blamed call (Config.FollowAlso) adds mid3's call of leaf3, and
// leaf3, which makes no call, is never left for later. --follow-eager
// probes every level at once.
func TestFollowStagedProbes(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "follow", fixture.Default)
	base := tracer.Config{Target: fmt.Sprintf("process(%q)", b.Path), Function: "three", Condition: "$return < 0", Follow: true}
	sites := func(cfg tracer.Config) (*follow.Plan, map[string]int) {
		t.Helper()
		job, err := tracer.Prepare(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, s := range job.Follow.Sites {
			n[fmt.Sprintf("%s→%s depth %d deferred %v", s.Func, s.Callee, s.Depth, s.Deferred)]++
		}
		return job.Follow, n
	}
	check := func(name string, got map[string]int, want ...string) {
		t.Helper()
		if keys := slices.Sorted(maps.Keys(got)); strings.Join(keys, "; ") != strings.Join(want, "; ") {
			t.Errorf("%s: call sites %q, want %q", name, keys, want)
		}
	}
	staged, got := sites(base)
	check("staged", got, "three→mid3 depth 1 deferred true")
	eager := base
	eager.FollowEager = true
	_, got = sites(eager)
	check("eager", got, "mid3→leaf3 depth 2 deferred false", "three→mid3 depth 1 deferred false")

	s := staged.Sites[0]
	blame := follow.Blame{Callee: "mid3", Binary: b.Path, Target: s.Target, SiteBinary: b.Path, Site: s.PC, Nth: 1, Depth: 1}
	if !staged.Deferred(blame) {
		t.Errorf("the staged plan does not leave mid3's calls for later")
	}
	next := base
	next.FollowAlso = []follow.Blame{blame}
	p, got := sites(next)
	check("mid3 followed", got, "mid3→leaf3 depth 2 deferred false", "three→mid3 depth 1 deferred false")
	if !p.CallsIn(blame) {
		t.Errorf("CallsIn(mid3) false in the plan that follows it")
	}
}

// TestFollowStagedPID: with --follow -x, each failure of three goes one
// level deeper: the first names mid3 (its calls not followed yet), and
// whythefail follows mid3's calls (and places its statements); the
// second names leaf3, and whythefail places leaf3's statements; the
// third prints them, with key=7.
func TestFollowStagedPID(t *testing.T) {
	fixture.RequireBPF(t)
	m := fixture.Markers(t, fixture.Source("follow"))
	b := fixture.Build(t, "follow", fixture.Default)
	const file = "/fixture/src/follow.c"
	out, errs := followPIDSteps(t, b, fmt.Sprintf("process(%q)", b.Path), "three", "$return < 0", []pidStep{{feed: "t\n", placed: "mid3"}, {feed: "t\n", placed: "leaf3"}, {feed: "t\n", traces: 3}})
	first := fmt.Sprintf("origin: mid3 (%s:%d) returned -2, passed up (its own calls not followed yet: --follow goes one level deeper each time the failure recurs)", file, m["three-call"])
	deeper := fmt.Sprintf("origin: leaf3 (%s:%d) returned -2, passed up", file, m["mid3-call"])
	traces := stagedTraces(t, out, first, deeper, deeper)
	for _, want := range []string{"whythefail: mid3's calls are followed and its statements traced from now on (", "whythefail: leaf3's statements are traced from now on ("} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr has no line starting %q", want)
		}
	}
	heading, stmts := originStmts(traces[2])
	if want := fmt.Sprintf("origin's statements: leaf3, in the call leaf3 (%s:%d), call 1 from that site:", file, m["mid3-call"]); heading != want || len(stmts) == 0 {
		t.Errorf("heading %q and %d statements, want %q and statements", heading, len(stmts), want)
	}
	for _, s := range stmts {
		var n int
		if _, err := fmt.Sscanf(s, file+":%d $$vars: key=0x7", &n); err != nil || n < m["leaf3-fail"]-3 || n > m["leaf3-ok"]+1 {
			t.Errorf("statement %q: want one of leaf3's lines with key=0x7", s)
		}
	}
}
