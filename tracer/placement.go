package tracer

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/debuginfo/bidcache"
	"github.com/whythefail/whythefail/expr"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/place"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/report"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// Placement says where statement probes go.
type Placement struct {
	// Auto moves each statement's probe to an instruction the kernel
	// emulates where that provably reads the same values (probe/place);
	// otherwise every probe is at its statement's first instruction.
	Auto bool
	// Emulated says which instruction classes the running kernel
	// emulates at a uprobe (session.ProbeEmulation).
	Emulated func(insn.Class) bool
}

// placer moves the statement probes of one function.
type placer struct {
	f        *place.Func
	entry    uint64
	emulated func(insn.Class) bool
	moved    int
	// avoid holds file offsets no probe moves to (funcStmts.avoid).
	avoid map[uint64]bool
	// decided holds, by statement address, where each statement placed
	// so far is observed: a kept one at its address, a moved one where
	// its decisions say (place.Func.Before follows them).
	decided map[uint64][]place.Decision
	// early says why no statement may be recorded before its code runs
	// (place.Func.Before); "" when they may.
	early string
	// acrossCalls lets a statement be recorded before the call its line
	// follows (funcStmts.acrossCalls).
	acrossCalls bool
}

// newPlacer decodes fn for placement; it returns nil (every probe stays)
// and why when placement is off or the function cannot be analysed.
func newPlacer(cfg Placement, bin *target.File, fn *debuginfo.Function, stmts []*probe.Point) (*placer, string) {
	if !cfg.Auto || cfg.Emulated == nil {
		return nil, ""
	}
	f, err := place.Decode(fn.Entry, fn.Ranges, bin.Code, place.ELFData(bin.ELF))
	if err != nil {
		return nil, fmt.Sprintf("placement: every probe stays at its statement: %v", err)
	}
	for _, p := range stmts {
		f.Barrier(p.Addr, "statement")
	}
	// The verdict's probes on conditional sets and moves record a
	// branch: no statement is recorded across one.
	for _, a := range f.CondUses() {
		f.Barrier(a, "conditional set or move")
	}
	// Exception landing pads are targets no branch names. Line rows
	// stand in for targets that cannot be found: those of indirect jumps
	// (switch tables are read, but a table cannot be proven complete),
	// and landing pads when the tables cannot be read.
	pads, err := place.LandingPads(bin.ELF, fn.Ranges)
	for _, a := range pads {
		f.Barrier(a, "landing pad")
	}
	pl := &placer{f: f, entry: fn.Entry, emulated: cfg.Emulated, decided: map[uint64][]place.Decision{}, early: earlyRisk(bin, f, pads, err)}
	if err == nil && !f.Indirect() {
		return pl, entryLine(f, fn, cfg)
	}
	if rows, err := fn.CU.Lines(); err == nil {
		for _, row := range rows {
			if fn.Contains(row.Addr) {
				f.Barrier(row.Addr, "line row")
			}
		}
	} else {
		return nil, fmt.Sprintf("placement: every probe stays at its statement: %v", err)
	}
	return pl, entryLine(f, fn, cfg) + "; line rows count as jump targets (indirect jumps or unreadable exception tables)"
}

// earlyRisk says why statements of f may not be recorded before their
// code runs (place.Func.Before), "" when they may: control that leaves
// the straight line between the probe and the statement for a signal
// handler comes back to it or abandons the invocation, unless the
// handler longjmps into the function (which calls setjmp), or throws to
// a landing pad of its own. Calls no symbol names might be setjmp.
func earlyRisk(bin *target.File, f *place.Func, pads []uint64, padErr error) string {
	switch {
	case padErr != nil:
		return fmt.Sprintf("not recorded earlier: the exception tables cannot be read (%v)", padErr)
	case len(pads) > 0:
		return "not recorded earlier: the function has exception landing pads"
	}
	name := callNames(bin)
	if name == nil {
		return "not recorded earlier: calls cannot be named"
	}
	for _, t := range f.Calls() {
		n := name(t)
		switch {
		case n == "":
			return fmt.Sprintf("not recorded earlier: a call to %#x, which no symbol names, might return twice", t)
		case place.ReturnsTwice(n):
			return fmt.Sprintf("not recorded earlier: the function calls %s, which may return twice", n)
		}
	}
	return ""
}

// entryLine says what the entry and return probes cost: they stay at the
// function's first instruction, where the return probe finds the return
// address.
func entryLine(f *place.Func, fn *debuginfo.Function, cfg Placement) string {
	text, class, _ := f.At(fn.Entry)
	how := "single-stepped"
	if class != "" && cfg.Emulated(class) {
		how = "emulated"
	}
	return fmt.Sprintf("placement: entry and return probes at +0x0 %s (%s): they stay at the entry, where the return address is", text, how)
}

// place returns st moved where p's probe can go, or st itself, and says
// why for -v. The statement is built again at the new address
// (remake): its reads must come out identical, which checks location
// lists and scopes; the CFA rule must describe the same frame. A
// statement observed on the jumps that enter it (place.Func.Successor)
// comes back once per jump, each copy recording it when its jump goes
// there; if any copy fails the checks, the statement keeps its address.
func (pl *placer) place(bin *target.File, p *probe.Point, st bpfgen.Stmt, rs report.Stmt, remake func(*probe.Point) (bpfgen.Stmt, report.Stmt, error)) ([]bpfgen.Stmt, string) {
	sts, why, ds := pl.placeOne(bin, p, st, rs, remake)
	if ds == nil {
		ds = []place.Decision{{Addr: p.Addr}}
	}
	if _, ok := pl.decided[p.Addr]; ok {
		// Two statements at one address: which one a later
		// statement follows is not clear.
		ds = nil
	}
	pl.decided[p.Addr] = ds
	return sts, why
}

// placeOne is place, and the decisions it took (nil: kept).
func (pl *placer) placeOne(bin *target.File, p *probe.Point, st bpfgen.Stmt, rs report.Stmt, remake func(*probe.Point) (bpfgen.Stmt, report.Stmt, error)) ([]bpfgen.Stmt, string, []place.Decision) {
	if p.Addr == pl.entry {
		// The entry and return probes are here: a statement probe at
		// the same address shares their trap, one elsewhere adds one.
		return []bpfgen.Stmt{st}, "kept: shares the entry probe's trap", nil
	}
	need := place.ReadsOf(st.Vars)
	d := pl.f.Place(p.Addr, need, place.CFA{Reg: st.CFA.Reg, Off: st.CFA.Offset}, pl.emulated)
	ds := []place.Decision{d}
	if _, class, _ := pl.f.At(p.Addr); !d.Moved && (class == "" || !pl.emulated(class)) {
		// Observed on the jumps that enter it, where other probes
		// (statements moved there, branch probes) may trap already.
		ds = pl.f.Successor(p.Addr, need, pl.emulated)
		if !ds[0].Moved {
			return []bpfgen.Stmt{st}, d.Why + "; " + strings.TrimPrefix(ds[0].Why, "kept: "), nil
		}
	} else if !d.Moved {
		return []bpfgen.Stmt{st}, d.Why, nil
	}
	var out []bpfgen.Stmt
	var why []string
	for _, d := range ds {
		q := *p
		q.Addr = d.Addr
		off, err := bin.FileOffset(d.Addr)
		if err != nil {
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: %v", err), nil
		}
		q.FileOffset = off
		if pl.avoid[off] {
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: +%#x holds the blamed call's probe, whose records delimit the call's", d.Addr-pl.entry), nil
		}
		st2, rs2, err := remake(&q)
		switch {
		case err != nil:
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: at %#x: %v", d.Addr, err), nil
		case len(d.Copies) == 0 && (!reflect.DeepEqual(st2.Vars, st.Vars) || !reflect.DeepEqual(rs2.Vars, rs.Vars)):
			// (With Copies, the debug info at the new address need
			// not say where the copy is: the statement's own reads,
			// rewritten, are what it reads there.)
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: the variables' locations differ at %#x", d.Addr), nil
		case need.CFA && st.CFA.Reg == 7 && !(d.RSPKnown && st2.CFA.Reg == 7 && st2.CFA.Offset == st.CFA.Offset-d.RSP):
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: the CFA rule at %#x (reg %d%+d) does not follow rsp's move of %d", d.Addr, st2.CFA.Reg, st2.CFA.Offset, d.RSP), nil
		case need.CFA && st.CFA.Reg != 7 && st2.CFA != st.CFA:
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: the CFA rule differs at %#x", d.Addr), nil
		}
		st2.ID = st.ID
		if len(d.Copies) > 0 {
			st2.Vars = d.Rewrite(st.Vars)
		}
		if d.Succ {
			st2.Succ = &bpfgen.Succ{Cond: d.Cond, Taken: d.Taken, At: p.Addr}
		}
		out = append(out, st2)
		why = append(why, d.Why)
	}
	pl.moved++
	return out, strings.Join(why, "; "), ds
}

// before records a statement that place kept on its single-stepped
// first instruction earlier on the straight line that leads to it
// (place.Func.Before): with the probe of an earlier statement, or on
// the emulated instructions that start the line. The statement's reads
// stay its own (nothing in between writes what they read); its program
// at each point takes that address's CFA rule, which must describe the
// same frame. Statements go through before in address order, so that
// a line's statements follow one another. ok false keeps the statement
// where it is, and why says why.
func (pl *placer) before(bin *target.File, p *probe.Point, st bpfgen.Stmt, remake func(*probe.Point) (bpfgen.Stmt, report.Stmt, error)) (sts []bpfgen.Stmt, why string, ok bool) {
	if pl.early != "" {
		return nil, pl.early, false
	}
	if _, class, _ := pl.f.At(p.Addr); class != "" && pl.emulated(class) || p.Addr == pl.entry {
		return nil, "", false
	}
	need := place.ReadsOf(st.Vars)
	ds := pl.f.Before(p.Addr, need, place.CFA{Reg: st.CFA.Reg, Off: st.CFA.Offset}, pl.emulated, func(a uint64) ([]place.Decision, bool) {
		d, ok := pl.decided[a]
		return d, ok && d != nil
	}, pl.acrossCalls)
	if !ds[0].Moved {
		return nil, "not recorded earlier: " + strings.TrimPrefix(ds[0].Why, "kept: "), false
	}
	var whys []string
	for _, d := range ds {
		off, err := bin.FileOffset(d.Addr)
		if err != nil {
			return nil, fmt.Sprintf("not recorded earlier: %v", err), false
		}
		if pl.avoid[off] {
			return nil, fmt.Sprintf("not recorded earlier: +%#x holds the blamed call's probe", d.Addr-pl.entry), false
		}
		q := *p
		q.Addr, q.FileOffset = d.Addr, off
		st2, _, err := remake(&q)
		switch {
		case err != nil:
			return nil, fmt.Sprintf("not recorded earlier: at %#x: %v", d.Addr, err), false
		case need.CFA && st.CFA.Reg == 7 && !(d.RSPKnown && st2.CFA.Reg == 7 && st2.CFA.Offset == st.CFA.Offset-d.RSP):
			return nil, fmt.Sprintf("not recorded earlier: the CFA rule at %#x (reg %d%+d) does not follow rsp's move of %d", d.Addr, st2.CFA.Reg, st2.CFA.Offset, d.RSP), false
		case need.CFA && st.CFA.Reg != 7 && st2.CFA != st.CFA:
			return nil, fmt.Sprintf("not recorded earlier: the CFA rule differs at %#x", d.Addr), false
		}
		e := st
		e.PC, e.FileOffset, e.CFA = st2.PC, st2.FileOffset, st2.CFA
		e.Vars = d.Rewrite(st.Vars)
		e.Succ = &bpfgen.Succ{Cond: d.Cond, Taken: d.Taken, At: p.Addr}
		sts = append(sts, e)
		whys = append(whys, d.Why)
	}
	pl.decided[p.Addr] = ds
	pl.moved++
	return sts, strings.Join(whys, "; "), true
}

// returnPlacementLine is the -v line saying how many of --follow's
// return probes outside fn's code moved to an emulated instruction
// (follow.Input.Emulated); "" when none was tried.
func returnPlacementLine(p *follow.Plan, fn *debuginfo.Function) string {
	moved, tried := 0, 0
	for _, s := range p.Sites {
		if s.ReturnWhy == "" {
			continue
		}
		tried++
		if s.ReturnProbe != s.Return {
			moved++
		}
	}
	if tried == 0 {
		return ""
	}
	return fmt.Sprintf("placement: --follow: %d of the %d return probes outside %s moved to an instruction the kernel emulates after the return address", moved, tried, fn.Name)
}

// placementLine is the -v line for one statement.
func placementLine(fn *debuginfo.Function, rs report.Stmt, pc uint64, why string) string {
	return fmt.Sprintf("placement: %s:%d at +%#x: %s", rs.File, rs.Line, pc-fn.Entry, why)
}

// KernelPlacement is automatic placement with the running kernel's
// emulated instructions measured (session.ProbeEmulation) once per boot:
// the answer is kept in the build-id cache under the boot's id, tied to
// the kernel's release and version. When they cannot be measured, the
// classes every x86-64 kernel since Linux 3.x emulates
// (arch/x86/kernel/uprobes.c: call rel32, jmp, jcc, the one-byte nop), and
// a note that says so.
func KernelPlacement() (Placement, string) {
	e, how, err := emulation()
	if err != nil {
		rules := map[insn.Class]bool{insn.ClassCall: true, insn.ClassJmp8: true, insn.ClassJmp32: true, insn.ClassJcc8: true, insn.ClassJcc32: true, insn.ClassNop: true, insn.ClassNop66: true}
		return Placement{Auto: true, Emulated: func(c insn.Class) bool { return rules[c] }},
			fmt.Sprintf("placement: could not measure which instructions the kernel emulates (%v); assuming call, jmp, jcc and nop, as every x86-64 kernel since 3.x", err)
	}
	var on []string
	for _, c := range insn.Classes {
		if e[c] {
			on = append(on, string(c))
		}
	}
	return Placement{Auto: true, Emulated: func(c insn.Class) bool { return e[c] }},
		"placement: the kernel emulates (" + how + "): " + strings.Join(on, " ")
}

// emulation returns the kernel's emulated classes from the cache entry of
// this boot, or measures them and fills the entry.
func emulation() (session.Emulation, string, error) {
	cache := bidcache.Open()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	id, _ := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(boot)), "-", ""))
	var uts unix.Utsname
	var identity []byte
	if len(id) > 0 && unix.Uname(&uts) == nil {
		identity = append(append(bytes.TrimRight(uts.Release[:], "\x00"), ' '), bytes.TrimRight(uts.Version[:], "\x00")...)
		if blobs, ok := cache.Get("emulation", id, identity); ok && len(blobs) == 1 {
			e := session.Emulation{}
			for _, c := range strings.Fields(string(blobs[0].Data)) {
				e[insn.Class(c)] = true
			}
			return e, "measured this boot", nil
		}
	}
	e, err := session.ProbeEmulation()
	if err != nil {
		return nil, "", err
	}
	if identity != nil {
		var on []string
		for c, ok := range e {
			if ok {
				on = append(on, string(c))
			}
		}
		sort.Strings(on)
		cache.Put("emulation", id, identity, []bidcache.Blob{{Name: "classes", Data: []byte(strings.Join(on, " "))}})
	}
	return e, "measured", nil
}

// listPlacement says where the probe of each listed statement point of an
// out-of-line function would go when tracing reads all its variables, as
// -L -v shows it. Every statement of the function is a barrier, as when
// tracing it.
func listPlacement(r *probe.Resolver, bin *target.File, pts []*probe.Point, cfg Placement) map[*probe.Point]string {
	out := map[*probe.Point]string{}
	type fnState struct {
		pl        *placer
		why       string
		all       []*debuginfo.Variable
		env       expr.Env
		preProlog uint64
	}
	fns := map[*debuginfo.Function]*fnState{}
	// later are the statements kept at their own instruction, which may
	// be recorded earlier (placer.before).
	type later struct {
		p      *probe.Point
		st     bpfgen.Stmt
		pl     *placer
		remake func(*probe.Point) (bpfgen.Stmt, report.Stmt, error)
	}
	var kept []later
	for _, p := range pts {
		fn := p.Func
		if fn == nil || fn.Inlined || p.Kind != spec.Statement {
			continue
		}
		fs, ok := fns[fn]
		if !ok {
			fs = &fnState{}
			fns[fn] = fs
			ss := &spec.Spec{Target: spec.Process, Path: bin.Path, Point: spec.Statement, Func: fn.Name, File: fn.DeclFile, Lines: spec.Lines{Kind: spec.AnyLine}}
			spts, err := r.Resolve(ss)
			sc, serr := r.Data.Scope(fn)
			switch {
			case err != nil:
				fs.why = "kept: " + err.Error()
			case serr != nil:
				fs.why = "kept: " + serr.Error()
			default:
				var own []*probe.Point
				for _, q := range spts {
					if q.Func == fn {
						own = append(own, q)
					}
				}
				fs.pl, fs.why = newPlacer(cfg, bin, fn, own)
				if fs.pl != nil {
					fs.why = ""
					fs.pl.acrossCalls = true // as when tracing without --follow
				}
				fs.all = sc.AllVars()
				fs.env = paramEnv(sc)
				fs.env.Data, fs.env.GOT = r.Data, bin.GOTSlot
				if !fn.CU.HasLocLists {
					fs.preProlog = frameReady(r, fn)
				}
			}
		}
		if fs.pl == nil {
			if fs.why != "" {
				out[p] = fs.why
			}
			continue
		}
		vars := &expr.VarSet{Kind: "vars", C: 1}
		remake := func(q *probe.Point) (bpfgen.Stmt, report.Stmt, error) {
			return statement(r, bin, bin.GOTSlot, funcStmts{fn: fn, varNode: vars, all: fs.all, env: fs.env}, q, 0, p.Addr < fs.preProlog)
		}
		st, rs, err := remake(p)
		if err != nil {
			out[p] = "kept: " + err.Error()
			continue
		}
		sts, why := fs.pl.place(bin, p, st, rs, remake)
		out[p] = why
		if len(sts) == 1 && sts[0].Succ == nil && sts[0].PC == p.Addr {
			kept = append(kept, later{p, st, fs.pl, remake})
		}
	}
	// As when tracing (planStatements), in address order.
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].p.Addr < kept[j].p.Addr })
	for _, k := range kept {
		if _, why, ok := k.pl.before(bin, k.p, k.st, k.remake); ok {
			out[k.p] = why
		} else if why != "" {
			out[k.p] += "; " + why
		}
	}
	return out
}
