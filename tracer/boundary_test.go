package tracer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// TestPassThrough: which code passes a callee's return value on
// unchanged, on every path.
func TestPassThrough(t *testing.T) {
	const addr, callee, fentry, thunk = 0x1000, 0x5000, 0x6000, 0x7000
	rel := func(op byte, at int, to uint64) []byte {
		d := uint32(int64(to) - int64(addr+at+5))
		return []byte{op, byte(d), byte(d >> 8), byte(d >> 16), byte(d >> 24)}
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	movArgs := []byte{0x48, 0x8b, 0x47, 0x70, 0x48, 0x89, 0xc7} // mov 0x70(%rdi),%rax; mov %rax,%rdi
	for _, c := range []struct {
		name string
		code []byte
		want bool
	}{
		{"__fentry__, args, tail jump", cat(rel(0xe8, 0, fentry), movArgs, rel(0xe9, 12, callee)), true},
		{"call then ret", cat(rel(0xe8, 0, callee), []byte{0xc3}), true},
		{"call, pop, add rsp, return thunk", cat(rel(0xe8, 0, callee), []byte{0x5b, 0x48, 0x83, 0xc4, 0x08}, rel(0xe9, 10, thunk)), true},
		{"call then a jump elsewhere", cat(rel(0xe8, 0, callee), rel(0xe9, 5, 0x8000)), false},
		{"call, cltq: rax changed", cat(rel(0xe8, 0, callee), []byte{0x48, 0x98, 0xc3}), false},
		{"call, pop rax", cat(rel(0xe8, 0, callee), []byte{0x58, 0xc3}), false},
		{"a branch before", cat([]byte{0x74, 0x01, 0xc3}, rel(0xe9, 3, callee)), false},
		{"another call before", cat(rel(0xe8, 0, 0x9000), rel(0xe9, 5, callee)), false},
		{"a jump to another function", cat(rel(0xe9, 0, 0x9000)), false},
		{"no call at all", []byte{0x31, 0xc0, 0xc3}, false},
	} {
		if got := passThrough(c.code, addr, callee, knownTargets{fentry: fentry, thunk: thunk}); got != c.want {
			t.Errorf("%s: passThrough = %v, want %v", c.name, got, c.want)
		}
	}
}

// objdumpReturns lists, from objdump's disassembly of sym in vmlinux, the
// offsets of its ret instructions and jumps to __x86_return_thunk.
func objdumpReturns(t *testing.T, vmlinux string, s target.Symbol) []uint64 {
	t.Helper()
	fixture.NeedTool(t, "objdump")
	out, err := exec.Command("objdump", "-d", "--no-show-raw-insn", "--start-address="+strconv.FormatUint(s.Value, 10),
		"--stop-address="+strconv.FormatUint(s.Value+s.Size, 10), vmlinux).Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^ *([0-9a-f]+):\s+(ret|jmp +[0-9a-f]+ <__x86_return_thunk>)`)
	var offs []uint64
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		a, _ := strconv.ParseUint(m[1], 16, 64)
		offs = append(offs, a-s.Value)
	}
	return offs
}

// TestPrepareBoundary: on Debian's vmlinux, the notrace
// __do_sys_perf_event_open is traced at __x64_sys_perf_event_open, which
// tail-jumps to it (as does __ia32_sys_perf_event_open, noted); its call
// of perf_copy_attr is at the line whose text is that call, perf_copy_attr
// gets an entry probe and one on each way it returns (as objdump finds
// them), reading the return address and rax, recording only calls
// returning into the function (ReturnInto); no statement of the
// function itself is probed, and no verdict is planned.
func TestPrepareBoundary(t *testing.T) {
	rel := guestRelease(t)
	vmlinux := "/usr/lib/debug/boot/vmlinux-" + rel
	if _, err := os.Stat(vmlinux); err != nil {
		fixture.Missing(t, "no vmlinux of %s: %v", rel, err)
	}
	job, err := prepareOther(t, Config{Target: "kernel", Function: "__do_sys_perf_event_open", Condition: "$return == -22", Release: rel})
	if err != nil {
		t.Fatal(err)
	}
	p := job.Plan
	if p.EntrySymbol != "__x64_sys_perf_event_open" || job.Verdict != nil || job.Follow == nil {
		t.Fatalf("entry %s, verdict %v, follow %v", p.EntrySymbol, job.Verdict != nil, job.Follow != nil)
	}
	wantNotes := []string{
		"__do_sys_perf_event_open's statements cannot be shown: __do_sys_perf_event_open is notrace (it has no call of __fentry__), and the kernel's kprobe events refuse notrace functions, so BPF kprobes refuse every address in it; it is traced at its boundary: its calls by __x64_sys_perf_event_open (which returns its value unchanged), and the calls it makes at the entries and returns of the functions it calls",
		"calls of __do_sys_perf_event_open through __ia32_sys_perf_event_open are not traced",
	}
	for i, w := range wantNotes {
		if i >= len(job.Notes) || job.Notes[i] != w {
			t.Errorf("notes %q, want %q first", job.Notes, wantNotes)
			break
		}
	}
	src := kernelSources(t, rel, filepath.Join(t.TempDir(), "src"))["kernel/events/core.c"]
	line := sourceLine(src, "SYSCALL_DEFINE5(perf_event_open,", "err = perf_copy_attr(attr_uptr, &attr);")
	var sites []string
	var ra uint64
	for _, s := range job.Follow.Sites {
		if s.Callee == "perf_copy_attr" {
			ra = s.Return
			sites = append(sites, s.File+":"+strconv.Itoa(s.Line))
			if !s.Used {
				t.Errorf("perf_copy_attr's value at %s:%d is not used", s.File, s.Line)
			}
		}
	}
	if want := "kernel/events/core.c:" + strconv.Itoa(line); len(sites) != 1 || sites[0] != want {
		t.Errorf("perf_copy_attr called at %q, want [%s]", sites, want)
	}
	k, err := target.OpenKernel(context.Background(), target.KernelOptions{Release: rel})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var pca target.Symbol
	for _, s := range k.Symbols() {
		if s.Name == "perf_copy_attr" {
			pca = s
		}
	}
	var entry []uint64
	var rets []uint64
	for _, st := range p.Stmts {
		if st.Symbol != "perf_copy_attr" {
			if strings.HasPrefix(st.Symbol, "__do_sys_perf_event_open") {
				t.Errorf("a probe in the notrace function: %s+%#x", st.Symbol, st.FileOffset)
			}
			continue
		}
		switch len(st.Vars) {
		case 1:
			entry = append(entry, st.FileOffset)
		case 2:
			rets = append(rets, st.FileOffset)
		}
		in := false
		for _, r := range st.ReturnInto {
			in = in || (ra >= r[0] && ra < r[1])
		}
		if !in {
			t.Errorf("perf_copy_attr+%#x: the call's return address %#x is not in the ranges %#x its probe keeps", st.FileOffset, ra, st.ReturnInto)
		}
		if st.Vars[0].Name != "ra" || string(st.Vars[0].Expr) != "\x77\x00" || (len(st.Vars) == 2 && string(st.Vars[1].Expr) != "\x50") {
			t.Errorf("perf_copy_attr+%#x reads %+v", st.FileOffset, st.Vars)
		}
	}
	sort.Slice(rets, func(i, j int) bool { return rets[i] < rets[j] })
	want := objdumpReturns(t, vmlinux, pca)
	if len(entry) != 1 || entry[0] != 0 || len(want) == 0 || len(rets) != len(want) {
		t.Fatalf("perf_copy_attr: entry probes %#x, return probes %#x, want [0] and %#x", entry, rets, want)
	}
	for i := range want {
		if rets[i] != want[i] {
			t.Errorf("perf_copy_attr: return probes %#x, want %#x", rets, want)
			break
		}
	}
}

// TestPrepareNotraceRefused: a notrace function no pass-through caller
// returns for is refused in one line, as before.
func TestPrepareNotraceRefused(t *testing.T) {
	rel := guestRelease(t)
	_, err := prepareOther(t, Config{Target: "kernel", Function: "__list_add_valid", Condition: "$return == 0", Release: rel})
	want := "the kernel does not allow kprobes in __list_add_valid: __list_add_valid is notrace (it has no call of __fentry__), and the kernel's kprobe events refuse notrace functions"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestPrepareKernelFollow: --follow in a kernel function BPF may probe
// puts kprobes on its call instructions and return addresses (symbol+offset,
// as statements); ftrace's __fentry__ call is no call; do_filp_open's call
// is at the line whose text it is. --follow=1 keeps them inside the
// function, and so does the default depth's first run (one level per
// run); with --follow-eager the default depth, 3, goes on into its
// callees at once (path_openat's
// call of link_path_walk, a gcc clone named by its symbol, is a call of
// depth 3), never into a function the kernel refuses kprobes in. The
// re-run traces link_path_walk's statements, found by their text.
func TestPrepareKernelFollow(t *testing.T) {
	rel := guestRelease(t)
	cfg := Config{Target: "kernel", Function: "do_sys_openat2", Condition: "$return == -2", Release: rel, Follow: true, FollowDepth: 1}
	job, err := prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srcs := kernelSources(t, rel, filepath.Join(t.TempDir(), "src"))
	line := sourceLine(srcs["fs/open.c"], "static long do_sys_openat2(int dfd, const char __user *filename,", "struct file *f = do_filp_open(dfd, tmp, &op);")
	found := false
	for _, s := range job.Follow.Sites {
		if s.Callee == "__fentry__" {
			t.Errorf("a call of __fentry__ at %#x is followed", s.PC)
		}
		if s.Callee == "do_filp_open" {
			found = s.File == "fs/open.c" && s.Line == line && s.Used
		}
	}
	if !found {
		t.Errorf("no used call of do_filp_open at fs/open.c:%d", line)
	}
	for _, st := range job.Plan.Stmts {
		if job.Follow.Owns(st.ID) && st.Symbol != "do_sys_openat2" {
			t.Errorf("--follow=1: follow probe %d at %s+%#x, outside do_sys_openat2", st.ID, st.Symbol, st.FileOffset)
		}
	}

	// The default depth, one level per run: the first run's probes
	// are do_sys_openat2's too, do_filp_open's call left for the next.
	cfg.FollowDepth = 0
	job, err = prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range job.Plan.Stmts {
		if job.Follow.Owns(st.ID) && st.Symbol != "do_sys_openat2" {
			t.Errorf("one level per run: follow probe %d at %s+%#x, outside do_sys_openat2", st.ID, st.Symbol, st.FileOffset)
		}
	}
	// --follow-eager: every level in one run.
	cfg.FollowEager = true
	job, err = prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if job.Follow.Depth != DefaultFollowDepth {
		t.Errorf("depth %d, want %d", job.Follow.Depth, DefaultFollowDepth)
	}
	k, err := target.OpenKernel(context.Background(), target.KernelOptions{Release: rel})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ks, lists := newKernelSymbols(k), readKernelLists()
	inside := map[string]bool{}
	for _, st := range job.Plan.Stmts {
		if !job.Follow.Owns(st.ID) {
			continue
		}
		inside[st.Symbol] = true
		if why := kernelReserved(k).why(st.PC); why != "" {
			t.Errorf("follow probe %d at %s+%#x: %s", st.ID, st.Symbol, st.FileOffset, why)
		}
		for _, sym := range ks.byName[st.Symbol] {
			if why := ks.refused(k, lists, sym); sym.Value == st.PC-st.FileOffset && why != "" {
				t.Errorf("follow probe %d at %s+%#x: %s", st.ID, st.Symbol, st.FileOffset, why)
			}
		}
	}
	var walk *follow.Site
	for _, s := range job.Follow.Sites {
		if s.Callee == "__fentry__" {
			t.Errorf("a call of __fentry__ at %#x is followed", s.PC)
		}
		if s.Func == "path_openat" && strings.HasPrefix(s.Callee, "link_path_walk") && walk == nil {
			walk = s
		}
	}
	if walk == nil || walk.Depth != 3 || !walk.Used || !inside["do_filp_open"] || !inside["path_openat"] {
		t.Fatalf("path_openat's call of link_path_walk: %+v; probes in do_filp_open %v, in path_openat %v", walk, inside["do_filp_open"], inside["path_openat"])
	}
	// link_path_walk's out-of-line code is a gcc clone, which the
	// function index (as stap's) does not hold: its statements are not
	// traced, and the re-run's line says why.
	cfg.Origin = &follow.Blame{Callee: walk.Callee, Target: walk.Target, Site: walk.PC, Nth: 1, Depth: 3}
	job2, err := prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := walk.Callee + " is a copy gcc made of link_path_walk (a clone), which the debug info's function index does not hold: its statements cannot be traced"; job2.Origin != nil || job2.originMiss != want {
		t.Errorf("origin %+v: %q, want %q", job2.Origin, job2.originMiss, want)
	}
	// Two levels down, path_openat's statements are traced, the line
	// that calls link_path_walk among them.
	var openat *follow.Site
	for _, s := range job.Follow.Sites {
		if s.Func == "do_filp_open" && s.Callee == "path_openat" && openat == nil {
			openat = s
		}
	}
	if openat == nil || openat.Depth != 2 {
		t.Fatalf("do_filp_open's call of path_openat: %+v", openat)
	}
	cfg.FollowDepth = 2
	cfg.Origin = &follow.Blame{Callee: openat.Callee, Target: openat.Target, Site: openat.PC, Nth: 1, Depth: 2}
	job2, err = prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if job2.Origin == nil || job2.Origin.Function != "path_openat" {
		t.Fatalf("origin %+v: %s", job2.Origin, job2.originMiss)
	}
	n := sourceLine(srcs["fs/namei.c"], "static struct file *path_openat(struct nameidata *nd,", "while (!(error = link_path_walk(s, nd)) &&")
	found = false
	for _, rs := range job2.Origin.Stmts {
		found = found || (rs.File == "fs/namei.c" && rs.Line == n)
	}
	if n == 0 || !found {
		t.Errorf("no origin statement at fs/namei.c:%d", n)
	}
}

// FuzzPassThrough: any code is answered without panicking, and code that
// never refers to the callee (no e8/e9 rel32 onto it) is no pass-through.
func FuzzPassThrough(f *testing.F) {
	f.Add([]byte{0xe8, 0xfb, 0x4f, 0, 0, 0xc3})
	f.Add([]byte{0xe9, 0xfb, 0x3f, 0, 0})
	f.Add([]byte{0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0, 0, 0, 0, 0x5b, 0xc3})
	f.Fuzz(func(t *testing.T, code []byte) {
		got := passThrough(code, 0x1000, 0x5000, knownTargets{fentry: 0x6000, thunk: 0x7000})
		if got && !refersTo(code, 0x1000, 0x5000) {
			t.Errorf("% x: a pass-through that never refers to the callee", code)
		}
	})
}

// TestPrepareKernelOrigin: the re-run of --follow for a notrace function
// traced at its boundary (the article's first line) traces the blamed
// callee's statements as kprobes at perf_copy_attr+offset, the mask test
// among them (found by its text in the kernel's source), numbered after
// every other probe, its opening line at perf_copy_attr+0 recorded by the
// program of the callee's entry probe there, its branches for its "why:"
// line; deeper than 1, --follow at a boundary says it stays one level.
func TestPrepareKernelOrigin(t *testing.T) {
	rel := guestRelease(t)
	cfg := Config{Target: "kernel", Function: "__do_sys_perf_event_open", Condition: "$return == -22", Release: rel, Follow: true}
	job, err := prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var site *follow.Site
	for _, s := range job.Follow.Sites {
		if s.Callee == "perf_copy_attr" {
			site = s
		}
	}
	if site == nil {
		t.Fatal("no call of perf_copy_attr")
	}
	cfg.Origin = &follow.Blame{Callee: "perf_copy_attr", Target: site.Target, Site: site.PC, Nth: 1, Depth: 1}
	job2, err := prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if job2.Origin == nil {
		t.Fatalf("no origin planned: %s", job2.originMiss)
	}
	src := kernelSources(t, rel, filepath.Join(t.TempDir(), "src"))["kernel/events/core.c"]
	line := sourceLine(src, "static int perf_copy_attr(struct perf_event_attr __user *uattr,", "if (mask & ~(PERF_SAMPLE_BRANCH_MAX-1))")
	if line == 0 || job2.Origin.Function != "perf_copy_attr" {
		t.Fatalf("origin %s; mask test at line %d", job2.Origin.Function, line)
	}
	found := false
	for id, rs := range job2.Origin.Stmts {
		if job2.Follow.Owns(id) {
			t.Errorf("origin statement %d is a --follow probe's id", id)
		}
		found = found || (rs.File == "kernel/events/core.c" && rs.Line == line)
	}
	if !found {
		t.Errorf("no origin statement at kernel/events/core.c:%d", line)
	}
	for _, st := range job2.Plan.Stmts {
		if _, ok := job2.Origin.Stmts[st.ID]; ok && (st.Symbol != "perf_copy_attr" || len(st.ReturnInto) != 0) {
			t.Errorf("origin statement %d at %s+%#x (return into %#x)", st.ID, st.Symbol, st.FileOffset, st.ReturnInto)
		}
	}
	if !job2.Plan.QuietOrphans {
		t.Error("the callee and origin probes count their orphans")
	}
	// The origin's opening line is probed at perf_copy_attr+0, where
	// the boundary's probe of the callee's entry is: one program records
	// both, the entry first (the kernel would run two kprobes there in
	// the reverse order of their attachment).
	gen, err := bpfgen.Generate(&job2.Plan.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var entry, opening []int
	for i, st := range job2.Plan.Stmts {
		if st.Symbol != "perf_copy_attr" || st.FileOffset != 0 {
			continue
		}
		if _, ok := job2.Origin.Stmts[st.ID]; ok {
			opening = append(opening, i)
		} else if job2.Follow.Owns(st.ID) {
			entry = append(entry, i)
		}
	}
	if len(entry) != 1 || len(opening) != 1 || entry[0] > opening[0] || gen.StmtPrograms[entry[0]] == "" || gen.StmtPrograms[opening[0]] != "" {
		t.Errorf("at perf_copy_attr+0: entry probes %v, origin statements %v, programs %q", entry, opening, gen.StmtPrograms)
	}
	// FUNCTION, traced at its boundary, has no verdict: the origin's
	// branches hold the branch record, for its "why:" line.
	branches := 0
	for _, st := range job2.Plan.Stmts {
		if st.Branch {
			branches++
			if st.Symbol != "perf_copy_attr" {
				t.Errorf("branch probe %d at %s+%#x", st.ID, st.Symbol, st.FileOffset)
			}
		}
	}
	if job2.Verdict != nil || job2.Origin.Verdict == nil || branches == 0 {
		t.Errorf("verdicts: function %v, origin %v, %d branch probes", job2.Verdict != nil, job2.Origin.Verdict != nil, branches)
	}
	cfg.NoVerdict = true
	if job3, err := prepareOther(t, cfg); err != nil || job3.Origin == nil || job3.Origin.Verdict != nil {
		t.Errorf("--no-verdict: %v, origin %+v", err, job3.Origin)
	}
	// Deeper than one level the boundary's plan at the callees does not
	// go: a note says so.
	cfg.NoVerdict, cfg.Origin, cfg.FollowDepth = false, nil, 3
	job, err = prepareOther(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "--follow=3: at its boundary, --follow records the calls __do_sys_perf_event_open makes, one level deep (their own calls are not followed)"
	if !slices.Contains(job.Notes, want) {
		t.Errorf("notes %q, want %q among them", job.Notes, want)
	}
}

// TestCloneOf: a gcc clone's return is its function's only for the
// suffixes that keep it.
func TestCloneOf(t *testing.T) {
	for name, want := range map[string]string{
		"link_path_walk.part.0.constprop.0": "link_path_walk",
		"f.cold":                            "f",
		"f.constprop.12":                    "f",
		"f.isra.0":                          "f.isra.0",
		"f.part.0.isra.0":                   "f.part.0.isra.0",
		"f.llvm.123":                        "f.llvm.123",
		"f":                                 "f",
		"f.":                                "f.",
	} {
		if got := cloneOf(name); got != want {
			t.Errorf("cloneOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestKernelReserved: the vmlinux's static call sites (kfree calls its
// tracepoint's probes through __SCT__tp_func_kfree), which kprobes refuse,
// and its alternatives (kmem_cache_alloc's call of
// this_cpu_cmpxchg16b_emu), rewritten at boot, are found from the
// kernel's own tables: every such call is one, the instruction after a
// static call is not.
func TestKernelReserved(t *testing.T) {
	k, err := target.OpenKernel(context.Background(), target.KernelOptions{Release: guestRelease(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	rs := kernelReserved(k)
	if len(rs.ranges) == 0 || len(rs.bugs) == 0 {
		t.Fatalf("%d jump label and static call sites, %d bug sites", len(rs.ranges), len(rs.bugs))
	}
	ks := newKernelSymbols(k)
	// calls checks fn's direct calls of the functions named with prefix:
	// each is a reserved site of kind (and the instruction after it is
	// not, when after is set).
	calls := func(fn, prefix, kind string, after bool) {
		var sym target.Symbol
		for _, s := range ks.byName[fn] {
			sym = s
		}
		code, err := k.Code(sym.Value, int(sym.Size))
		if err != nil {
			t.Fatal(err)
		}
		ins, err := insn.Decode(code, sym.Value)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, it := range ins {
			rel, ok := it.Inst.Args[0].(x86asm.Rel)
			if !it.OK || it.Inst.Op != x86asm.CALL || !ok {
				continue
			}
			to := uint64(int64(it.PC) + int64(it.Inst.Len) + int64(rel))
			for _, s := range ks.byName {
				if s[0].Value != to || !strings.HasPrefix(s[0].Name, prefix) {
					continue
				}
				n++
				if why := rs.why(it.PC); why != kind {
					t.Errorf("%s+%#x calls %s: %q, want %q", fn, it.PC-sym.Value, s[0].Name, why, kind)
				}
				if why := rs.why(it.PC + uint64(it.Inst.Len)); after && why != "" {
					t.Errorf("%s+%#x, after the call of %s: %q", fn, it.PC+uint64(it.Inst.Len)-sym.Value, s[0].Name, why)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s makes no call of %s*", fn, prefix)
		}
	}
	calls("kfree", "__SCT__", "a static call site", true)
	// An alternative: a cmpxchg16b on CPUs that have one.
	calls("kmem_cache_alloc", "this_cpu_cmpxchg16b_emu", "an alternative instruction site (rewritten at boot)", false)
}

// TestKernelReturnsDWARF: a gcc clone BTF does not know
// (link_path_walk.part.0.constprop.0: pahole leaves out it and
// link_path_walk) gets its return type, int, from the DWARF instance at
// its address; a function BTF knows (path_openat, a struct file *) is
// typed by BTF without a DWARF lookup; an .isra clone, which may drop the
// return, stays unknown.
func TestKernelReturnsDWARF(t *testing.T) {
	k, err := target.OpenKernel(context.Background(), target.KernelOptions{Release: guestRelease(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	returnOf, dw := kernelReturnsDWARF(k)
	if returnOf == nil {
		t.Fatal("no BTF in the vmlinux")
	}
	const clone = "link_path_walk.part.0.constprop.0"
	if r, ok := returnOf(clone); !ok || r != (follow.Ret{Size: 4, Signed: true}) {
		t.Errorf("%s: %+v, %v; want int (4 bytes, signed)", clone, r, ok)
	}
	if _, asked := dw.known[clone]; !asked {
		t.Errorf("%s was not typed from the DWARF", clone)
	}
	if r, ok := returnOf("path_openat"); !ok || r != (follow.Ret{Size: 8}) {
		t.Errorf("path_openat: %+v, %v; want a pointer (8 bytes, unsigned)", r, ok)
	}
	if _, asked := dw.known["path_openat"]; asked {
		t.Error("path_openat, which BTF knows, was looked up in the DWARF")
	}
	// An .isra clone whose origin returns a scalar is still unknown.
	var isra string
	tried := 0
	for _, s := range k.Symbols() {
		if !strings.HasSuffix(s.Name, ".isra.0") || len(dw.addrs[s.Name]) != 1 {
			continue
		}
		if tried++; tried > 40 {
			break
		}
		if _, ok := dw.atEntry(s.Name); ok {
			isra = s.Name
			break
		}
	}
	if isra == "" {
		t.Fatal("no .isra.0 clone of a function returning a scalar in the vmlinux")
	}
	if r, ok := dw.of(isra); ok {
		t.Errorf("%s: %+v; want unknown (IPA-SRA may drop the return)", isra, r)
	}
}
