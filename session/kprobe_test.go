package session

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/expr/ir"
	fx "github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/guest"
	"github.com/whythefail/whythefail/target"
)

// TestCheckKprobeSites: every kprobe offset must start an instruction of
// its function, decoded from the code bytes the plan carries, before
// anything attaches.
func TestCheckKprobeSites(t *testing.T) {
	// push %rbp; mov %rsp,%rbp; mov $0x2a,%eax; pop %rbp; ret
	code := []byte{0x55, 0x48, 0x89, 0xe5, 0xb8, 0x2a, 0x00, 0x00, 0x00, 0x5d, 0xc3}
	plan := func(stmts ...bpfgen.Stmt) Plan {
		return Plan{Attach: target.AttachKprobe, Code: map[string][]byte{"f": code}, Spec: bpfgen.Spec{Space: target.KernelSpace, EntrySymbol: "f", Stmts: stmts}}
	}
	for _, c := range []struct {
		name string
		p    Plan
		want string // "" for no error
	}{
		{"boundaries", plan(bpfgen.Stmt{ID: 1, Symbol: "f", FileOffset: 1}, bpfgen.Stmt{ID: 2, Symbol: "f", FileOffset: 9}), ""},
		{"inside an instruction", plan(bpfgen.Stmt{ID: 1, Symbol: "f", FileOffset: 1}, bpfgen.Stmt{ID: 2, Symbol: "f", FileOffset: 5}),
			"statement 2: f+0x5 is not the start of an instruction: no kprobe can go there"},
		{"past the code", plan(bpfgen.Stmt{ID: 3, Symbol: "f", FileOffset: 11}), "statement 3: f+0xb is not the start of an instruction: no kprobe can go there"},
		{"no code", plan(bpfgen.Stmt{ID: 4, Symbol: "g", FileOffset: 2}), "statement 4: no code bytes for g: its kprobe offsets cannot be checked"},
		{"a symbol's start, no code", plan(bpfgen.Stmt{ID: 4, Symbol: "g", FileOffset: 0}), ""},
		{"no symbol", plan(bpfgen.Stmt{ID: 5, FileOffset: 1}), "statement 5: kprobe at offset 0x1 without a symbol"},
		{"no entry symbol", Plan{Attach: target.AttachKprobe}, "kprobe plan without an entry symbol"},
		{"undecodable", Plan{Attach: target.AttachKprobe, Code: map[string][]byte{"h": {0x55, 0x0f, 0xff}}, Spec: bpfgen.Spec{EntrySymbol: "h"}},
			"decoding h to check kprobe offsets: decoding x86-64 instruction at 0x1 (bytes 0f ff): "},
	} {
		err := checkKprobeSites(c.p)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if c.want == "" && got != "" || c.want != "" && !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: got error %q, want %q", c.name, got, c.want)
		}
	}
}

// TestNoKprobes: on a kernel without kprobes (CONFIG_KPROBES off, as on
// the machine this project is developed on) a kernel plan fails with one
// line saying so, before anything is generated or loaded.
func TestNoKprobes(t *testing.T) {
	if HaveKprobes() == nil {
		t.Skip("this kernel has kprobes: the refusal cannot be seen here (TestKprobeGuest traces with them)")
	}
	_, err := Start(context.Background(), Plan{Attach: target.AttachKprobe, Spec: bpfgen.Spec{Space: target.KernelSpace, EntrySymbol: "do_sys_openat2"}}, Options{TraceAll: true})
	want := "the kernel has no kprobes (CONFIG_KPROBES and CONFIG_KPROBE_EVENTS are off): kernel functions cannot be traced on it: not supported"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Start = %v, want %q matching ErrNotSupported", err, want)
	}
}

// TestTracefsEventName: the names cilium/ebpf gives tracefs kprobe events,
// by which kprobe_profile is searched.
func TestTracefsEventName(t *testing.T) {
	for in, want := range map[string]string{
		"do_sys_openat2":           "do_sys_openat2",
		"__do_sys_perf_event_open": "_do_sys_perf_event_open",
		"p9_client_create.cold":    "p9_client_create_cold",
		"a..b":                     "a_b",
	} {
		if got := tracefsEventName(in); got != want {
			t.Errorf("tracefsEventName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProfileMissed reads kprobe_profile's missed column, and refuses a
// name listed twice (the file shows no groups).
func TestProfileMissed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kprobe_profile")
	text := "  do_sys_openat2                                  12               3\n" +
		"  p_vfs_read_0                                    7               0\n" +
		"  twice                                           1               0\n" +
		"  twice                                           1               0\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := profileMissed(path, "do_sys_openat2"); n != 3 || err != nil {
		t.Errorf("do_sys_openat2: %d, %v; want 3, nil", n, err)
	}
	for _, name := range []string{"twice", "absent"} {
		if _, err := profileMissed(path, name); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzKprobeTexts: the parsers of kprobe_profile and /proc/kallsyms never
// panic, and parseProfile returns a count exactly when it returns no
// error (one line for the event, with a number).
func FuzzKprobeTexts(f *testing.F) {
	f.Add("  do_sys_openat2   12   3\n", "do_sys_openat2")
	f.Add("ffffffff81363fa0 t do_sys_openat2\nffffffffc0a01000 T p9_client_create\t[9pnet]\n", "p9_client_create")
	f.Add("  a 1 x\n", "a")
	f.Fuzz(func(t *testing.T, text, name string) {
		n, err := parseProfile(strings.NewReader(text), "kprobe_profile", name)
		if err != nil && n != 0 {
			t.Errorf("parseProfile = %d with error %v", n, err)
		}
		want := map[string]int{name: 0}
		if err := countFunctions(strings.NewReader(text), want); err != nil && !errors.Is(err, bufio.ErrTooLong) {
			t.Errorf("countFunctions: %v", err)
		}
		if want[name] < 0 || want[name] > strings.Count(text, name) {
			t.Errorf("countFunctions counted %d of %q", want[name], name)
		}
	})
}

// kprobePlanFile is where TestKprobeGuest leaves the plan for the guest,
// in the shared directory (the guest's working directory).
const kprobePlanFile = "kprobe-plan.json"

// guestPlan is what the host computes from the guest kernel's vmlinux for
// the tests in the guest: do_sys_openat2's code and the statements to
// probe (TestKprobeInGuest), hrtimer_nanosleep's code
// (TestKretprobeMissesInGuest).
type guestPlan struct {
	Symbol    string
	Addr      uint64 // Symbol's link-time address
	Code      []byte
	Stmts     map[string]uint64 // name -> offset in Symbol
	SleepCode []byte
	NrCPUIDs  uint64 // link-time address of the global nr_cpu_ids
	ModCode   []byte // p9_client_create's code, from module 9pnet (TestModuleKprobeInGuest)
	DupSymbol string // a name two functions of vmlinux share (TestKprobeSymbolsInGuest)
	DupCode   []byte // the code of the first of them
}

// modSymbol is the function of module 9pnet that refuses version=bogus.
const modSymbol = "p9_client_create"

// sleepSymbol is where nanosleep and clock_nanosleep sleep.
const sleepSymbol = "hrtimer_nanosleep"

// Statements of do_sys_openat2 the guest test probes: the entry, and the
// instruction after each call named (found by decoding the function, so
// no offset is written down here). An openat of a missing file runs all
// but the last: do_filp_open fails, so fd_install is never called.
var guestCalls = []string{"build_open_flags", "getname", "do_filp_open", "fd_install"}

// TestKprobeGuest runs TestKprobeInGuest in the guest: kprobes in Debian's
// stock kernel, which this host may not have. The host builds this
// package's test binary (static), the openmissing fixture and the plan
// (from the guest kernel's vmlinux), and shares them with the guest.
func TestKprobeGuest(t *testing.T) {
	if guest.Inside() {
		t.Skip("in the guest: TestKprobeInGuest is the test here")
	}
	k := guest.Require(t)
	vmlinux := "/usr/lib/debug/boot/vmlinux-" + k.Release
	if _, err := os.Stat(vmlinux); err != nil {
		fx.Missing(t, "the guest kernel's vmlinux is missing (run .ci/kernel): %v", err)
	}
	share := t.TempDir()
	guest.TestBinary(t, share, "github.com/whythefail/whythefail/session")
	guest.Program(t, share, "openmissing")
	gp := openat2Plan(t, vmlinux)
	gp.ModCode = moduleCode(t, "/lib/modules/"+k.Release+"/kernel/net/9p/9pnet.ko", modSymbol)
	b, err := json.Marshal(gp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(share, kprobePlanFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := k.MustRun(t, guest.Config{Share: share, Timeout: 10 * time.Minute, Cases: []guest.Case{
		{Name: "session tests", Script: "./session.test -test.v -test.count=1 -test.run '^(TestKprobeInGuest|TestKretprobeMissesInGuest|TestModuleKprobeInGuest|TestKprobeSymbolsInGuest)$'"},
	}})
	out := res[0].Output
	for _, name := range []string{"TestKprobeInGuest", "TestKretprobeMissesInGuest", "TestModuleKprobeInGuest", "TestKprobeSymbolsInGuest"} {
		if res[0].Status != 0 || !strings.Contains(out, "--- PASS: "+name) {
			t.Fatalf("in the guest: exit status %d, no PASS for %s; output:\n%s", res[0].Status, name, out)
		}
	}
	t.Logf("in the guest:\n%s", out)
}

// openat2Plan finds do_sys_openat2 in vmlinux, and the offsets of its
// entry and of the instructions after its calls to guestCalls.
func openat2Plan(t *testing.T, vmlinux string) guestPlan {
	t.Helper()
	f, err := elf.Open(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	const fn = "do_sys_openat2"
	var fsym, sleep, ncpu *elf.Symbol
	callee := map[uint64]string{}
	funcs := map[string][]int{}
	for i, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			funcs[s.Name] = append(funcs[s.Name], i)
		}
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		switch s.Name {
		case fn:
			fsym = &syms[i]
		case sleepSymbol:
			sleep = &syms[i]
		}
	}
	for i, s := range syms {
		if s.Name == "nr_cpu_ids" && elf.ST_TYPE(s.Info) == elf.STT_OBJECT {
			ncpu = &syms[i]
		}
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		for _, c := range guestCalls {
			if s.Name == c {
				callee[s.Value] = c
			}
		}
	}
	if fsym == nil || sleep == nil || ncpu == nil {
		t.Fatalf("%s: no symbol %s, %s or nr_cpu_ids", vmlinux, fn, sleepSymbol)
	}
	text := f.Section(".text")
	read := func(s *elf.Symbol) []byte {
		code := make([]byte, s.Size)
		if _, err := text.ReadAt(code, int64(s.Value-text.Addr)); err != nil {
			t.Fatal(err)
		}
		return code
	}
	code := read(fsym)
	gp := guestPlan{Symbol: fn, Addr: fsym.Value, Code: code, Stmts: map[string]uint64{"entry": 0}, SleepCode: read(sleep), NrCPUIDs: ncpu.Value}
	// The first name (in sort order) of exactly two functions.
	for name, idx := range funcs {
		if len(idx) == 2 && name != "" && syms[idx[0]].Size > 0 && (gp.DupSymbol == "" || name < gp.DupSymbol) {
			gp.DupSymbol = name
		}
	}
	if gp.DupSymbol == "" {
		t.Fatalf("%s: no two functions share a name", vmlinux)
	}
	gp.DupCode = read(&syms[funcs[gp.DupSymbol][0]])
	for off := 0; off < len(code); {
		in, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			t.Fatalf("%s+%#x: %v", fn, off, err)
		}
		next := off + in.Len
		if in.Op == x86asm.CALL {
			if rel, ok := in.Args[0].(x86asm.Rel); ok {
				if c, ok := callee[fsym.Value+uint64(next)+uint64(int64(rel))]; ok {
					if _, dup := gp.Stmts[c]; dup {
						t.Fatalf("%s calls %s twice", fn, c)
					}
					gp.Stmts[c] = uint64(next)
				}
			}
		}
		off = next
	}
	if len(gp.Stmts) != 1+len(guestCalls) {
		t.Fatalf("%s: found the calls %v, want %v", fn, gp.Stmts, guestCalls)
	}
	return gp
}

// TestKprobeInGuest runs in the guest (TestKprobeGuest boots it): it
// traces do_sys_openat2 with kprobes at its entry and after four calls,
// keeping the invocations that return -ENOENT, while openmissing, run as
// a child of this process (a target), opens a missing file three times and
// an outsider started before the session does so five times. Checked: the
// child's three invocations and no other, each with the statements in
// order, the return value -2, the filename read through its __user
// pointer (bpf_probe_read_user) and the copy getname made in kernel memory
// (bpf_probe_read_kernel), a global placed by the KASLR offset, and no
// return or probe hit lost; with the return probe an fexit program (the
// kernel allows it there) and a kretprobe.
func TestKprobeInGuest(t *testing.T) {
	if !guest.Inside() {
		t.Skip("runs in the guest only: TestKprobeGuest boots it")
	}
	for _, ret := range []string{"fexit", "kretprobe"} {
		t.Run(ret, func(t *testing.T) { testKprobeInGuest(t, ret) })
	}
}

func testKprobeInGuest(t *testing.T, ret string) {
	gp := readGuestPlan(t)
	kallsyms, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	// The symbol is in the running kernel's text, at a real address
	// (kptr_restrict lets root see it): what the kprobes resolve.
	found := false
	for _, line := range strings.Split(string(kallsyms), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == gp.Symbol && (f[1] == "t" || f[1] == "T") {
			addr, err := strconv.ParseUint(f[0], 16, 64)
			found = err == nil && addr >= 1<<63
			t.Logf("%s at %s in /proc/kallsyms", gp.Symbol, f[0])
		}
	}
	if !found {
		t.Fatalf("/proc/kallsyms has no text symbol %s at a kernel address", gp.Symbol)
	}
	// The statement ids, in the order the ENOENT path runs them.
	ids := map[string]uint32{"entry": 10, "build_open_flags": 11, "getname": 12, "do_filp_open": 13, "fd_install": 14}
	p := Plan{Attach: target.AttachKprobe, Code: map[string][]byte{gp.Symbol: gp.Code}, Spec: bpfgen.Spec{Space: target.KernelSpace, EntrySymbol: gp.Symbol, EntryPC: gp.Addr, RetSize: 8, Cond: ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: -2}}}}
	for name, off := range gp.Stmts {
		st := bpfgen.Stmt{ID: ids[name], PC: gp.Addr + off, Symbol: gp.Symbol, FileOffset: off}
		switch name {
		case "entry":
			// filename, the second argument (rsi, DWARF register 4):
			// a __user pointer.
			st.Vars = []ir.Var{{Name: "filename", Expr: []byte{0x54}, Size: 8, Str: 32}}
		case "getname":
			// getname's struct filename * in rax (DWARF register 0),
			// whose first field is the kernel copy of the name.
			st.Vars = []ir.Var{{Name: "name", Expr: []byte{0x70, 0x00}, Size: 8, Str: 32}}
		case "do_filp_open":
			// The global nr_cpu_ids (DW_OP_addr, placed by how far
			// KASLR moved the kernel: the probed pc less its
			// link-time address), 1 in the one-CPU guest.
			addr := binary.LittleEndian.AppendUint64([]byte{0x03}, gp.NrCPUIDs)
			st.Vars = []ir.Var{{Name: "nr_cpu_ids", Expr: addr, Size: 4}}
		}
		p.Stmts = append(p.Stmts, st)
	}

	// The target: a shell that waits for a line, then runs openmissing
	// as its child (the trailing true keeps it from exec'ing in place),
	// which the fork tracker must follow. The outsider is no descendant.
	outsider, releaseOutsider := startGated(t, "./openmissing", "5", "wait")
	shell, releaseShell := startGated(t, "sh", "-c", "read x; ./openmissing 3; true")
	s, err := Start(context.Background(), p, Options{PIDs: []int{shell.Process.Pid}, NoFexit: ret == "kretprobe"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ReturnProbe(); got != ret {
		t.Errorf("return probe %s, want %s", got, ret)
	}
	var traces []Trace
	done := make(chan struct{})
	go func() {
		for tr := range s.Traces() {
			traces = append(traces, tr)
		}
		close(done)
	}()
	releaseOutsider()
	releaseShell()
	for _, c := range []*exec.Cmd{outsider, shell} {
		c.Wait()
	}
	if c := outsider.ProcessState.ExitCode(); c != 1 {
		t.Errorf("outsider: exit status %d, want 1", c)
	}
	if c := shell.ProcessState.ExitCode(); c != 0 {
		t.Errorf("shell: exit status %d, want 0", c)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}

	name := []byte("/whythefail/missing")
	wantRecs := []Record{
		{StmtID: 10, Values: []Value{{Bytes: name}}},
		{StmtID: 11, Values: []Value{}},
		{StmtID: 12, Values: []Value{{Bytes: name}}},
		{StmtID: 13, Values: []Value{{U64: 1, OK: true}}},
	}
	if len(traces) != 3 {
		t.Fatalf("got %d traces, want 3 (the child's): %+v", len(traces), traces)
	}
	child := traces[0].PID
	for i, tr := range traces {
		if tr.PID != child || tr.TID != tr.PID || tr.Return != -2 || tr.Depth != 1 || tr.Comm != "openmissing" ||
			child == uint32(shell.Process.Pid) || child == uint32(outsider.Process.Pid) {
			t.Errorf("trace %d: pid %d tid %d comm %q depth %d return %d; want one pid=tid for all (the shell's child, neither the shell %d nor the outsider %d), openmissing, 1, -2",
				i, tr.PID, tr.TID, tr.Comm, tr.Depth, tr.Return, shell.Process.Pid, outsider.Process.Pid)
		}
		got := make([]Record, len(tr.Records))
		for j, r := range tr.Records {
			got[j] = Record{StmtID: r.StmtID, Values: []Value{}}
			for _, v := range r.Values {
				if r.StmtID == 13 { // a scalar
					v = Value{U64: v.U64, OK: v.OK}
				} else { // a string: its pointer's value varies
					v = Value{Bytes: v.Bytes, Truncated: v.Truncated, Unreadable: v.Unreadable}
				}
				got[j].Values = append(got[j].Values, v)
			}
		}
		if !reflect.DeepEqual(got, wantRecs) {
			t.Errorf("trace %d records:\n got %+v\nwant %+v", i, got, wantRecs)
		}
	}
	if st.Entries != 3 || st.ExitHit != 3 || st.ExitMiss != 0 || st.Statements != 12 || st.ReturnMisses != 0 || st.ReturnMissesUnknown || st.ProgramMisses != 0 || st.MissingBuffer != 0 || st.EntryDrops != 0 {
		t.Errorf("stats %+v: want 3 invocations committed with 4 statements each, no return or probe hit lost", st)
	}
	t.Logf("stats: %+v", st)
}

// startGated starts a command that waits for a line on its stdin, and
// returns it with the function that sends the line.
func startGated(t *testing.T, name string, args ...string) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command(name, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, func() {
		fmt.Fprintln(in, "go")
		in.Close()
	}
}

// readGuestPlan reads what TestKprobeGuest computed on the host.
func readGuestPlan(t *testing.T) guestPlan {
	t.Helper()
	b, err := os.ReadFile(kprobePlanFile)
	if err != nil {
		t.Fatal(err)
	}
	var gp guestPlan
	if err := json.Unmarshal(b, &gp); err != nil {
		t.Fatal(err)
	}
	return gp
}

// TestKretprobeMissesInGuest runs in the guest (TestKprobeGuest boots
// it): with room for one call at a time in the return probe, three sleeps
// at once (and whatever else sleeps meanwhile: every task is traced) make
// the kretprobe miss at least two returns. The misses must be counted
// (from kprobe_profile on this 6.1 kernel), never silent.
func TestKretprobeMissesInGuest(t *testing.T) {
	if !guest.Inside() {
		t.Skip("runs in the guest only: TestKprobeGuest boots it")
	}
	gp := readGuestPlan(t)
	p := Plan{Attach: target.AttachKprobe, Code: map[string][]byte{sleepSymbol: gp.SleepCode}, Spec: bpfgen.Spec{Space: target.KernelSpace, EntrySymbol: sleepSymbol, RetSize: 8}}
	s, err := Start(context.Background(), p, Options{TraceAll: true, KretprobeMaxActive: 1, NoFexit: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	done := make(chan struct{})
	go func() {
		for range s.Traces() {
			n++
		}
		close(done)
	}()
	if out, err := exec.Command("sh", "-c", "sleep 1 & sleep 1 & sleep 1 & wait").CombinedOutput(); err != nil {
		t.Fatalf("sleeps: %v\n%s", err, out)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d traces, stats %+v", n, st)
	// The count is an upper bound of the invocations lost (it also
	// counts calls while the entry probe was going, and calls whose
	// entry the kernel skipped too), so only its lower bound is exact.
	if st.ReturnMissesUnknown || st.ReturnMisses < 2 || st.ExitHit != uint64(n) {
		t.Errorf("want at least 2 returns counted missed and every trace committed")
	}
}

// moduleCode returns the code of function sym in a module (ET_REL: the
// symbol's value is its offset in its section). Relocations change the
// displacements of calls, never instruction lengths, so the code
// serves to check instruction boundaries unrelocated.
func moduleCode(t *testing.T, ko, sym string) []byte {
	t.Helper()
	f, err := elf.Open(ko)
	if err != nil {
		fx.Missing(t, "the guest kernel's module tree is missing (run .ci/kernel): %v", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == sym && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			code := make([]byte, s.Size)
			if _, err := f.Sections[s.Section].ReadAt(code, int64(s.Value)); err != nil {
				t.Fatal(err)
			}
			return code
		}
	}
	t.Fatalf("%s: no function %s", ko, sym)
	return nil
}

// TestModuleKprobeInGuest runs in the guest (TestKprobeGuest boots it):
// kprobes in a module. It traces module 9pnet's p9_client_create, which
// returns ERR_PTR(-EINVAL) for a mount with version=bogus, keeping
// invocations that return -22: exactly the one of the mount that a
// traced shell runs.
func TestModuleKprobeInGuest(t *testing.T) {
	if !guest.Inside() {
		t.Skip("runs in the guest only: TestKprobeGuest boots it")
	}
	gp := readGuestPlan(t)
	if err := os.MkdirAll("/mnt/bogus", 0o755); err != nil {
		t.Fatal(err)
	}
	p := Plan{Attach: target.AttachKprobe, Code: map[string][]byte{modSymbol: gp.ModCode}, Spec: bpfgen.Spec{Space: target.KernelSpace, EntrySymbol: modSymbol, RetSize: 8, Cond: ir.BinOp{Op: ir.OpEq, L: ir.Return{}, R: ir.Const{V: -22}}}}
	shell, release := startGated(t, "sh", "-c", "read x; mount -t 9p -o trans=virtio,version=bogus host /mnt/bogus; test $? = 255")
	s, err := Start(context.Background(), p, Options{PIDs: []int{shell.Process.Pid}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("return probe: %s", s.ReturnProbe())
	var traces []Trace
	done := make(chan struct{})
	go func() {
		for tr := range s.Traces() {
			traces = append(traces, tr)
		}
		close(done)
	}()
	release()
	if err := shell.Wait(); err != nil {
		t.Errorf("the mount did not fail with status 255: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) != 1 || traces[0].Return != -22 || traces[0].Comm != "mount" || traces[0].PID == uint32(shell.Process.Pid) {
		t.Errorf("traces %+v: want one, of the shell's child mount, returning -22", traces)
	}
	if st.Entries != 1 || st.ExitHit != 1 || st.ReturnMisses != 0 || st.ReturnMissesUnknown || st.ProgramMisses != 0 || st.MissingBuffer != 0 {
		t.Errorf("stats %+v: want one invocation, committed, nothing lost", st)
	}
}

// TestKprobeSymbolsInGuest runs in the guest (TestKprobeGuest boots it):
// a kprobe goes to a function by name, so a name two functions share, or
// one the running kernel lacks, is refused with one line before anything
// attaches; a module's function of a unique name is accepted.
func TestKprobeSymbolsInGuest(t *testing.T) {
	if !guest.Inside() {
		t.Skip("runs in the guest only: TestKprobeGuest boots it")
	}
	gp := readGuestPlan(t)
	for _, c := range []struct {
		sym  string
		code []byte
		want string
	}{
		{gp.DupSymbol, gp.DupCode, "the running kernel has 2 functions named " + gp.DupSymbol + " (/proc/kallsyms): a kprobe by that name could go to any of them"},
		{"whythefail_no_such_function", gp.Code, "the running kernel has no function whythefail_no_such_function (/proc/kallsyms)"},
		{modSymbol, gp.ModCode, ""},
	} {
		p := Plan{Attach: target.AttachKprobe, Code: map[string][]byte{c.sym: c.code}, Spec: bpfgen.Spec{Space: target.KernelSpace, EntrySymbol: c.sym, RetSize: 8}}
		s, err := Start(context.Background(), p, Options{TraceAll: true})
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			s.Close()
		}
		if got != c.want {
			t.Errorf("%s: got error %q, want %q", c.sym, got, c.want)
		}
	}
}
