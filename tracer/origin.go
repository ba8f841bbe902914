package tracer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/report"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// noEntryValues is expr.Scope.Addrx for an origin's statements: the
// generated programs read entry values from the registers copied at the
// traced function's entry, which are not the origin's parameters, so a
// location that needs one is refused (it prints ?).
func noEntryValues(loc []byte, index func(uint64) (uint64, error)) ([]byte, error) {
	if bpfgen.UsesEntryValue(loc) {
		return nil, errors.New("the location needs the parameter's value at the origin's entry, which is not recorded")
	}
	return bpfgen.ResolveAddrx(loc, index)
}

// planOrigin adds the statements of the function cfg.Origin blames to the
// job (with Config.Follow): probes like the traced function's, with its
// variables ($$vars), numbered after every other probe. Their records land
// in the traced function's buffer, so only calls made while an invocation
// of it is open are recorded; report.Origin keeps the blamed call's. The
// origin may be in another file than the traced binary (a library a call
// through the PLT reached): its probes go there (bpfgen.Stmt.Binary), its
// variables read with that file's DWARF, CFI and GOT (DW_OP_addr is
// relocated by each probe's own address). When the origin cannot be
// traced, job.originMiss says why.
//
// In the kernel (not a module) the origin's statements become kprobes at
// symbol+offset like FUNCTION's (kernelSites), found with FUNCTION's
// resolver kr; the origin must be a function the kernel lets BPF probe.
func planOrigin(job *Job, bin target.Binary, kr *probe.Resolver, gotSlot func(string, uint64) (uint64, bool), cfg Config) {
	b := *cfg.Origin
	if kb, ok := bin.(kernelBinary); ok {
		planKernelOrigin(job, kb, kr, b, cfg)
		return
	}
	user, ok := bin.(*target.File)
	if !ok {
		job.originMiss = "the origin's statements are traced in user-space programs, the kernel and its modules only"
		return
	}
	if b.Target == 0 {
		job.originMiss = fmt.Sprintf("%s is not a function of %s (a call into another library): its statements are not traced", b.Callee, bin.Name())
		return
	}
	file, other := user, b.Binary != "" && b.Binary != user.Path
	if other {
		f, err := target.Open(b.Binary, job.targetOpts)
		if err != nil {
			job.originMiss = fmt.Sprintf("%s's statements are not traced: %v", b.Callee, err)
			return
		}
		defer f.Close() // planned before Prepare returns, as the traced binary
		file, bin, gotSlot = f, f, f.GOTSlot
	} else if strings.HasSuffix(b.Callee, "@plt") {
		job.originMiss = fmt.Sprintf("%s is not a function of %s (a call into another library): its statements are not traced", b.Callee, bin.Name())
		return
	}
	// A resolver of its own: the traced function's indexes only the
	// units it needed, and adding another would index the whole file.
	r := probe.NewLazyResolver(bin)
	fn := originFunc(r, file, b)
	if fn == nil {
		job.originMiss = fmt.Sprintf("%s (%#x) has no debug info in %s: its statements cannot be traced", b.Callee, b.Target, bin.Name())
		return
	}
	if !other && fn.Entry == job.Plan.EntryPC {
		job.originMiss = fmt.Sprintf("the origin is %s itself (a recursive call): its statements are the trace's", fn.Name)
		return
	}
	// The blamed call's own probes delimit its records: an origin
	// statement probed at the same address (a recursive origin calls
	// itself from the blamed site) would be recorded on either side of
	// them, for the caller's instance as well.
	if holdsOwnCalls(job, file.Path, fn) {
		// A function FUNCTION tail-jumps to: its calls are FUNCTION's
		// own.
		job.originMiss = fmt.Sprintf("%s holds calls --follow records: its statements are not traced", fn.Name)
		return
	}
	var site *follow.Site
	for _, s := range job.Follow.Sites {
		if s.Binary == file.Path && s.PC == b.Site && b.SiteBinary == file.Path {
			site = s
		}
	}
	sc, err := r.Data.Scope(fn)
	if err != nil {
		job.originMiss = fmt.Sprintf("reading %s's variables: %v", fn.Name, err)
		return
	}
	ss := &spec.Spec{Target: spec.Process, Path: bin.Name(), Point: spec.Statement, Func: fn.Name, File: fn.DeclFile, Lines: spec.Lines{Kind: spec.AnyLine}}
	spts, err := r.Resolve(ss)
	if err != nil {
		job.originMiss = fmt.Sprintf("finding %s's statements: %v", fn.Name, err)
		return
	}
	// Placement keeps the origin's statements off the blamed site's
	// probes (dropAt would drop them there): at their own addresses
	// they are recorded as with --placement=naive.
	var avoid map[uint64]bool
	if site != nil {
		avoid = map[uint64]bool{}
		for _, st := range siteProbes(job.Plan.Stmts, site) {
			avoid[st.FileOffset] = true
		}
	}
	o, n, ok := planOriginStmts(job, r, bin, gotSlot, sc, fn, spts, b, avoid, cfg)
	if !ok {
		return
	}
	o.Tails = planTailStmts(job, r, file, bin, gotSlot, fn, o, avoid, cfg)
	if other {
		for i := n; i < len(job.Plan.Stmts); i++ {
			job.Plan.Stmts[i].Binary = file.Path
		}
	}
	if site != nil {
		dropAt(job, o, n, site, fn.Name)
	}
	binary := ""
	if other {
		binary = file.Path
	}
	planOriginVerdict(job, bin, fn, sc, cfg, o, n, binary)
	finishOrigin(job, o, bin, fn, cfg)
}

// planOriginStmts plans the statements spts of the origin fn, whose
// variables are in scope sc; the plan's statements from index n on are
// its. Placement moves none onto a file offset in avoid. Not ok, with
// job.originMiss set, when they cannot be planned.
func planOriginStmts(job *Job, r *probe.Resolver, bin target.Binary, gotSlot func(string, uint64) (uint64, bool), sc *debuginfo.Scope, fn *debuginfo.Function, spts []*probe.Point, b follow.Blame, avoid map[uint64]bool, cfg Config) (o *report.Origin, n int, ok bool) {
	env := paramEnv(sc)
	env.Data, env.GOT = r.Data, gotSlot
	f := funcStmts{fn: fn, spts: spts, varNode: &expr.VarSet{Kind: "vars", C: 1}, env: env, all: sc.AllVars(), origin: true, avoid: avoid}
	o = &report.Origin{Blame: b, Function: fn.Name, Stmts: map[uint32]report.Stmt{}}
	job.Plan.QuietOrphans = true
	n = len(job.Plan.Stmts)
	if _, _, err := planStatements(job, r, bin, gotSlot, f, cfg.Placement, o.Stmts); err != nil {
		job.Plan.Stmts = job.Plan.Stmts[:n]
		job.originMiss = fmt.Sprintf("planning %s's statements: %v", fn.Name, err)
		return nil, n, false
	}
	return o, n, true
}

// planTailStmts adds to the origin o the statements of the functions
// its function fn tail-jumps to in its file (`return check(v);` made a
// jump: their code runs in the blamed call as fn's, and decides its
// value), and returns their names. A function without debug info, the
// traced function, or one holding calls --follow records as the traced
// function's, is left out, as is one whose statements cannot be planned.
func planTailStmts(job *Job, r *probe.Resolver, file *target.File, bin target.Binary, gotSlot func(string, uint64) (uint64, bool), fn *debuginfo.Function, o *report.Origin, avoid map[uint64]bool, cfg Config) []string {
	fb := &follow.Binary{Path: file.Path, Code: file.Code, Symbols: file.Symbols(), PLT: follow.PLTNames(file.ELF)}
	var names []string
	for _, entry := range follow.TailJumps(fb, fn.Ranges) {
		name := ""
		for _, s := range fb.Symbols {
			if s.Value == entry && s.Size > 0 && (name == "" || len(s.Name) < len(name)) {
				name = s.Name
			}
		}
		t := originFunc(r, file, follow.Blame{Callee: name, Target: entry})
		if t == nil || t.Entry == fn.Entry || file.Path == job.Plan.Binary && t.Entry == job.Plan.EntryPC || holdsOwnCalls(job, file.Path, t) {
			continue
		}
		sc, err := r.Data.Scope(t)
		if err != nil {
			continue
		}
		spts, err := r.Resolve(&spec.Spec{Target: spec.Process, Path: bin.Name(), Point: spec.Statement, Func: t.Name, File: t.DeclFile, Lines: spec.Lines{Kind: spec.AnyLine}})
		if err != nil {
			continue
		}
		env := paramEnv(sc)
		env.Data, env.GOT = r.Data, gotSlot
		f := funcStmts{fn: t, spts: spts, varNode: &expr.VarSet{Kind: "vars", C: 1}, env: env, all: sc.AllVars(), origin: true, avoid: avoid}
		n := len(job.Plan.Stmts)
		if _, _, err := planStatements(job, r, bin, gotSlot, f, cfg.Placement, o.Stmts); err != nil {
			job.Plan.Stmts = job.Plan.Stmts[:n]
			continue
		}
		names = append(names, t.Name)
	}
	return names
}

// holdsOwnCalls reports whether fn, in the file at path, holds calls
// --follow records as the traced function's own (a function it
// tail-jumps to).
func holdsOwnCalls(job *Job, path string, fn *debuginfo.Function) bool {
	for _, s := range job.Follow.Sites {
		if s.Binary == path && s.Depth <= 1 && fn.Contains(s.PC) {
			return true
		}
	}
	return false
}

// finishOrigin makes o the job's origin, when it has statements, with
// their source text for --source.
func finishOrigin(job *Job, o *report.Origin, bin target.Binary, fn *debuginfo.Function, cfg Config) {
	if len(o.Stmts) == 0 {
		job.originMiss = fmt.Sprintf("%s has no statements to trace", fn.Name)
		return
	}
	if cfg.Source {
		text := sourceLines(fn, buildID(bin), cfg)
		for id, st := range o.Stmts {
			st.Source, st.HasSource = text(st.File, st.Line)
			o.Stmts[id] = st
		}
	}
	job.Origin = o
}

// planKernelOrigin is planOrigin for an origin in the kernel: the blamed
// callee's out-of-line function, by name and entry address.
func planKernelOrigin(job *Job, kb kernelBinary, r *probe.Resolver, b follow.Blame, cfg Config) {
	if b.Target == 0 {
		job.originMiss = fmt.Sprintf("%s was called through a pointer, or is the kernel's: its statements are not traced", b.Callee)
		return
	}
	// The kernel's functions, or a module's (by its name).
	where := spec.Spec{Target: spec.Kernel}
	if m, ok := kb.(*target.Module); ok {
		where = spec.Spec{Target: spec.Module, Path: m.ModName}
	}
	// A callee named by its symbol may be a clone gcc made
	// (link_path_walk.part.0.constprop.0): its DWARF names the function
	// it was cloned from.
	name, _, _ := strings.Cut(b.Callee, ".")
	pts, _ := r.Resolve(&spec.Spec{Target: where.Target, Path: where.Path, Point: spec.Function, Func: name, Suffix: spec.Call})
	var fn *debuginfo.Function
	for _, p := range pts {
		if p.Func != nil && !p.Func.Inlined && p.Func.Entry == b.Target {
			fn = p.Func
		}
	}
	switch {
	case fn == nil && name != b.Callee:
		job.originMiss = fmt.Sprintf("%s is a copy gcc made of %s (a clone), which the debug info's function index does not hold: its statements cannot be traced", b.Callee, name)
		return
	case fn == nil:
		job.originMiss = fmt.Sprintf("%s (%#x) has no debug info in %s: its statements cannot be traced", b.Callee, b.Target, kb.ProbePoint())
		return
	}
	if fn.Entry == job.Plan.EntryPC {
		job.originMiss = fmt.Sprintf("the origin is %s itself (a recursive call): its statements are the trace's", fn.Name)
		return
	}
	if why := newKernelSymbols(kb).notraceWhy(kb, readKernelLists(), fn); why != "" {
		job.originMiss = fmt.Sprintf("%s's statements cannot be traced: %s", fn.Name, why)
		return
	}
	if holdsOwnCalls(job, "", fn) { // the kernel's sites name no file
		job.originMiss = fmt.Sprintf("%s holds calls --follow records: its statements are not traced", fn.Name)
		return
	}
	sc, err := r.Data.Scope(fn)
	if err != nil {
		job.originMiss = fmt.Sprintf("reading %s's variables: %v", fn.Name, err)
		return
	}
	spts, err := r.Resolve(&spec.Spec{Target: where.Target, Path: where.Path, Point: spec.Statement, Func: fn.Name, File: fn.DeclFile, Lines: spec.Lines{Kind: spec.AnyLine}})
	if err != nil {
		job.originMiss = fmt.Sprintf("finding %s's statements: %v", fn.Name, err)
		return
	}
	o, n, ok := planOriginStmts(job, r, kb, nil, sc, fn, spts, b, nil, cfg)
	if !ok {
		return
	}
	planOriginVerdict(job, kb, fn, sc, cfg, o, n, "")
	finishOrigin(job, o, kb, fn, cfg)
}

// dropAt leaves out the origin's statements (job.Plan.Stmts[n:], o.Stmts)
// probed where the blamed site's call or return probe is, renumbering the
// others (a statement's id is its index in the plan), with a note.
func dropAt(job *Job, o *report.Origin, n int, site *follow.Site, name string) {
	at := map[[2]any]bool{}
	for _, st := range siteProbes(job.Plan.Stmts[:n], site) {
		at[[2]any{st.Binary, st.FileOffset}] = true
	}
	kept := job.Plan.Stmts[:n]
	stmts := map[uint32]report.Stmt{}
	var lines []string
	for _, st := range job.Plan.Stmts[n:] {
		rs := o.Stmts[st.ID]
		if at[[2]any{st.Binary, st.FileOffset}] {
			lines = append(lines, fmt.Sprintf("%s:%d", rs.File, rs.Line))
			continue
		}
		st.ID = uint32(len(kept))
		kept = append(kept, st)
		stmts[st.ID] = rs
	}
	job.Plan.Stmts, o.Stmts = kept, stmts
	if len(lines) > 0 {
		job.originNotes = append(job.originNotes, fmt.Sprintf("%s's statement at %s is not traced: its probe is the blamed call's own (%s calls itself there), whose records delimit the call's", name, strings.Join(lines, ", "), name))
	}
}

// siteProbes returns the call and return probes of site among sts. They
// are found by id: placement gives a statement observed on several jumps
// several entries with one id, so an id is not an index in the plan.
func siteProbes(sts []bpfgen.Stmt, site *follow.Site) []bpfgen.Stmt {
	var out []bpfgen.Stmt
	for _, st := range sts {
		if st.ID == site.CallID || st.ID == site.ReturnID {
			out = append(out, st)
		}
	}
	return out
}

// originFunc finds the out-of-line function whose entry is the blamed
// call's target: by the callee's name, or as an ELF alias of a function
// the DWARF names otherwise (_IO_file_fopen is _IO_new_file_fopen).
func originFunc(r *probe.Resolver, bin *target.File, b follow.Blame) *debuginfo.Function {
	name := strings.TrimSuffix(b.Callee, "@plt") // a PLT call's callee, looked up in its library
	pts, _ := r.Resolve(&spec.Spec{Target: spec.Process, Path: bin.Name(), Point: spec.Function, Func: name, Suffix: spec.Call})
	for _, p := range pts {
		if p.Func != nil && !p.Func.Inlined && p.Func.Entry == b.Target {
			return p.Func
		}
	}
	if fn, ok := aliasOf(r, bin, name); ok && fn.Entry == b.Target {
		return fn
	}
	return nil
}

// noteBlame keeps the first call a committed trace blamed (for the
// re-run), and, in a job that traces the statements of a call an earlier
// run blamed (Config.Origin), counts the traces that blamed that call
// again and keeps the first call blamed below it along a chain through
// it (its calls followed: Config.FollowAlso).
func (j *Job) noteBlame(tr *session.Trace) {
	if j.Follow == nil {
		return
	}
	res := j.Follow.Calls(tr, func(id uint32) (string, int, bool) {
		st, ok := j.Stmts[id]
		return st.File, st.Line, ok
	})
	if seek := j.cfg.Origin; seek != nil {
		if _, ok := res.Find(*seek); ok {
			j.recurred++
		} else if b, ok := res.Blame(); ok && j.deeper == nil && res.Through(*seek) {
			j.deeper = &b
			if j.blamed != nil {
				close(j.blamed)
			}
		}
		return
	}
	if b, ok := res.Blame(); ok && j.blame == nil {
		j.blame = &b
		if j.blamed != nil {
			close(j.blamed)
		}
	}
}

// maxReruns bounds RunFollow's re-runs: each goes at least one level
// deeper than the one before.
const maxReruns = MaxFollowDepth + 1

// nextJob prepares the job that traces the statements of the call b a
// trace of j blamed and, when j left its callee's calls for a later run
// (follow.Plan.Deferred: called through a pointer, or a staged follow),
// follows them. Nil, with a line on diag, when neither can be done;
// follows says the job follows b's calls.
func (j *Job) nextJob(b follow.Blame, diag io.Writer) (next *Job, follows bool) {
	cfg := j.cfg
	cfg.Origin = &b
	// In the kernel a pointer's target is not followed (its address is
	// the running kernel's); a callee a staged follow left is.
	follows = j.Follow.Deferred(b) && (j.Plan.Space != target.KernelSpace || j.Follow.Staged(b))
	if follows {
		cfg.FollowAlso = append(append([]follow.Blame(nil), cfg.FollowAlso...), b)
	}
	next, err := Prepare(cfg)
	switch {
	case err != nil:
		fmt.Fprintf(diag, "whythefail: %s's statements are not traced: %v\n", b.Callee, err)
		return nil, false
	case next.Origin == nil:
		fmt.Fprintf(diag, "whythefail: %s\n", next.originMiss)
		if !follows {
			return nil, false
		}
	}
	// A callee that makes no call has nothing to follow.
	follows = follows && next.Follow.CallsIn(b)
	if next.Origin == nil && !follows {
		return nil, false
	}
	return next, follows
}

// whatNext is what a job of nextJob does, for the lines that say so:
// "trace X's statements", "follow X's calls and trace its statements",
// "follow X's calls".
func whatNext(j *Job, b follow.Blame, follows bool) string {
	switch {
	case j.Origin == nil:
		return fmt.Sprintf("follow %s's calls", b.Callee)
	case follows:
		return fmt.Sprintf("follow %s's calls and trace its statements", j.Origin.Function)
	}
	return fmt.Sprintf("trace %s's statements", j.Origin.Function)
}

// RunFollow runs a --follow job as Run does and, for a -c command whose
// trace blamed a call, runs the command again (the run is reproducible)
// with the blamed function's statements traced as well and, when the
// first run left its own calls for a later run (a call through a
// pointer, or a staged follow: Config.FollowEager), its calls followed;
// while a re-run finds the failure came from deeper along a chain
// through that call, it runs the command again for the call it blamed
// there. It prints the last run's traces: the origin's statements follow
// the calls of each trace that blamed the same call (the same call site,
// the same count of calls from it, in an invocation that again satisfied
// the condition). When no trace of a re-run did, it says so and prints
// the traces of the run before. Without --follow or -c it is Run. The
// runs' output is held until the choice is made.
func (j *Job) RunFollow(ctx context.Context, out io.Writer, o RunOptions) (int, error) {
	// (A notrace function traced at its boundary has its calls without
	// --follow: its origin's statements are for --follow.)
	if j.Follow == nil || !j.cfg.Follow || o.Command == "" || o.Floor {
		return j.Run(ctx, out, o)
	}
	diag := o.Diag
	if diag == nil {
		diag = orStdW(o.Stderr, os.Stderr)
	}
	o.terminal = isTerminal(out)
	var first bytes.Buffer
	status, err := j.Run(ctx, &first, o)
	if err != nil || j.cut || j.blame == nil {
		_, werr := out.Write(first.Bytes())
		return status, errors.Join(err, werr)
	}
	// best is the output printed: the first run's, then each re-run's
	// that found its failure again.
	best, bestStatus := first.Bytes(), status
	prev, b := j, *j.blame
	for n := 1; n <= maxReruns; n++ {
		j2, follows := prev.nextJob(b, diag)
		if j2 == nil {
			break
		}
		again := ""
		if n > 1 {
			again = " again"
		}
		fmt.Fprintf(diag, "whythefail: re-running %s%s to %s\n", o.Command, again, whatNext(j2, b, follows))
		for _, n := range j2.originNotes {
			fmt.Fprintf(diag, "whythefail: note: %s\n", n)
		}
		j2.rerun = true
		var next bytes.Buffer
		status2, err := j2.Run(ctx, &next, o)
		if status2 == AbortStatus {
			return status2, err // a second Ctrl-C: nothing more printed
		}
		before := "the first run's"
		if n > 1 {
			before = "the previous run's"
		}
		if rerunRefused(diag, j2, err, before) {
			break
		}
		if err != nil {
			_, werr := out.Write(best)
			return bestStatus, errors.Join(err, werr)
		}
		if j2.recurred > 0 {
			best, bestStatus = next.Bytes(), status2
			break
		}
		if !j2.cut && j2.deeper != nil {
			// Its calls followed, the failure came from deeper:
			// the next run traces that call's statements. This
			// run's traces show the chain down to it.
			best, bestStatus = next.Bytes(), status2
			prev, b = j2, *j2.deeper
			continue
		}
		if !j2.cut {
			fmt.Fprintf(diag, "whythefail: the failure did not recur in the re-run (no trace blamed %s, call %d from its site, again): %s traces follow, without its statements\n", b.Callee, b.Nth, before)
		}
		break
	}
	_, werr := out.Write(best)
	return bestStatus, werr
}

// variableNotes are the notes on variables that print ?: the traced
// function's, then, apart, the origin's (whose statements are counted on
// their own).
func (j *Job) variableNotes(ws []bpfgen.Warning, level Notes) []string {
	if j.Origin == nil {
		return unavailableNotes(j.Stmts, ws, level)
	}
	if j.rerun {
		return j.originVarNotes(ws, level) // the first run noted the function's
	}
	var own, origin []bpfgen.Warning
	for _, w := range ws {
		if _, ok := j.Origin.Stmts[w.StmtID]; ok {
			origin = append(origin, w)
		} else {
			own = append(own, w)
		}
	}
	return append(unavailableNotes(j.Stmts, own, level), j.originVarNotes(origin, level)...)
}

// originVarNotes are the notes on the origin's variables that print ?,
// among ws.
func (j *Job) originVarNotes(ws []bpfgen.Warning, level Notes) []string {
	var notes []string
	var mine []bpfgen.Warning
	for _, w := range ws {
		if _, ok := j.Origin.Stmts[w.StmtID]; ok {
			mine = append(mine, w)
		}
	}
	for _, n := range unavailableNotes(j.Origin.Stmts, mine, level) {
		notes = append(notes, "in "+j.Origin.Function+"'s statements: "+n)
	}
	return notes
}

// traceWriter prints traces and the statistics (report.Text, JSON or
// Groups).
type traceWriter interface {
	Trace(*report.Trace) error
	Stats(report.Stats) error
}

// printTraces prints the session's traces as they arrive, up to the
// limit, until the session closes; the channel is closed then.
func printTraces(abortCtx context.Context, j *Job, sess *session.Session, w traceWriter, limit *traceLimit) <-chan struct{} {
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for t := range sess.Traces() {
			if abortCtx.Err() == nil && limit.take() {
				j.noteBlame(&t)
				w.Trace(&t)
			}
		}
	}()
	return printed
}

// swapped is the session that replaced a run's first one.
type swapped struct {
	job  *Job
	sess *session.Session
	// plan is the session's plan (the job's, with the run's stack copy).
	plan session.Plan
	// prior are the statistics of the session replaced.
	prior session.Stats
}

// swapOrigin places the statement probes of the call b a trace of j
// blamed in a -x or system-wide run, and follows its calls when j left
// them for a later run (nextJob): it prepares the job again with them,
// detaches the running session (so that no invocation is committed by
// both; one that fails meanwhile is not traced) and attaches the new one,
// whose blamed channel is set when it follows b's calls (a failure from
// deeper is swapped in the same way). Nil, with a line on diag, when
// neither can be done: the session goes on. When the new session cannot
// attach, plan (the running session's) is attached again, and only when
// that fails too is it an error.
func (j *Job) swapOrigin(ctx context.Context, b follow.Blame, plan session.Plan, sopts session.Options, old *session.Session, printed <-chan struct{}, diag io.Writer, notes Notes) (*swapped, error) {
	j2, follows := j.nextJob(b, diag)
	if j2 == nil {
		return nil, nil
	}
	if follows {
		j2.blamed = make(chan struct{})
	}
	derr := detach(old, diag)
	cerr := old.Close()
	select {
	case <-printed:
	case <-ctx.Done():
	}
	st, _ := old.Stats()
	if err := errors.Join(derr, cerr); err != nil {
		return nil, err
	}
	p2 := j2.Plan
	p2.Stack = plan.Stack
	what := b.Callee + "'s calls"
	if j2.Origin != nil {
		what = j2.Origin.Function + "'s statements"
	}
	sess, err := session.Start(ctx, p2, sopts)
	if err != nil {
		fmt.Fprintf(diag, "whythefail: placing %s failed (%v): tracing goes on without them\n", what, err)
		sess, err = session.Start(ctx, plan, sopts)
		if err != nil {
			return nil, explainStart(err)
		}
		return &swapped{job: j, sess: sess, plan: plan, prior: st}, nil
	}
	ns := j2.originNotes
	if j2.Origin != nil {
		ns = append(ns, j2.originVarNotes(sess.Warnings(), notes)...)
	}
	for _, n := range ns {
		fmt.Fprintf(diag, "whythefail: note: %s\n", n)
	}
	switch {
	case j2.Origin == nil:
		fmt.Fprintf(diag, "whythefail: %s's calls are followed from now on (%d probes): the next failure through the same call shows them\n", b.Callee, sess.Probes())
	case follows:
		fmt.Fprintf(diag, "whythefail: %s's calls are followed and its statements traced from now on (%d probes): the next failure through the same call shows them\n", j2.Origin.Function, sess.Probes())
	default:
		fmt.Fprintf(diag, "whythefail: %s's statements are traced from now on (%d probes): the next failure that blames the same call prints them\n", j2.Origin.Function, sess.Probes())
	}
	return &swapped{job: j2, sess: sess, plan: p2, prior: st}, nil
}

// addStats sums the statistics of two sessions of one run.
func addStats(a, b session.Stats) session.Stats {
	return session.Stats{
		Entries: a.Entries + b.Entries, ExitHit: a.ExitHit + b.ExitHit, ExitMiss: a.ExitMiss + b.ExitMiss, Statements: a.Statements + b.Statements,
		RingbufDrops: a.RingbufDrops + b.RingbufDrops, Truncations: a.Truncations + b.Truncations, MissingBuffer: a.MissingBuffer + b.MissingBuffer,
		EntryDrops: a.EntryDrops + b.EntryDrops, DecodeErrors: a.DecodeErrors + b.DecodeErrors, RingBytes: a.RingBytes + b.RingBytes,
		ErrnoUnknown: a.ErrnoUnknown + b.ErrnoUnknown, ReturnMisses: a.ReturnMisses + b.ReturnMisses,
		ReturnMissesUnknown: a.ReturnMissesUnknown || b.ReturnMissesUnknown, ProgramMisses: a.ProgramMisses + b.ProgramMisses,
	}
}

// rerunRefused reports, with a line on diag, a re-run j that the kernel
// refused to attach (a statement of the origin on an instruction it takes
// no uprobe on: glibc's string functions' VEX and EVEX instructions): the
// first run's traces stand, without the origin's statements.
func rerunRefused(diag io.Writer, j *Job, err error, before string) bool {
	var ae *session.AttachError
	if !errors.As(err, &ae) || j.Origin == nil {
		return false
	}
	fmt.Fprintf(diag, "whythefail: %s's statements are not traced: %v (the kernel refused a probe there): %s traces follow\n", j.Origin.Function, err, before)
	return true
}
