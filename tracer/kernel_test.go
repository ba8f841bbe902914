package tracer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// guestRelease is the kernel .ci/kernel prepares for the guest, whose
// vmlinux and module debug files the host has.
func guestRelease(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/var/cache/whythefail/guest/current")
	if err != nil {
		t.Skipf("no guest kernel prepared (.ci/kernel): %v", err)
	}
	return string(b[:len(b)-1])
}

// prepareOther prepares a trace of another release's kernel, as if it ran
// with kprobes: everything Prepare does from files.
func prepareOther(t *testing.T, cfg Config) (*Job, error) {
	t.Helper()
	saved, savedCheck := haveKprobes, checkTracing
	haveKprobes = func() error { return nil }
	checkTracing = func(kernelBinary) error { return nil }
	defer func() { haveKprobes, checkTracing = saved, savedCheck }()
	return Prepare(cfg)
}

// TestPrepareKernel: a kernel function's plan puts the entry at the
// function's own symbol and every statement and branch at a symbol plus an
// offset that starts an instruction of the symbol's code, which the plan
// carries; reads are of kernel memory.
func TestPrepareKernel(t *testing.T) {
	rel := guestRelease(t)
	if _, err := os.Stat("/usr/lib/debug/boot/vmlinux-" + rel); err != nil {
		t.Skipf("no vmlinux of %s: %v", rel, err)
	}
	for _, c := range []struct{ target, fn string }{{"kernel", "perf_copy_attr"}, {`module("9pnet")`, "p9_client_create"}} {
		job, err := prepareOther(t, Config{Target: c.target, Function: c.fn, Condition: "$return == -22", Release: rel})
		if err != nil {
			t.Fatalf("%s %s: %v", c.target, c.fn, err)
		}
		p := job.Plan
		if p.Attach != target.AttachKprobe || p.Space != target.KernelSpace || p.EntrySymbol != c.fn {
			t.Errorf("%s: attach %v space %v entry symbol %q", c.fn, p.Attach, p.Space, p.EntrySymbol)
		}
		if len(p.Stmts) < 10 || job.Verdict == nil {
			t.Errorf("%s: %d statements, verdict %v; notes %q", c.fn, len(p.Stmts), job.Verdict != nil, job.Notes)
		}
		for _, st := range p.Stmts {
			code, ok := p.Code[st.Symbol]
			if !ok {
				t.Fatalf("%s: statement %d at %s+%#x: no code for %s", c.fn, st.ID, st.Symbol, st.FileOffset, st.Symbol)
			}
			b, err := insn.Boundaries(code, 0)
			if err != nil || !insn.IsBoundary(b, st.FileOffset) {
				t.Errorf("%s: statement %d at %s+%#x starts no instruction (%v)", c.fn, st.ID, st.Symbol, st.FileOffset, err)
			}
		}
		t.Logf("%s %s: %d statements, symbols %d, notes %q", c.target, c.fn, len(p.Stmts), len(p.Code), job.Notes)
	}
}

// TestPrepareKernelRefusals: what cannot be traced in a kernel or module
// is refused in one line that names it.
func TestPrepareKernelRefusals(t *testing.T) {
	rel := guestRelease(t)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Target: `module("9pnet")`, Function: "parse_opts", Condition: "$return == -22", Release: rel},
			`parse_opts is inlined into its callers only (1 copy in module("9pnet")): no kprobe can catch its calls or its return; trace a function it is inlined into (whythefail -L 'module("9pnet").function("parse_opts").inline' lists them)`},
		{Config{Target: "kernel", Function: "do_sys_openat2", Condition: "errno() == ENOENT", Release: rel},
			"errno() is the C library's errno of a user-space thread: a kernel function returns its error as $return (-EINVAL: $return == -EINVAL)"},
		{Config{Target: "kernel", Function: "no_such_function_here", Condition: "$return == -22", Release: rel},
			"no function no_such_function_here in kernel"},
		{Config{Target: "/bin/true", Function: "main", Condition: "$return == 1", Release: rel},
			"-r " + rel + ` names a kernel release: it applies to kernel and module("NAME") targets only`},
	} {
		_, err := prepareOther(t, c.cfg)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %s: error %v, want one line starting %q", c.cfg.Target, c.cfg.Function, err, c.want)
		}
	}
}

// TestKernelNoDebugInfo: the running kernel (whose debug info this machine
// lacks, and the test hides the rest), without BTF either, is refused in
// one line that says what is missing and how to get it.
func TestKernelNoDebugInfo(t *testing.T) {
	rel, err := target.RunningRelease()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/usr/lib/debug/boot/vmlinux-" + rel, "/boot/vmlinux-" + rel, "/lib/modules/" + rel + "/build/vmlinux", "/usr/lib/debug/lib/modules/" + rel + "/vmlinux"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("the running kernel's vmlinux is installed (%s)", p)
		}
	}
	saved := loadKernelBTF
	loadKernelBTF = func() (*btf.Spec, error) { return nil, fmt.Errorf("/sys/kernel/btf/vmlinux: %w", os.ErrNotExist) }
	defer func() { loadKernelBTF = saved }()
	_, err = prepareOther(t, Config{Target: "kernel", Function: "do_sys_openat2", Condition: "$return == -2", DebugDirs: []string{t.TempDir()}})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"no debug info", "kernel " + rel, "no vmlinux with DWARF at ", "install linux-image-" + rel + "-dbg", "DEBUGINFOD_URLS", "; and the kernel has no BTF either (/sys/kernel/btf/vmlinux: file does not exist) to trace it at function level"} {
		if !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
			t.Errorf("error %q: want one line containing %q", msg, want)
		}
	}
	if !errors.Is(err, target.ErrNoDebugInfo) {
		t.Errorf("error %v does not wrap target.ErrNoDebugInfo", err)
	}
}

// TestRefusedSite: where the running kernel's lists refuse a kprobe, as
// the kernel decides it (a suffixed symbol by its function's name).
func TestRefusedSite(t *testing.T) {
	lists := kernelLists{
		black:  symbolColumn(strings.NewReader("0xffffffff81000000-0xffffffff81000040\tdo_int3\n0xffffffffc0001000-0xffffffffc0001010\tmod_fn [m]\n"), 1),
		ftrace: symbolColumn(strings.NewReader("p9_client_create [9pnet]\nperf_copy_attr\ndo_int3\n"), 0),
	}
	kb := (*target.Module)(nil)
	for sym, want := range map[string]string{
		"perf_copy_attr":           "",
		"p9_client_create.cold":    "",
		"p9_client_create":         "",
		"do_int3":                  "do_int3 is in the kernel's kprobe blacklist (" + kprobeBlacklist + ")",
		"mod_fn":                   "mod_fn is in the kernel's kprobe blacklist (" + kprobeBlacklist + ")",
		"__do_sys_perf_event_open": "__do_sys_perf_event_open is notrace (not in available_filter_functions), and the kernel's kprobe events refuse notrace functions",
		"f.isra.0":                 "f.isra.0 is notrace (not in available_filter_functions), and the kernel's kprobe events refuse notrace functions",
	} {
		if got := refusedSite(kb, lists, sym, 0); got != want {
			t.Errorf("%s: %q, want %q", sym, got, want)
		}
	}
	// Without tracefs nothing is known to be notrace.
	if got := refusedSite(kb, kernelLists{}, "__do_sys_perf_event_open", 0); got != "" {
		t.Errorf("no lists: %q", got)
	}
}

// FuzzSymbolColumn: the reader of the kernel's symbol lists never panics
// and returns only words of the text.
func FuzzSymbolColumn(f *testing.F) {
	f.Add("0xffffffff81000000-0xffffffff81000040\tdo_int3\n", 1)
	f.Add("p9_client_create [9pnet]\n", 0)
	f.Fuzz(func(t *testing.T, text string, col int) {
		if col < 0 || col > 4 {
			return
		}
		for name := range symbolColumn(strings.NewReader(text), col) {
			if name == "" || !strings.Contains(text, name) {
				t.Errorf("name %q not a word of the text", name)
			}
		}
	})
}

// TestPrepareBTF: a kernel without DWARF (the running one here, whose
// vmlinux this machine lacks) is traced at function level from BTF (here
// the guest kernel's, read from its vmlinux's .BTF section as the kernel
// exports it): the entry arguments by name from registers, the return's
// type, the condition on both, and a note saying how to get statements.
func TestPrepareBTF(t *testing.T) {
	rel := guestRelease(t)
	vmlinux := "/usr/lib/debug/boot/vmlinux-" + rel
	if _, err := os.Stat(vmlinux); err != nil {
		t.Skipf("no vmlinux of %s: %v", rel, err)
	}
	run, _ := target.RunningRelease()
	if run == rel {
		t.Skip("the running kernel has its DWARF here")
	}
	saved := loadKernelBTF
	loadKernelBTF = func() (*btf.Spec, error) { return btf.LoadSpec(vmlinux) }
	defer func() { loadKernelBTF = saved }()
	job, err := prepareOther(t, Config{Target: "kernel", Function: "do_sys_openat2", Condition: "$return == -2 && $dfd == -100", DebugDirs: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	p := job.Plan
	if p.Attach != target.AttachKprobe || p.EntrySymbol != "do_sys_openat2" || p.RetSize != 8 || p.RetUnsigned || job.Header.ReturnFormat != "int" || p.Cond == nil || job.Verdict != nil {
		t.Errorf("plan: attach %v entry %q ret %d unsigned %v format %q cond %v verdict %v", p.Attach, p.EntrySymbol, p.RetSize, p.RetUnsigned, job.Header.ReturnFormat, p.Cond, job.Verdict != nil)
	}
	if len(p.Stmts) != 1 || p.Stmts[0].Symbol != "do_sys_openat2" || p.Stmts[0].FileOffset != 0 {
		t.Fatalf("statements %+v, want one at do_sys_openat2+0", p.Stmts)
	}
	var got []string
	for i, v := range job.Stmts[0].Vars {
		r := p.Stmts[0].Vars[i]
		got = append(got, fmt.Sprintf("%s %s %d expr=%x", v.Name, v.Format, v.Size, r.Expr))
	}
	// dfd in rdi (DWARF 5), filename in rsi (4), how in rdx (1).
	want := []string{"dfd int 4 expr=55", "filename ptr 8 expr=54", "how ptr 8 expr=51"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("entry variables %q, want %q", got, want)
	}
	wantNote := "no DWARF for kernel " + run + ": do_sys_openat2 is traced at function level from the kernel's BTF (its entry arguments and return value); for its statements install linux-image-" + run + "-dbg (Debian; kernel-debuginfo elsewhere) or set DEBUGINFOD_URLS"
	if len(job.Notes) != 1 || job.Notes[0] != wantNote {
		t.Errorf("notes %q, want %q", job.Notes, wantNote)
	}
	if _, err := prepareOther(t, Config{Target: "kernel", Function: "no_such_function_here", Condition: "1", DebugDirs: []string{t.TempDir()}}); err == nil || !strings.HasPrefix(err.Error(), "no function no_such_function_here in the kernel's BTF") {
		t.Errorf("a function BTF lacks: %v", err)
	}
}

// TestKernelMissNotes: a kretprobe whose missed returns the kernel did not
// count is never silent; fexit misses nothing, and counted misses are in
// the statistics.
func TestKernelMissNotes(t *testing.T) {
	j := &Job{}
	j.Plan.Attach, j.Plan.EntrySymbol = target.AttachKprobe, "do_sys_openat2"
	want := "the kernel does not say how many returns of do_sys_openat2 its kretprobe missed (it counts them from 6.6, or with tracefs mounted): calls it missed were never traced, and not counted"
	if got := kernelMissNotes(j, session.Stats{ReturnMissesUnknown: true}, "kretprobe"); len(got) != 1 || got[0] != want {
		t.Errorf("unknown misses: %q, want %q", got, want)
	}
	for _, c := range []struct {
		st  session.Stats
		ret string
	}{{session.Stats{ReturnMissesUnknown: true}, "fexit"}, {session.Stats{ReturnMisses: 3}, "kretprobe"}, {session.Stats{}, "kretprobe"}} {
		if got := kernelMissNotes(j, c.st, c.ret); got != nil {
			t.Errorf("%+v %s: %q, want no note", c.st, c.ret, got)
		}
	}
}
