package tracer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// specPath is the Path of the probe points Prepare resolves in bin: the
// program's canonical path, the module's name, nothing for the kernel.
func specPath(tt traceTarget, bin target.Binary) string {
	switch tt.kind {
	case spec.Kernel:
		return ""
	case spec.Module:
		return bin.Name()
	}
	return bin.Name()
}

// inlinedOnly is the error for a kernel or module function that has no
// out-of-line instance with DWARF: inlined into its callers only; nil when
// it is not inlined anywhere either.
func inlinedOnly(r *probe.Resolver, tt traceTarget, bin target.Binary, name string) error {
	is := &spec.Spec{Target: tt.kind, Path: specPath(tt, bin), Point: spec.Function, Func: name, Suffix: spec.Inline}
	pts, err := r.Resolve(is)
	if err != nil || len(pts) == 0 {
		return nil
	}
	return fmt.Errorf("%s is inlined into its callers only (%s in %s): no kprobe can catch its calls or its return; trace a function it is inlined into (whythefail -L '%s.function(\"%s\").inline' lists them)",
		name, plural(len(pts), "copy", "copies"), bin.ProbePoint(), bin.ProbePoint(), name)
}

// kprobeBlacklist is the running kernel's list of functions kprobes refuse
// (NOKPROBE_SYMBOL, __kprobes, noinstr, the entry code), read when debugfs
// is mounted; a variable for tests.
var kprobeBlacklist = "/sys/kernel/debug/kprobes/blacklist"

// readKprobeBlacklist returns the function names of the kernel's kprobe
// blacklist, nil when it cannot be read (debugfs not mounted).
func readKprobeBlacklist() map[string]bool {
	f, err := os.Open(kprobeBlacklist)
	if err != nil {
		return nil
	}
	defer f.Close()
	// 0xSTART-0xEND	NAME [MODULE]
	return symbolColumn(f, 1)
}

// symbolColumn returns the words in column col (from 0) of the lines of
// r; nil when r cannot be read to its end.
func symbolColumn(r io.Reader, col int) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > col {
			names[fields[col]] = true
		}
	}
	if sc.Err() != nil {
		return nil
	}
	return names
}

// ftraceFunctions lists the functions ftrace can trace; kprobe events
// refuse every address of a function it lacks (a notrace function: the
// kernel's "Could not probe notrace function", unless it was built with
// CONFIG_KPROBE_EVENTS_ON_NOTRACE). Variables for tests.
var ftraceFunctions = []string{"/sys/kernel/tracing/available_filter_functions", "/sys/kernel/debug/tracing/available_filter_functions"}

// readFtraceFunctions returns the names ftrace can trace (modules' too),
// nil when tracefs is not mounted.
func readFtraceFunctions() map[string]bool {
	for _, p := range ftraceFunctions {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		// NAME [MODULE]
		names := symbolColumn(f, 0)
		f.Close()
		if len(names) == 0 {
			return nil
		}
		return names
	}
	return nil
}

// kernelLists are the running kernel's lists that say where kprobes may
// go, each nil when it could not be read.
type kernelLists struct {
	black  map[string]bool // the kprobe blacklist
	ftrace map[string]bool // available_filter_functions
}

func readKernelLists() kernelLists {
	return kernelLists{black: readKprobeBlacklist(), ftrace: readFtraceFunctions()}
}

// refusedSite says why the kernel would refuse a kprobe at va, in
// function symbol sym, "" when it would not: sections it never probes
// (the entry code, noinstr code, init code already freed), the __kprobes
// text, and the kernel's own blacklist when debugfs shows it.
func refusedSite(kb kernelBinary, lists kernelLists, sym string, va uint64) string {
	if lists.black[sym] {
		return sym + " is in the kernel's kprobe blacklist (" + kprobeBlacklist + ")"
	}
	// As the kernel checks it (within_notrace_func): a suffixed symbol
	// (p9_client_create.cold, f.isra.0) by the function it is part of.
	base, _, _ := strings.Cut(sym, ".")
	if lists.ftrace != nil && !lists.ftrace[sym] && !lists.ftrace[base] {
		return sym + " is notrace (not in available_filter_functions), and the kernel's kprobe events refuse notrace functions"
	}
	k, ok := kb.(*target.Kernel)
	if !ok {
		return ""
	}
	if start, end, ok := k.KprobesText(); ok && va >= start && va < end {
		return sym + " is __kprobes code, which kprobes never probe"
	}
	switch sec := k.SectionName(va); {
	case sec == ".entry.text" || sec == ".noinstr.text":
		return fmt.Sprintf("%s is in %s, which kprobes never probe", sym, sec)
	case strings.HasPrefix(sec, ".init.") || strings.HasPrefix(sec, ".exit."):
		return fmt.Sprintf("%s is in %s, freed after boot", sym, sec)
	}
	if why := kernelReserved(kb).why(va); why != "" {
		return fmt.Sprintf("%#x in %s is %s: no kprobe goes there", va, sym, why)
	}
	return ""
}

// kernelEntry sets the plan's entry symbol: the traced function's own
// symbol, where its entry kprobe and its return probe go. A function the
// kernel refuses to probe is refused here, in one line naming it.
func kernelEntry(job *Job, kb kernelBinary, fn *debuginfo.Function) error {
	sym, off, err := kb.KprobeSite(fn.Entry)
	if err != nil {
		return fmt.Errorf("%s cannot be probed: %w", fn.Name, err)
	}
	if off != 0 {
		return fmt.Errorf("%s's entry %#x is %s+%#x, not a function symbol of its own: no kprobe can catch its calls", fn.Name, fn.Entry, sym, off)
	}
	if why := refusedSite(kb, readKernelLists(), sym, fn.Entry); why != "" {
		return fmt.Errorf("the kernel does not allow kprobes in %s: %s", fn.Name, why)
	}
	job.Plan.EntrySymbol = sym
	return nil
}

// kernelSites places every statement's kprobe (verdict branches
// included) at its function symbol plus offset, and gives the plan the code
// of each symbol, from which the session checks that every offset starts
// an instruction. Statements no kprobe can be placed at are left out and
// listed in a note; when a verdict branch is among them the verdict line
// is dropped (its explanation would miss a branch), said in a note.
func kernelSites(job *Job, kb kernelBinary, fn *debuginfo.Function) error {
	lists := readKernelLists()
	type span struct{ start, size uint64 }
	spans := map[string]span{job.Plan.EntrySymbol: {start: job.Plan.EntryPC}}
	var kept []bpfgen.Stmt
	var refused, refusedOrigin []string
	dropVerdict := false
	for _, st := range job.Plan.Stmts {
		sym, off, err := kb.KprobeSite(st.PC)
		why := ""
		switch {
		case err != nil:
			why = err.Error()
		default:
			why = refusedSite(kb, lists, sym, st.PC)
		}
		if why != "" {
			if st.Branch {
				dropVerdict = true
			} else {
				rs, ok := job.Stmts[st.ID]
				if job.Origin != nil && !ok {
					rs = job.Origin.Stmts[st.ID] // the origin's
					delete(job.Origin.Stmts, st.ID)
					refusedOrigin = append(refusedOrigin, fmt.Sprintf("%s:%d (%#x: %s)", rs.File, rs.Line, st.PC, why))
					continue
				}
				refused = append(refused, fmt.Sprintf("%s:%d (%#x: %s)", rs.File, rs.Line, st.PC, why))
			}
			continue
		}
		st.Symbol, st.FileOffset = sym, off
		spans[sym] = span{start: st.PC - off}
		kept = append(kept, st)
	}
	// The branch probes are FUNCTION's, or, when it has no verdict, the
	// origin's (planOriginVerdict).
	if dropVerdict && (job.Verdict != nil || (job.Origin != nil && job.Origin.Verdict != nil)) {
		var stmts []bpfgen.Stmt
		for _, st := range kept {
			if !st.Branch {
				stmts = append(stmts, st)
			}
		}
		kept = stmts
		if job.Verdict != nil {
			job.Verdict = nil
			job.Notes = append(job.Notes, "no verdict line: a branch of "+fn.Name+" cannot be probed")
		} else {
			job.originNotes = append(job.originNotes, "no verdict line for "+job.Origin.Function+": one of its branches cannot be probed")
			job.Origin.Verdict = nil
		}
	}
	job.Plan.Stmts = kept
	if len(refusedOrigin) > 0 {
		job.originNotes = append(job.originNotes, fmt.Sprintf("%d statement(s) of %s cannot be probed and are not traced: %s", len(refusedOrigin), job.Origin.Function, strings.Join(refusedOrigin, "; ")))
	}
	if len(refused) > 0 {
		job.Notes = append(job.Notes, fmt.Sprintf("%d statement(s) of %s cannot be probed and are not traced: %s", len(refused), fn.Name, strings.Join(refused, "; ")))
	}
	// Each symbol's code, whole: its size from the symbol table.
	sizes := map[string]uint64{}
	for _, s := range kb.Symbols() {
		if sp, ok := spans[s.Name]; ok && s.Value == sp.start && s.Size > sizes[s.Name] {
			sizes[s.Name] = s.Size
		}
	}
	names := make([]string, 0, len(spans))
	for name := range spans {
		names = append(names, name)
	}
	sort.Strings(names)
	job.Plan.Code = map[string][]byte{}
	for _, name := range names {
		size := sizes[name]
		if size == 0 {
			return fmt.Errorf("%s: the symbol table gives no size for %s: its kprobe offsets cannot be checked", kb.ProbePoint(), name)
		}
		code, err := kb.Code(spans[name].start, int(size))
		if err != nil {
			return fmt.Errorf("%s: reading the code of %s: %w", kb.ProbePoint(), name, err)
		}
		job.Plan.Code[name] = code
	}
	return nil
}

// kernelMissNotes say what the statistics cannot: that the kernel gave no
// count of the returns its kretprobe missed, so invocations may have been
// lost unseen. Counted misses are in the statistics.
func kernelMissNotes(j *Job, st session.Stats, ret string) []string {
	if j.Plan.Attach != target.AttachKprobe || !st.ReturnMissesUnknown || ret != "kretprobe" {
		return nil
	}
	return []string{fmt.Sprintf("the kernel does not say how many returns of %s its kretprobe missed (it counts them from 6.6, or with tracefs mounted): calls it missed were never traced, and not counted", j.Plan.EntrySymbol)}
}

// noKprobes words session.ErrNoKprobes for the user: the sentence, without
// the "not supported" it wraps for errors.Is.
func noKprobes(err error) error {
	if errors.Is(err, session.ErrNoKprobes) {
		return errors.New(strings.TrimSuffix(err.Error(), ": "+session.ErrNotSupported.Error()))
	}
	return err
}

// moduleStatics places a module's global and static variables: their
// DW_OP_addr is in the .ko's layout (laid out as libdwfl does), and the
// kernel loads each of the module's sections on its own, so the probed
// pc's displacement (which places a DW_OP_addr in the code's section) does
// not locate them. Where the module is loaded in the running kernel, each
// address becomes the loaded one, from /sys/module/NAME/sections/
// (target.Module.LoadedAddr). Otherwise (another kernel's module, or
// addresses hidden) they print as ?, said in a note. A condition reading
// one is refused.
func moduleStatics(job *Job, bin target.Binary) error {
	m, ok := bin.(*target.Module)
	if !ok {
		return nil
	}
	if job.Plan.Cond != nil && strings.Contains(fmt.Sprint(job.Plan.Cond), "&@var(") {
		return fmt.Errorf("the condition reads a global variable of %s: a module's globals cannot be located in conditions yet", bin.ProbePoint())
	}
	names := map[string]bool{}
	var why error
	for i := range job.Plan.Stmts {
		vars := job.Plan.Stmts[i].Vars
		for j := range vars {
			if _, err := bpfgen.RelocateAddr(&vars[j], m.LoadedAddr); err != nil {
				vars[j].Expr, vars[j].Steps = nil, nil
				names[vars[j].Name] = true
				if why == nil {
					why = err
				}
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	job.Notes = append(job.Notes, fmt.Sprintf("%s print as ?: the global and static variables of %s cannot be located: %v", strings.Join(list, ", "), bin.ProbePoint(), why))
	return nil
}
