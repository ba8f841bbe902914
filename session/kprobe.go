package session

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/insn"
)

// KretprobeMaxActive is how many invocations of the traced function the
// return probe follows at once, over every task in the system (the kernel
// preallocates that many instances; its default is only twice the number of
// CPUs). A call that finds none free is not seen returning: the kernel
// counts it (Stats.ReturnMisses).
const KretprobeMaxActive = 4096

// kprobePMU is the perf PMU through which kprobes are created; it exists
// exactly when the kernel has kprobe events (CONFIG_KPROBES and
// CONFIG_KPROBE_EVENTS).
const kprobePMU = "/sys/bus/event_source/devices/kprobe/type"

// ErrNoKprobes says the kernel cannot place kprobes; it matches
// ErrNotSupported.
var ErrNoKprobes = fmt.Errorf("the kernel has no kprobes (CONFIG_KPROBES and CONFIG_KPROBE_EVENTS are off): kernel functions cannot be traced on it: %w", ErrNotSupported)

// HaveKprobes reports whether the kernel can place kprobes, by looking for
// the kprobe PMU; the error is ErrNoKprobes when it cannot.
func HaveKprobes() error {
	if _, err := os.Stat(kprobePMU); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoKprobes
		}
		return fmt.Errorf("looking for the kprobe PMU: %w", err)
	}
	return nil
}

// checkKprobeSites checks, before anything attaches, that every kprobe of
// p (the entry, and each statement at Symbol+FileOffset) starts an
// instruction of its function, decoding the code bytes p.Code gives for
// the symbol. A kprobe inside an instruction would be refused by the
// kernel with a misleading error, or worse.
func checkKprobeSites(p Plan) error {
	if p.EntrySymbol == "" {
		return errors.New("kprobe plan without an entry symbol")
	}
	bounds := map[string][]uint64{}
	check := func(sym string, off uint64) error {
		if sym == "" {
			return fmt.Errorf("kprobe at offset %#x without a symbol", off)
		}
		if off == 0 && p.Code[sym] == nil {
			// A symbol's start starts an instruction; without its code
			// (a kernel traced from BTF alone) nothing else is checked.
			return nil
		}
		b, ok := bounds[sym]
		if !ok {
			code, ok := p.Code[sym]
			if !ok {
				return fmt.Errorf("no code bytes for %s: its kprobe offsets cannot be checked", sym)
			}
			var err error
			b, err = insn.Boundaries(code, 0)
			if err != nil {
				return fmt.Errorf("decoding %s to check kprobe offsets: %w", sym, err)
			}
			bounds[sym] = b
		}
		if !insn.IsBoundary(b, off) {
			return fmt.Errorf("%s+%#x is not the start of an instruction: no kprobe can go there", sym, off)
		}
		return nil
	}
	if err := check(p.EntrySymbol, 0); err != nil {
		return err
	}
	for _, st := range p.Stmts {
		if err := check(st.Symbol, st.FileOffset); err != nil {
			return fmt.Errorf("statement %d: %w", st.ID, err)
		}
	}
	return nil
}

// attachKprobes places a kretprobe at the function, a kprobe at each
// statement's symbol+offset and one at the entry, in the order
// attachUprobes explains (return first, entry last).
//
// The kretprobe asks for KretprobeMaxActive instances (or
// Options.KretprobeMaxActive), which the kernel
// takes only through tracefs (cilium/ebpf then creates the probe there
// rather than through the perf PMU); where that fails (no tracefs
// mounted) it falls back to the kernel's default through the PMU and says
// so in Notes. Either way the kernel counts the returns it missed (see
// returnMisses); for a PMU probe only kernels from 6.6 report the count,
// and Stats says when it is unknown.
func (s *Session) attachKprobes(p Plan, o Options, gen *bpfgen.Generated) error {
	prog := s.coll.Programs
	maxActive := o.KretprobeMaxActive
	if maxActive <= 0 {
		maxActive = KretprobeMaxActive
	}
	var l link.Link
	var err error
	if s.fexit {
		l, err = link.AttachTracing(link.TracingOptions{Program: prog[bpfgen.ProgReturn], AttachType: ebpf.AttachTraceFExit})
		if err != nil {
			return &FexitError{Symbol: p.EntrySymbol, Err: err}
		}
		s.links = append(s.links, l)
		s.probes++
		return s.attachKprobeStmts(p, gen)
	}
	opts := &link.KprobeOptions{RetprobeMaxActive: maxActive, TraceFSPrefix: "whythefail"}
	l, err = link.Kretprobe(p.EntrySymbol, prog[bpfgen.ProgReturn], opts)
	if err != nil {
		// No tracefs mounted, most likely: the perf PMU takes the
		// kernel's default.
		s.notes = append(s.notes, fmt.Sprintf("the return probe follows at most the kernel's default number of concurrent calls of %s, not %d (%v)", p.EntrySymbol, maxActive, err))
		l, err = link.Kretprobe(p.EntrySymbol, prog[bpfgen.ProgReturn], nil)
	}
	if err != nil {
		return fmt.Errorf("attaching the return probe (kretprobe) at %s: %w", p.EntrySymbol, err)
	}
	s.links = append(s.links, l)
	s.ret = l
	s.retSymbol = p.EntrySymbol
	s.probes++
	if err := s.attachKprobeStmts(p, gen); err != nil {
		return err
	}
	// Misses from before the entry probe are of calls no invocation
	// was opened for: count from here.
	s.retBase, s.retBaseErr = s.returnMisses()
	return nil
}

// attachKprobeStmts attaches the statements' kprobes, then the entry's.
func (s *Session) attachKprobeStmts(p Plan, gen *bpfgen.Generated) error {
	prog := s.coll.Programs
	for i, name := range gen.StmtPrograms {
		if name == "" {
			continue
		}
		st := p.Stmts[i]
		l, err := link.Kprobe(st.Symbol, prog[name], &link.KprobeOptions{Offset: st.FileOffset})
		if err != nil {
			return fmt.Errorf("attaching statement %d at %s+%#x: %w", st.ID, st.Symbol, st.FileOffset, err)
		}
		s.links = append(s.links, l)
		s.probes++
	}
	l, err := link.Kprobe(p.EntrySymbol, prog[bpfgen.ProgEntry], nil)
	if err != nil {
		return fmt.Errorf("attaching the entry probe at %s: %w", p.EntrySymbol, err)
	}
	s.links = append(s.links, l)
	s.probes++
	return nil
}

// FexitError says the kernel loaded the fexit return program but refused
// to attach it to the function (EBUSY where another ftrace user holds the
// function's entry, as with __do_sys_perf_event_open on Debian's 6.1):
// starting again with Options.NoFexit uses a kretprobe instead.
type FexitError struct {
	Symbol string
	Err    error
}

func (e *FexitError) Error() string {
	return fmt.Sprintf("attaching the return probe (fexit) at %s: %v", e.Symbol, e.Err)
}

func (e *FexitError) Unwrap() error { return e.Err }

var fexitProbes sync.Map // symbol -> error (nil: fexit attaches there)

// HaveFexit reports whether the kernel loads an fexit program for the
// function symbol that reads its return value (bpf_get_func_ret): it
// needs kernel BTF naming the function, a kernel that allows fexit (the
// trampolines), and a function that is not notrace. The answer is cached
// per symbol; the error wraps ErrNotSupported when the kernel refused.
func HaveFexit(symbol string) error {
	if v, ok := fexitProbes.Load(symbol); ok {
		err, _ := v.(error)
		return err
	}
	spec := &ebpf.ProgramSpec{
		Name:       "wtf_probe_fexit",
		Type:       ebpf.Tracing,
		AttachType: ebpf.AttachTraceFExit,
		AttachTo:   symbol,
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.FnGetFuncRet.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	}
	var err error
	if p, perr := ebpf.NewProgram(spec); perr != nil {
		if !errors.Is(perr, ErrNotSupported) {
			perr = fmt.Errorf("%w: %w", ErrNotSupported, perr)
		}
		err = fmt.Errorf("loading an fexit program for %s: %w", symbol, perr)
	} else {
		p.Close()
	}
	fexitProbes.Store(symbol, err)
	return err
}

// ReturnProbe names the kind of the return probe: "uretprobe",
// "kretprobe" or "fexit".
func (s *Session) ReturnProbe() string {
	switch {
	case s.fexit:
		return "fexit"
	case s.ret != nil:
		return "kretprobe"
	default:
		return "uretprobe"
	}
}

// returnMisses reads how many returns the kretprobe missed (no free
// instance when the call began), in total since it was attached. Kernels from 6.6 report it in the link's
// info; older ones only in tracefs' kprobe_profile, by event name, which
// is the symbol (cilium/ebpf names tracefs events after it, in a group of
// their own): the count is taken from there only when exactly one kprobe
// event has that name, since the file does not show groups.
func (s *Session) returnMisses() (uint64, error) {
	if s.ret == nil {
		return 0, nil
	}
	if s.retBaseErr != nil {
		return 0, s.retBaseErr
	}
	if info, err := s.ret.Info(); err == nil {
		if pe := info.PerfEvent(); pe != nil {
			if k := pe.Kprobe(); k != nil {
				return k.Missed, nil
			}
		}
	}
	for _, dir := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		n, err := profileMissed(filepath.Join(dir, "kprobe_profile"), tracefsEventName(s.retSymbol))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		return n, err
	}
	return 0, errors.New("neither the link's info nor tracefs' kprobe_profile gives the kretprobe's missed count")
}

// newReturnMisses is what Stats.ReturnMisses reports: the returns missed
// since the entry probe was attached (returnMisses less s.retBase).
func (s *Session) newReturnMisses() (uint64, error) {
	n, err := s.returnMisses()
	if err != nil {
		return 0, err
	}
	if n < s.retBase {
		return 0, fmt.Errorf("the kretprobe's missed count went down from %d to %d", s.retBase, n)
	}
	return n - s.retBase, nil
}

// tracefsEventName is the name cilium/ebpf gives a tracefs kprobe event
// for symbol: every run of characters other than ASCII letters and digits
// becomes one underscore.
func tracefsEventName(symbol string) string {
	var b strings.Builder
	skip := false
	for _, c := range symbol {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			skip = false
		} else if !skip {
			b.WriteByte('_')
			skip = true
		}
	}
	return b.String()
}

// profileMissed reads the missed count of event from a kprobe_profile
// file, whose lines are "NAME HITS MISSED".
func profileMissed(path, event string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseProfile(f, path, event)
}

// parseProfile is profileMissed on the file's contents in r.
func parseProfile(r io.Reader, path, event string) (uint64, error) {
	var found []uint64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[0] != event {
			continue
		}
		n, err := strconv.ParseUint(fields[2], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		found = append(found, n)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("%s lists %d kprobe events named %s, not one", path, len(found), event)
	}
	return found[0], nil
}

// programMisses sums, over the session's programs, the runs the kernel
// skipped because another BPF program was running on that CPU (a probe hit
// in an interrupt that came during one of ours, or a probe inside a
// function BPF itself calls): such hits are lost, so they are counted
// (Stats.ProgramMisses). Kernels before 5.12 do not count them.
func (s *Session) programMisses() (uint64, error) {
	names := make([]string, 0, len(s.coll.Programs))
	for name := range s.coll.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	var sum uint64
	for _, name := range names {
		st, err := s.coll.Programs[name].Stats()
		if err != nil {
			return 0, fmt.Errorf("reading the statistics of program %s: %w", name, err)
		}
		sum += st.RecursionMisses
	}
	return sum, nil
}

// kallsyms is the running kernel's symbol table.
const kallsyms = "/proc/kallsyms"

// checkKprobeSymbols checks that every symbol a kprobe goes to names
// exactly one function of the running kernel: the kernel places a kprobe
// by name at the first function of that name, and static functions of
// different files can share one, so a second one would silently get
// another function's probes. Modules' functions count too (cilium/ebpf
// takes no MODULE:NAME form to tell them apart).
func checkKprobeSymbols(p Plan) error {
	want := map[string]int{p.EntrySymbol: 0}
	for _, st := range p.Stmts {
		want[st.Symbol] = 0
	}
	f, err := os.Open(kallsyms)
	if err != nil {
		return fmt.Errorf("reading the kernel's symbols: %w", err)
	}
	defer f.Close()
	if err := countFunctions(f, want); err != nil {
		return err
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch n := want[name]; {
		case n == 0:
			return fmt.Errorf("the running kernel has no function %s (%s)", name, kallsyms)
		case n > 1:
			return fmt.Errorf("the running kernel has %d functions named %s (%s): a kprobe by that name could go to any of them", n, name, kallsyms)
		}
	}
	return nil
}

// countFunctions counts, in the kallsyms text r, the text symbols of each
// name in want.
func countFunctions(r io.Reader, want map[string]int) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// ADDRESS TYPE NAME [MODULE]
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[1] != "t" && fields[1] != "T" {
			continue
		}
		if _, ok := want[fields[2]]; ok {
			want[fields[2]]++
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", kallsyms, err)
	}
	return nil
}
