package tracer_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/tracer"
)

// TestOriginPlacementAvoidsSite: the origin's statements (the re-run of
// --follow -c) are never moved onto the blamed call's probes, where they
// would be dropped as sharing them. On the follow fixture at gcc -O0,
// recurse blames down's recursive call at @down-call, whose first
// emulated instruction is that call: the statement of that line does
// not move forward onto it (-v says why), and is probed either at its
// own address, as with --placement=naive, or earlier on the line that
// leads to it (placer.before), never at the blamed call's probes.
func TestOriginPlacementAvoidsSite(t *testing.T) {
	fixture.RequireBPF(t)
	b := fixture.Build(t, "follow", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	line := fixture.Line(t, fixture.Source("follow"), "down-call")
	auto, _ := tracer.KernelPlacement()
	cfg := tracer.Config{Target: fmt.Sprintf("process(%q)", b.Path), Function: "recurse", Condition: "$return < 0", Follow: true, FollowEager: true, Variable: "$$vars"}
	job, err := tracer.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var site *follow.Site
	for _, s := range job.Follow.Sites {
		if s.Callee == "down" && s.Depth == 2 {
			site = s
		}
	}
	if site == nil {
		t.Fatal("no call of down in down")
	}
	cfg.Origin = &follow.Blame{Callee: "down", Binary: b.Path, Target: site.Target, SiteBinary: b.Path, Site: site.PC, Nth: 2, Depth: 2}
	offsets := func(p tracer.Placement) ([]uint64, []string, map[uint64]bool) {
		cfg.Placement = p
		job, err := tracer.Prepare(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if job.Origin == nil || job.Origin.Function != "down" {
			t.Fatalf("origin %+v, want down's statements", job.Origin)
		}
		blamed := map[uint32]bool{}
		for _, s := range job.Follow.Sites {
			if s.PC == site.PC {
				blamed[s.CallID], blamed[s.ReturnID] = true, true
			}
		}
		var offs []uint64
		sites := map[uint64]bool{}
		for _, st := range job.Plan.Stmts {
			if rs, ok := job.Origin.Stmts[st.ID]; ok && rs.Line == line {
				offs = append(offs, st.FileOffset)
			}
			if blamed[st.ID] {
				sites[st.FileOffset] = true
			}
		}
		return offs, job.Placement, sites
	}
	naive, _, _ := offsets(tracer.Placement{})
	got, why, sites := offsets(auto)
	if len(naive) != 1 || len(got) == 0 || len(sites) == 0 {
		t.Fatalf("down's statement at line %d probed at %#x with automatic placement, %#x with naive, the blamed call's probes at %v", line, got, naive, sites)
	}
	for _, off := range got {
		if sites[off] {
			t.Errorf("down's statement at line %d probed at %#x, one of the blamed call's probes", line, off)
		}
	}
	prefix := fmt.Sprintf("placement: /fixture/src/follow.c:%d at ", line)
	found := false
	for _, l := range why {
		if strings.HasPrefix(l, prefix) {
			found = true
			kept := strings.Contains(l, "holds the blamed call's probe, whose records delimit the call's")
			if kept != (fmt.Sprint(got) == fmt.Sprint(naive)) || !kept && !strings.Contains(l, ": recorded earlier, at ") {
				t.Errorf("-v: %q (probed at %#x, naive %#x), want it kept off the blamed call's probe or recorded earlier", l, got, naive)
			}
		}
	}
	if !found {
		t.Errorf("-v has no line %q...: %q", prefix, why)
	}
}
