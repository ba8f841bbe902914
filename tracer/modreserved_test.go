package tracer

import (
	"context"
	"debug/elf"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// TestModuleReserved: a module's static call sites, read from the
// relocations of its .static_call_sites, are every call of a static call
// trampoline (__SCT__*) objdump -dr shows in 9pnet.ko's .text, and its
// jump label sites include the first instruction after each tracepoint
// function's ftrace call (do_trace_9p_fid_get+0x5): no kprobe goes there.
func TestModuleReserved(t *testing.T) {
	rel := guestRelease(t)
	fixture.NeedTool(t, "objdump")
	m, err := target.OpenModule(context.Background(), "9pnet", target.KernelOptions{Release: rel})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rs := kernelReserved(m)
	text := -1
	for i, s := range m.ELF.Sections {
		if s.Name == ".text" {
			text = i
		}
	}
	var base uint64
	for _, s := range m.Symbols() {
		if raw, ok := rawSymbol(m, s.Name); ok && int(raw.Section) == text {
			base = s.Value - raw.Value
			break
		}
	}
	out, err := exec.Command("objdump", "-dr", "-j", ".text", m.Path).Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s+([0-9a-f]+): R_X86_64_PLT32\s+__SCT__\S+-0x4$`)
	n := 0
	for _, mt := range re.FindAllStringSubmatch(string(out), -1) {
		off, _ := strconv.ParseUint(mt[1], 16, 64)
		call := base + off - 1 // the call's e8 before its operand
		if why := rs.why(call); why != "a static call site" {
			t.Errorf(".text+%#x: %q, want a static call site", off-1, why)
		}
		n++
	}
	if n == 0 {
		t.Fatal("objdump showed no call of a static call trampoline")
	}
	for _, s := range m.Symbols() {
		if s.Name == "do_trace_9p_fid_get" {
			if why := rs.why(s.Value + 5); why != "a jump label (static key) site" {
				t.Errorf("do_trace_9p_fid_get+0x5: %q, want a jump label site", why)
			}
		}
	}
}

// rawSymbol is the .ko's own symbol named name (its value in its section).
func rawSymbol(m *target.Module, name string) (elf.Symbol, bool) {
	syms, err := m.ELF.Symbols()
	if err != nil {
		return elf.Symbol{}, false
	}
	for _, s := range syms {
		if s.Name == name && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			return s, true
		}
	}
	return elf.Symbol{}, false
}

// TestModuleFollowPlan: --follow in 9pnet's p9_client_create names its
// calls by the .ko's relocations (the kernel's strcmp, not followed; the
// module's v9fs_get_trans_by_name, followed into), leaves out the calls
// at its static call sites, and the statements of a blamed call of the
// module's own function are planned as kprobes in that function.
func TestModuleFollowPlan(t *testing.T) {
	rel := guestRelease(t)
	cfg := Config{Target: `module("9pnet")`, Function: "p9_client_create", Condition: "$return == -22", Release: rel, Follow: true}
	job, err := prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var trans *follow.Site
	sawStrcmp := false
	for _, s := range job.Follow.Sites {
		if s.Depth != 1 {
			continue
		}
		switch s.Callee {
		case "strcmp":
			sawStrcmp = true
			if s.Target != 0 || s.Followed {
				t.Errorf("strcmp: target %#x, followed %v; want the kernel's, not followed", s.Target, s.Followed)
			}
		case "v9fs_get_trans_by_name":
			trans = s
		}
		if strings.HasPrefix(s.Callee, "__SCT__") {
			t.Errorf("a call of %s at %#x, a static call site, is probed", s.Callee, s.PC)
		}
	}
	if !sawStrcmp || trans == nil || trans.Target == 0 || !trans.Deferred || trans.Followed {
		t.Fatalf("strcmp seen %v, v9fs_get_trans_by_name %+v: want both, the module's left for the next run (one level per run)", sawStrcmp, trans)
	}
	eager := cfg
	eager.FollowEager = true
	ej, err := prepareOther(t, eager)
	if err != nil {
		t.Fatal(err)
	}
	followed := false
	for _, s := range ej.Follow.Sites {
		followed = followed || s.Depth == 1 && s.Callee == "v9fs_get_trans_by_name" && s.Followed
	}
	if !followed {
		t.Error("--follow-eager: v9fs_get_trans_by_name's calls not followed")
	}
	cfg.Origin = &follow.Blame{Callee: "v9fs_get_trans_by_name", Target: trans.Target, Site: trans.PC, Nth: 1, Depth: 1}
	job, err = prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if job.Origin == nil || len(job.Origin.Stmts) == 0 {
		t.Fatalf("no origin statements: %s", job.originMiss)
	}
	n := 0
	for _, st := range job.Plan.Stmts {
		if _, ok := job.Origin.Stmts[st.ID]; ok {
			n++
			if st.Symbol != "v9fs_get_trans_by_name" {
				t.Errorf("origin statement %d at %s+%#x, want in v9fs_get_trans_by_name", st.ID, st.Symbol, st.FileOffset)
			}
		}
	}
	if n == 0 {
		t.Error("no origin statement in the plan")
	}
}
