package tracer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/debuginfod"
	"github.com/whythefail/whythefail/expr"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/internal/timing"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/report"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/source"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
	"github.com/whythefail/whythefail/verdict"
)

// Config is what the user asked for.
type Config struct {
	Target    string // TARGET as typed: process("PATH") or a bare path
	Function  string
	Condition string
	Variable  string // empty or "$$vars" for every variable
	DebugDirs []string
	// Debuginfod, when set, is asked for missing debug info and sources.
	Debuginfod *debuginfod.Client
	// Source asks for the source text of each statement, found through
	// the compile directory, SourcePaths substitutions (OLD=NEW), then
	// debuginfod.
	Source      bool
	SourcePaths []string
	// MaxRecords and RingBufSize are the limits the run will use (zero:
	// the defaults); Prepare generates the BPF programs under them, and
	// Run uses them where RunOptions leaves its own at zero.
	MaxRecords  int
	RingBufSize int
	// NoVerdict leaves out the verdict line (--no-verdict) and the branch
	// probes it needs.
	NoVerdict bool
	// Placement says where statement probes go (placement.go).
	Placement Placement
	// Follow records the calls the function makes and what each
	// returned (--follow; package follow), FollowDepth levels deep (0:
	// DefaultFollowDepth).
	Follow      bool
	FollowDepth int
	// FollowEager probes every level to FollowDepth from the first run
	// (--follow-eager): a failure then shows its whole chain at once,
	// but a followed callee's call sites trap for all its callers.
	// Without it, in user space, a run follows one level below the
	// functions of the chain an earlier run blamed (follow.Input.Staged;
	// Job.RunFollow, swapOrigin), so that probes outside FUNCTION's code
	// are placed only once a failure asked for them.
	FollowEager bool
	// Origin, with Follow, also traces the statements of the function
	// a trace of an earlier run blamed, for that call (Job.RunFollow).
	Origin *follow.Blame
	// FollowAlso, with Follow, are calls an earlier run recorded and
	// blamed, whose callees' own calls are followed too: calls through a
	// pointer, and the chain's calls a staged follow left for a later
	// run (follow.Input.Also; Job.RunFollow's re-runs, swapOrigin).
	FollowAlso []follow.Blame
	// Release is the kernel release (-r) whose debug info kernel and
	// module targets use; "" means the running kernel's, and any other
	// is refused (tracing needs the running kernel's).
	Release string
}

// Job is a prepared trace: everything resolved and generated, nothing
// attached yet.
type Job struct {
	Plan   session.Plan
	Header report.Header
	Stmts  map[uint32]report.Stmt
	// Verdict plans the verdict line; nil with Config.NoVerdict.
	Verdict *verdict.Plan
	// Follow plans the calls recorded with Config.Follow; nil without.
	Follow *follow.Plan
	// Origin is the blamed callee's statements, planned with
	// Config.Origin; nil without, or when they cannot be traced
	// (originMiss says why).
	Origin *report.Origin
	// Notes are things the user should know (statements skipped, ...).
	Notes []string
	// Placement says, per statement, where its probe went and why (-v).
	Placement []string

	// limits are Config's MaxRecords and RingBufSize.
	limits session.Options
	// targetOpts opened the target; --backtrace opens the binaries its
	// stacks pass through with them.
	targetOpts target.Options

	// cfg is what the job was prepared from (RunFollow prepares the
	// re-run from it).
	cfg Config
	// originMiss says why Config.Origin's statements are not traced.
	originMiss string
	// originNotes are notes on the origin's statements planned
	// (printed with the re-run's line, or the swap's).
	originNotes []string
	// blame is the first call a committed trace blamed (--follow), cut
	// says the run was interrupted or stopped by --max-traces, recurred
	// counts the traces that blamed Origin's call again (run.go).
	blame    *follow.Blame
	cut      bool
	recurred int
	// deeper is, in a re-run that followed the calls of Config.Origin's
	// callee (Config.FollowAlso), the first call a trace blamed below
	// it, along a chain through it.
	deeper *follow.Blame
	// blamed, when set, is closed when blame (or, in a job that placed
	// an origin's statements and follows its calls, deeper) is first
	// set: -x and system-wide runs then place the origin's statements
	// (swapOrigin).
	blamed chan struct{}
	// rerun says the job is RunFollow's second run: the notes on the
	// function's variables were printed by the first.
	rerun bool

	// errnoMiss says why errno() may not be found in a process at run
	// time; the run notes it when that happened.
	errnoMiss string
}

// traceTarget is TARGET as typed, parsed: a program's path, the kernel,
// or a module by name.
type traceTarget struct {
	kind   spec.TargetKind
	path   string // the program (spec.Process) or the module's name (spec.Module)
	typed  string
	prefix string // the probe point prefix as typed, for messages
}

// parseTarget parses TARGET: process("PATH") or a bare path, kernel, or
// module("NAME").
func parseTarget(t string) (traceTarget, error) {
	t = strings.TrimSpace(t)
	switch {
	case t == "":
		return traceTarget{}, fmt.Errorf("TARGET is empty: give process(\"PATH\"), a path, kernel or module(\"NAME\")")
	case t == "kernel":
		return traceTarget{kind: spec.Kernel, typed: t}, nil
	case strings.HasPrefix(t, "module"):
		s, err := spec.Parse(t + `.function("x")`)
		if err != nil || s.Target != spec.Module {
			return traceTarget{}, fmt.Errorf("TARGET %q is not module(\"NAME\"): %v", t, err)
		}
		return traceTarget{kind: spec.Module, path: s.Path, typed: t}, nil
	case strings.HasPrefix(t, "kernel."):
		return traceTarget{}, fmt.Errorf("TARGET %q: give kernel alone, and the function as FUNCTION (whythefail kernel FUNCTION CONDITION)", t)
	case strings.HasPrefix(t, "process"):
		s, err := spec.Parse(t + `.function("x")`)
		if err != nil {
			return traceTarget{}, fmt.Errorf("TARGET %q is not process(\"PATH\"): %v", t, err)
		}
		return traceTarget{kind: spec.Process, path: s.Path, typed: t}, nil
	}
	return traceTarget{kind: spec.Process, path: t, typed: t}, nil
}

// haveKprobes says whether the running kernel can place kprobes; a
// variable so that tests can pretend it can.
var haveKprobes = session.HaveKprobes

// checkTracing refuses debug info that is not the running kernel's; a
// variable so that tests can prepare (never run) another release's trace.
var checkTracing = func(kb kernelBinary) error { return kb.CheckTracing() }

// kernelBinary is what tracing needs of a kernel or module target beyond
// target.Binary: where each kprobe goes, and whether its debug info is the
// running kernel's.
type kernelBinary interface {
	target.Binary
	KprobeSite(va uint64) (string, uint64, error)
	CheckTracing() error
}

// targetOptions are the options a user-space target is opened with:
// --debug-dir's directories before the default ones, and debuginfod.
func targetOptions(cfg Config) target.Options {
	opts := target.Options{Debuginfod: cfg.Debuginfod}
	if len(cfg.DebugDirs) > 0 {
		opts.DebugDirs = append(append([]string(nil), cfg.DebugDirs...), target.DefaultDebugDirs...)
	}
	return opts
}

// openTarget opens the Binary tt names. For the kernel and its modules
// the kernel must have kprobes (said before any debug info is looked for,
// which would not help) and the debug info must be the running kernel's.
func openTarget(tt traceTarget, cfg Config) (target.Binary, error) {
	opts := targetOptions(cfg)
	if tt.kind == spec.Process {
		if cfg.Release != "" {
			return nil, fmt.Errorf("-r %s names a kernel release: it applies to kernel and module(\"NAME\") targets only", cfg.Release)
		}
		bin, err := target.Open(target.FindExecutable(tt.path), opts)
		if err != nil {
			return nil, err
		}
		for _, name := range []string{".go.buildinfo", ".note.go.buildid", ".gopclntab"} {
			if bin.ELF.Section(name) != nil {
				bin.Close()
				return nil, fmt.Errorf("%s is a Go program: tracing Go is not supported yet (return probes break its moving stacks); -L lists its probe points", bin.Path)
			}
		}
		return bin, nil
	}
	if err := haveKprobes(); err != nil {
		return nil, noKprobes(err)
	}
	kopts := target.KernelOptions{Release: cfg.Release, DebugDirs: opts.DebugDirs, Debuginfod: cfg.Debuginfod}
	var kb kernelBinary
	var err error
	if tt.kind == spec.Kernel {
		timing.Mark("finding the kernel's debug info")
		var k *target.Kernel
		k, err = target.OpenKernel(context.Background(), kopts)
		if k != nil {
			kb = k
		}
	} else {
		var m *target.Module
		m, err = target.OpenModule(context.Background(), tt.path, kopts)
		if m != nil {
			kb = m
		}
	}
	if err != nil {
		return nil, err
	}
	if err := checkTracing(kb); err != nil {
		kb.Close()
		return nil, err
	}
	return kb, nil
}

// buildID is the target's build-id, nil when it has none.
func buildID(bin target.Binary) []byte {
	switch b := bin.(type) {
	case *target.File:
		return b.BuildID
	case *target.Kernel:
		return b.BuildID
	case *target.Module:
		return b.BuildID
	}
	return nil
}

// Prepare resolves cfg into a job. It reads files only (and, for kernel
// targets, whether the kernel has kprobes).
func Prepare(cfg Config) (*Job, error) {
	tt, err := parseTarget(cfg.Target)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(cfg.Function, `"\`) || cfg.Function == "" {
		return nil, fmt.Errorf("FUNCTION %q is not a function name", cfg.Function)
	}
	cond, err := expr.Parse(cfg.Condition)
	if err != nil {
		return nil, err
	}
	bin, err := openTarget(tt, cfg)
	if err != nil {
		if tt.kind == spec.Kernel && cfg.Release == "" && errors.Is(err, target.ErrNoDebugInfo) {
			// No DWARF: the function level from BTF.
			return prepareBTF(cfg, cond, err)
		}
		return nil, err
	}
	defer bin.Close()
	user, _ := bin.(*target.File)
	var gotSlot func(string, uint64) (uint64, bool)
	if user != nil {
		gotSlot = user.GOTSlot
	}
	if err := bin.NeedDWARF(); err != nil {
		return nil, err
	}
	r := probe.NewLazyResolver(bin)
	fs := &spec.Spec{Target: tt.kind, Path: specPath(tt, bin), Point: spec.Function, Func: cfg.Function, Suffix: spec.Call}
	fpts, err := r.Resolve(fs)
	var nm *probe.NoMatchError
	if errors.As(err, &nm) {
		if user == nil {
			if err := inlinedOnly(r, tt, bin, cfg.Function); err != nil {
				return nil, err
			}
		}
		where := bin.Name()
		if user == nil {
			where = bin.ProbePoint()
		}
		msg := fmt.Sprintf("no function %s in %s", cfg.Function, where)
		if len(nm.Nearest) > 0 {
			msg += "; did you mean " + strings.Join(nm.Nearest, ", ") + "?"
		} else {
			msg += fmt.Sprintf(" (whythefail -l '%s.function(\"*\")' lists them)", bin.ProbePoint())
		}
		return nil, errors.New(msg)
	}
	if err != nil {
		return nil, err
	}
	var fns []*debuginfo.Function
	names := map[string]bool{}
	for _, p := range fpts {
		if p.Func != nil {
			fns = append(fns, p.Func)
			names[p.Name] = true
		}
	}
	var aliasNote string
	if len(fns) == 0 && user != nil {
		// malloc, fopen: ELF aliases of functions whose DWARF names
		// them otherwise (__libc_malloc, _IO_new_fopen).
		if fn, ok := aliasOf(r, user, cfg.Function); ok {
			fns = append(fns, fn)
			names[fn.Name] = true
			aliasNote = fmt.Sprintf("%s is an alias of %s (%s:%d): tracing it", cfg.Function, fn.Name, fn.DeclFile, fn.DeclLine)
		}
	}
	switch {
	case len(fns) == 0 && user == nil && inlinedOnly(r, tt, bin, cfg.Function) != nil:
		return nil, inlinedOnly(r, tt, bin, cfg.Function)
	case len(fns) == 0:
		return nil, fmt.Errorf("function %s in %s has no debug info: only functions with DWARF can be traced statement by statement", cfg.Function, bin.Name())
	case len(names) > 1:
		var ns []string
		for n := range names {
			ns = append(ns, n)
		}
		sort.Strings(ns)
		return nil, fmt.Errorf("%q matches %d functions (%s): name exactly one", cfg.Function, len(ns), strings.Join(ns, ", "))
	case len(fns) > 1:
		var where []string
		for _, f := range fns {
			where = append(where, fmt.Sprintf("%s:%d", f.DeclFile, f.DeclLine))
		}
		return nil, fmt.Errorf("%s has %d out-of-line definitions (%s); tracing one of several is not supported yet", cfg.Function, len(fns), strings.Join(where, ", "))
	}
	fn := fns[0]
	job := &Job{Stmts: map[uint32]report.Stmt{}, targetOpts: targetOptions(cfg), cfg: cfg}
	if aliasNote != "" {
		job.Notes = append(job.Notes, aliasNote)
	}
	// The header names the function traced, not the glob typed. A name
	// without wildcards is kept as typed: an ELF alias (malloc, whose note
	// names __libc_malloc) or a C++ mangled name, which says which
	// overload.
	job.Header = report.Header{Target: strings.TrimSpace(cfg.Target), Function: cfg.Function}
	if strings.ContainsAny(cfg.Function, "*?[") {
		job.Header.Function = fn.Name
	}
	if v := strings.TrimSpace(cfg.Variable); v != "" && v != "$$vars" {
		job.Header.Variable = v
	}

	entry, err := bin.FileOffset(fn.Entry)
	if err != nil {
		return nil, err
	}
	if f, ok := bin.(*target.File); ok {
		if text, ok := refusedUprobe(f, fn.Entry); !ok {
			return nil, fmt.Errorf("the kernel takes no uprobe on %s's first instruction (%s): it cannot be traced", fn.Name, text)
		}
	}
	job.Plan = session.Plan{Spec: bpfgen.Spec{EntryOffset: entry, EntryPC: fn.Entry, Space: bin.AddressSpace()}, Binary: bin.Name(), Attach: bin.Attach()}
	kb, _ := bin.(kernelBinary)
	// bnd is set when the kernel refuses to probe fn (notrace) but a
	// caller passes its return on unchanged: fn is traced there.
	var bnd *boundary
	var ks *kernelSymbols
	var klists kernelLists
	if kb != nil {
		job.Plan.Binary = bin.ProbePoint()
		ks, klists = newKernelSymbols(kb), readKernelLists()
		if bnd, err = kernelBoundary(kb, ks, klists, fn); err != nil {
			return nil, err
		}
		if bnd == nil {
			if err := kernelEntry(job, kb, fn); err != nil {
				return nil, err
			}
		}
	}
	retInfo := returnInfo(r.Data, fn)
	job.Plan.RetSize, job.Plan.RetUnsigned = retInfo.Size, retInfo.Kind == debuginfo.KindPointer || (retInfo.Kind == debuginfo.KindInt && !retInfo.Signed)
	switch {
	case retInfo.Kind == debuginfo.KindPointer:
		job.Header.ReturnFormat = "ptr"
	case retInfo.Kind == debuginfo.KindInt && !retInfo.Signed:
		job.Header.ReturnFormat = "uint"
	default:
		job.Header.ReturnFormat = "int"
	}

	sc, err := r.Data.Scope(fn)
	if err != nil {
		return nil, err
	}
	env := paramEnv(sc)
	if bnd != nil {
		boundaryEnv(env, fn, bnd)
	}
	env.Data, env.GOT = r.Data, gotSlot
	job.Plan.Cond, err = expr.Compile(cfg.Condition, cond, env)
	if err != nil {
		return nil, err
	}

	ss := &spec.Spec{Target: tt.kind, Path: specPath(tt, bin), Point: spec.Statement, Func: fn.Name, File: fn.DeclFile, Lines: spec.Lines{Kind: spec.AnyLine}}
	spts, err := r.Resolve(ss)
	if err != nil {
		return nil, err
	}
	varText := strings.TrimSpace(cfg.Variable)
	var varNode expr.Node = &expr.VarSet{Kind: "vars", C: 1}
	if varText != "" && varText != "$$vars" {
		if varNode, err = expr.ParseVariable(varText); err != nil {
			return nil, err
		}
	}
	if (expr.UsesErrno(cond) || expr.UsesErrno(varNode)) && user == nil {
		return nil, fmt.Errorf("errno() is the C library's errno of a user-space thread: a kernel function returns its error as $return (-EINVAL: $return == -EINVAL)")
	}
	if expr.UsesErrno(cond) || expr.UsesErrno(varNode) {
		var note string
		job.Plan.Errno, note, job.errnoMiss = errnoLocation(user)
		if note != "" {
			job.Notes = append(job.Notes, note)
		}
	}
	fset := funcStmts{fn: fn, spts: spts, varNode: varNode, varText: varText, env: env, all: sc.AllVars(), acrossCalls: !cfg.Follow}
	// addrs are the statements' own addresses, which name their line-table
	// rows whether or not placement moved their probes.
	if bnd != nil {
		fset.spts = nil // fn's own code cannot be probed
	}
	addrs, skipped, err := planStatements(job, r, bin, gotSlot, fset, cfg.Placement, job.Stmts)
	if err != nil {
		return nil, err
	}
	if bnd != nil {
		if err := planBoundary(job, kb, ks, klists, fn, bnd); err != nil {
			return nil, err
		}
		if cfg.Follow && cfg.FollowDepth > 1 {
			job.Notes = append(job.Notes, fmt.Sprintf("--follow=%d: at its boundary, --follow records the calls %s makes, one level deep (their own calls are not followed)", cfg.FollowDepth, fn.Name))
		}
	}
	if !cfg.NoVerdict && bnd == nil {
		planVerdict(job, bin, fn, sc, cfg)
	}
	if cfg.Follow {
		// At a boundary, planBoundary's plan at the callees is the
		// --follow plan already.
		if bnd == nil {
			if err := planFollow(job, bin, ks, klists, fn, cfg); err != nil {
				return nil, err
			}
		}
		if cfg.Origin != nil {
			planOrigin(job, bin, r, gotSlot, cfg)
		}
	}
	if kb != nil {
		if err := kernelSites(job, kb, fn); err != nil {
			return nil, err
		}
		if err := moduleStatics(job, bin); err != nil {
			return nil, err
		}
	}
	if cfg.Source {
		job.Notes = append(job.Notes, addSource(job, fn, buildID(bin), cfg)...)
		addSharedRows(job, fn, addrs, buildID(bin), cfg)
	}
	if skipped > 0 {
		job.Notes = append(job.Notes, fmt.Sprintf("%d statement(s) of inlined copies of %s are not traced: only calls of its out-of-line instance are", skipped, fn.Name))
	}
	// Generated here, not only when Run starts the session, so that every
	// error that does not depend on the kernel comes before the privilege
	// checks, for any user.
	job.limits = session.Options{MaxRecords: cfg.MaxRecords, RingBufSize: cfg.RingBufSize}
	if err := session.Check(job.Plan, job.limits); err != nil {
		return nil, err
	}
	timing.Mark("generating the BPF programs (check)")
	return job, nil
}

// funcStmts is one function's statements to plan: the traced
// function's, or --follow's origin's.
type funcStmts struct {
	fn      *debuginfo.Function
	spts    []*probe.Point
	varNode expr.Node
	varText string
	env     expr.Env
	all     []*debuginfo.Variable
	// origin says the function is not the traced one: its parameters'
	// entry values are not the registers copied at the traced function's
	// entry, so locations that need them print ?.
	origin bool
	// avoid holds file offsets that placement must not move a probe
	// to (the blamed call's probes, for an origin's statements).
	avoid map[uint64]bool
	// acrossCalls lets placement record a statement that follows a
	// call before the call (placer.before), which only --follow's
	// records could tell apart: without --follow nothing of this
	// invocation records during a call.
	acrossCalls bool
}

// planStatements adds a probe per statement of f.fn to the job's plan,
// numbered after the plan's statements so far, and describes each in
// into. It returns the statements' own addresses by id and how many
// points belonged to inlined copies (not traced).
func planStatements(job *Job, r *probe.Resolver, bin target.Binary, gotSlot func(string, uint64) (uint64, bool), f funcStmts, placement Placement, into map[uint32]report.Stmt) (map[uint32]uint64, int, error) {
	fn := f.fn
	skipped := 0
	// Ids go on from the statements planned so far (FUNCTION's, when these
	// are a followed origin's); a statement observed on several jumps has
	// one id and several entries in the plan.
	id := nextStmtID(job.Plan.Stmts)
	// In unoptimised code (no location lists) variables live in stack slots
	// that the prologue has not written yet at statements before its end:
	// reading them there would print stale memory, so parameters are read
	// from their argument registers and locals print as "?".
	preProlog := uint64(0)
	if !fn.CU.HasLocLists {
		preProlog = frameReady(r, fn)
	}
	addrs := map[uint32]uint64{}
	// Placement moves uprobes off single-stepped instructions; kprobes
	// stay at the statements' own addresses.
	uf, _ := bin.(*target.File)
	var pl *placer
	if uf != nil {
		var why string
		pl, why = newPlacer(placement, uf, fn, f.spts)
		if why != "" {
			job.Placement = append(job.Placement, why)
		}
		if pl != nil {
			pl.avoid, pl.acrossCalls = f.avoid, f.acrossCalls
		}
	}
	type planned struct {
		p      *probe.Point
		id     uint32
		st     bpfgen.Stmt
		rs     report.Stmt
		sts    []bpfgen.Stmt
		why    string
		remake func(*probe.Point) (bpfgen.Stmt, report.Stmt, error)
	}
	var all []*planned
	for _, p := range f.spts {
		if p.Func != fn {
			skipped++
			continue
		}
		st, rs, err := statement(r, bin, gotSlot, f, p, id, p.Addr < preProlog)
		if err != nil {
			return nil, 0, err
		}
		e := &planned{p: p, id: id, st: st, rs: rs, sts: []bpfgen.Stmt{st}}
		if pl != nil {
			pre := p.Addr < preProlog
			e.remake = func(q *probe.Point) (bpfgen.Stmt, report.Stmt, error) {
				return statement(r, bin, gotSlot, f, q, e.id, pre)
			}
			e.sts, e.why = pl.place(uf, p, st, rs, e.remake)
		}
		all = append(all, e)
		id++
	}
	if pl != nil {
		// Statements still single-stepped at their own instruction may
		// be recorded earlier on the line that leads to them, in
		// address order so that one line's statements follow each
		// other (placer.before).
		byAddr := slices.Clone(all)
		sort.SliceStable(byAddr, func(i, j int) bool { return byAddr[i].p.Addr < byAddr[j].p.Addr })
		for _, e := range byAddr {
			if len(e.sts) != 1 || e.sts[0].Succ != nil || e.sts[0].PC != e.p.Addr {
				continue
			}
			sts, why, ok := pl.before(uf, e.p, e.st, e.remake)
			switch {
			case ok:
				e.sts, e.why = sts, why
			case why != "":
				e.why += "; " + why
			}
		}
	}
	// The kernel refuses uprobes on some instructions (VEX and EVEX
	// encodings, some prefixes), and one refused probe fails a whole
	// uprobe_multi link: such statements are left out, with a note
	// (-v names each instruction).
	var refused []string
	for _, e := range all {
		if uf == nil {
			break
		}
		for _, st := range e.sts {
			if text, ok := refusedUprobe(uf, st.PC); !ok {
				refused = append(refused, fmt.Sprintf("%s:%d", e.rs.File, e.rs.Line))
				e.why = fmt.Sprintf("not traced: the kernel takes no uprobe on %s at %#x", text, st.PC)
				e.sts = nil
				break
			}
		}
	}
	switch n := len(refused); {
	case n == 1:
		job.Notes = append(job.Notes, "the kernel takes no uprobe on the instruction where "+refused[0]+" starts: that statement is not traced and prints no line (-v names the instruction)")
	case n > 1:
		list := strings.Join(refused[:min(n, 4)], ", ")
		if n > 4 {
			list += fmt.Sprintf(" and %d more", n-4)
		}
		job.Notes = append(job.Notes, fmt.Sprintf("the kernel takes no uprobe on the instructions where %d statements start (%s): they are not traced and print no line (-v names each instruction)", n, list))
	}
	for _, e := range all {
		if pl != nil || e.sts == nil {
			job.Placement = append(job.Placement, placementLine(fn, e.rs, e.p.Addr, e.why))
		}
		job.Plan.Stmts = append(job.Plan.Stmts, e.sts...)
		into[e.id] = e.rs
		addrs[e.id] = e.p.Addr
	}
	return addrs, skipped, nil
}

// refusedUprobe reports whether the kernel takes a uprobe on the
// instruction at the link-time address va of f (insn.Uprobeable), and
// when not, the instruction's text.
func refusedUprobe(f *target.File, va uint64) (string, bool) {
	var code []byte
	for n := 15; n > 0 && code == nil; n-- {
		code, _ = f.Code(va, n)
	}
	if code == nil || insn.Uprobeable(code) {
		return "", true
	}
	// The first instruction, with as many bytes after it as decode.
	for n := len(code); n > 0; n-- {
		ds, err := insn.Decode(code[:n], va)
		switch {
		case err != nil || len(ds) == 0:
			continue
		case ds[0].OK:
			return strings.ToLower(x86asm.IntelSyntax(ds[0].Inst, va, nil)), false
		case ds[0].Inst.Len > 0 && ds[0].Inst.Len <= n:
			return fmt.Sprintf("% x", code[:ds[0].Inst.Len]), false
		}
	}
	return fmt.Sprintf("% x", code[:min(len(code), 4)]), false
}

// nextStmtID is the id after the highest of sts: ids go on from there
// (placement gives a statement observed on several jumps several entries
// with one id, so the plan's length is not the next id).
func nextStmtID(sts []bpfgen.Stmt) uint32 {
	id := uint32(0)
	for _, st := range sts {
		id = max(id, st.ID+1)
	}
	return id
}

func returnInfo(d *debuginfo.Data, fn *debuginfo.Function) debuginfo.TypeInfo {
	return d.FuncReturnInfo(fn)
}

// aliasOf finds the out-of-line function whose entry an ELF function
// symbol named name (not a pattern) marks, when the DWARF calls that
// function by another name.
func aliasOf(r *probe.Resolver, bin *target.File, name string) (*debuginfo.Function, bool) {
	if strings.ContainsAny(name, "*?[") || r.Data == nil {
		return nil, false
	}
	var found *debuginfo.Function
	for _, sym := range bin.Symbols() {
		if sym.Name != name {
			continue
		}
		for _, fn := range r.Data.Funcs {
			if fn.Inlined || fn.Name == "" || fn.Entry != sym.Value {
				continue
			}
			if found != nil && found != fn && found.Entry != fn.Entry {
				return nil, false // several: let the caller say none
			}
			if found == nil {
				found = fn
			}
		}
	}
	return found, found != nil
}

// frameReady is the first address at which an unoptimised function's stack
// slots hold its parameters: the end of its prologue as stap finds it, and
// when that is the entry itself (every row of a one-line function is on
// the same line), the next row gcc starts after the prologue. At the entry
// instruction nothing is written yet in any case.
func frameReady(r *probe.Resolver, fn *debuginfo.Function) uint64 {
	if pe := r.PrologueEnd(fn); pe > fn.Entry {
		return pe
	}
	rows, err := fn.CU.Lines()
	if err == nil {
		next := uint64(0)
		for _, row := range rows {
			if !row.EndSeq && row.Addr > fn.Entry && fn.Contains(row.Addr) && (next == 0 || row.Addr < next) {
				next = row.Addr
			}
		}
		if next != 0 {
			return next
		}
	}
	return fn.Entry + 1
}

// paramEnv maps the function's parameters to the argument registers that
// carry them at entry (System V x86-64: the first six integer or pointer
// parameters), for conditions that read them at return.
func paramEnv(sc *debuginfo.Scope) expr.Env {
	env := expr.Env{Params: map[string]ir.Param{}, Unreadable: map[string]string{}, Types: map[string]debuginfo.Type{}}
	idx := 0
	broken := ""
	for _, v := range sc.Vars {
		if !v.Param || v.Name == "" {
			continue
		}
		ti := v.TypeInfo()
		if broken != "" {
			env.Unreadable[v.Name] = broken
			continue
		}
		if (ti.Kind != debuginfo.KindInt && ti.Kind != debuginfo.KindPointer) || ti.Size > 8 || ti.Size == 0 {
			env.Unreadable[v.Name] = "it is not passed in an integer register"
			broken = "an earlier parameter is not passed in an integer register"
			continue
		}
		if idx >= len(abi.ArgRegs) {
			env.Unreadable[v.Name] = "it is passed on the stack"
			continue
		}
		env.Params[v.Name] = ir.Param{Name: v.Name, Index: idx, Size: ti.Size, Signed: ti.Signed}
		env.Types[v.Name] = v.VarType()
		idx++
	}
	return env
}

// statement builds the BPF statement and its report description from the
// VARIABLE expression lowered at this statement.
func statement(r *probe.Resolver, bin target.Binary, gotSlot func(string, uint64) (uint64, bool), f funcStmts, p *probe.Point, id uint32, beforePrologue bool) (bpfgen.Stmt, report.Stmt, error) {
	fn, variable, varText, all, env := f.fn, f.varNode, f.varText, f.all, f.env
	st := bpfgen.Stmt{ID: id, PC: p.Addr, FileOffset: p.FileOffset}
	if reg, off, err := bin.CFA(p.Addr); err == nil {
		st.CFA = bpfgen.CFARule{Reg: reg, Offset: off}
	}
	rs := report.Stmt{File: p.File, Line: p.Line}
	var inScope []*debuginfo.Variable
	for _, v := range p.Scope.VarsAt(p.Addr) {
		if v.Name == "" {
			continue
		}
		if _, ok := v.TypeName(); !ok {
			continue
		}
		inScope = append(inScope, v)
	}
	sc := expr.Scope{Data: r.Data, GOT: gotSlot, InScope: inScope, All: all, PC: p.Addr,
		FrameBase: fn.FrameBase, BeforePrologue: beforePrologue, Params: env.Params, Addrx: bpfgen.ResolveAddrx}
	if f.origin {
		sc.Addrx = noEntryValues
		if len(fn.FrameBase) > 0 && bpfgen.UsesEntryValue(fn.FrameBase) {
			sc.Addrx = func([]byte, func(uint64) (uint64, error)) ([]byte, error) {
				return nil, errors.New("the frame base needs an entry value")
			}
		}
	}
	vars, reads, err := expr.Display(varText, variable, sc)
	if err != nil {
		return st, rs, err
	}
	rs.Vars, st.Vars = vars, reads
	return st, rs, nil
}

// addSource finds the text of every statement's line, and the function's
// whole source for --annotate. What cannot be found becomes one note, which
// names the files and says where the first was looked for and how to say
// where it is; the trace itself goes on without it.
func addSource(job *Job, fn *debuginfo.Function, buildID []byte, cfg Config) []string {
	opts := source.Options{Debuginfod: cfg.Debuginfod}
	for _, s := range cfg.SourcePaths {
		sub, err := source.ParseSubstitution(s)
		if err == nil {
			opts.Substitutions = append(opts.Substitutions, *sub)
		}
	}
	var lines source.Lines
	paths := map[string]string{}
	var missing []string
	var firstErr error
	find := func(file string) string {
		if p, ok := paths[file]; ok {
			return p
		}
		p, err := source.Find(fn.CU.CompDir, file, buildID, opts)
		if err != nil {
			missing = append(missing, file)
			if firstErr == nil {
				firstErr = err
			}
		}
		paths[file] = p
		return p
	}
	// The function's own file first, then the statements' in their
	// order: the note names them so, the same every run.
	var declPath string
	if fn.DeclFile != "" {
		declPath = find(fn.DeclFile)
	}
	ids := make([]uint32, 0, len(job.Stmts))
	for id := range job.Stmts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	lo, hi := fn.DeclLine, fn.DeclLine
	for _, id := range ids {
		st := job.Stmts[id]
		if p := find(st.File); p != "" {
			if text, ok := lines.Line(p, st.Line); ok {
				st.Source, st.HasSource = text, true
				job.Stmts[id] = st
			}
		}
		if st.File == fn.DeclFile && st.Line > hi {
			hi = st.Line
		}
	}
	if declPath != "" && lo > 0 {
		job.Header.Listing = &report.Listing{File: fn.DeclFile}
		for n := lo; n <= hi; n++ {
			text, ok := lines.Line(declPath, n)
			if !ok {
				break
			}
			job.Header.Listing.Lines = append(job.Header.Listing.Lines, report.SourceLine{N: n, Text: text})
		}
	}
	if firstErr == nil {
		return nil
	}
	return []string{fmt.Sprintf("no source text for %s: %v", strings.Join(missing, ", "), firstErr)}
}
