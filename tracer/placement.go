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
	// Exception landing pads are targets no branch names. Line rows
	// stand in for targets that cannot be found: those of indirect jumps
	// (switch tables are read, but a table cannot be proven complete),
	// and landing pads when the tables cannot be read.
	pads, err := place.LandingPads(bin.ELF, fn.Ranges)
	for _, a := range pads {
		f.Barrier(a, "landing pad")
	}
	if err == nil && !f.Indirect() {
		return &placer{f: f, entry: fn.Entry, emulated: cfg.Emulated}, entryLine(f, fn, cfg)
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
	return &placer{f: f, entry: fn.Entry, emulated: cfg.Emulated}, entryLine(f, fn, cfg) + "; line rows count as jump targets (indirect jumps or unreadable exception tables)"
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
	if p.Addr == pl.entry {
		// The entry and return probes are here: a statement probe at
		// the same address shares their trap, one elsewhere adds one.
		return []bpfgen.Stmt{st}, "kept: shares the entry probe's trap"
	}
	need := place.ReadsOf(st.Vars)
	d := pl.f.Place(p.Addr, need, place.CFA{Reg: st.CFA.Reg, Off: st.CFA.Offset}, pl.emulated)
	ds := []place.Decision{d}
	if _, class, _ := pl.f.At(p.Addr); !d.Moved && (class == "" || !pl.emulated(class)) {
		// Observed on the jumps that enter it, where other probes
		// (statements moved there, branch probes) may trap already.
		ds = pl.f.Successor(p.Addr, need, pl.emulated)
		if !ds[0].Moved {
			return []bpfgen.Stmt{st}, d.Why + "; " + strings.TrimPrefix(ds[0].Why, "kept: ")
		}
	} else if !d.Moved {
		return []bpfgen.Stmt{st}, d.Why
	}
	var out []bpfgen.Stmt
	var why []string
	for _, d := range ds {
		q := *p
		q.Addr = d.Addr
		off, err := bin.FileOffset(d.Addr)
		if err != nil {
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: %v", err)
		}
		q.FileOffset = off
		if pl.avoid[off] {
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: +%#x holds the blamed call's probe, whose records delimit the call's", d.Addr-pl.entry)
		}
		st2, rs2, err := remake(&q)
		switch {
		case err != nil:
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: at %#x: %v", d.Addr, err)
		case !reflect.DeepEqual(st2.Vars, st.Vars) || !reflect.DeepEqual(rs2.Vars, rs.Vars):
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: the variables' locations differ at %#x", d.Addr)
		case need.CFA && st.CFA.Reg == 7 && !(d.RSPKnown && st2.CFA.Reg == 7 && st2.CFA.Offset == st.CFA.Offset-d.RSP):
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: the CFA rule at %#x (reg %d%+d) does not follow rsp's move of %d", d.Addr, st2.CFA.Reg, st2.CFA.Offset, d.RSP)
		case need.CFA && st.CFA.Reg != 7 && st2.CFA != st.CFA:
			return []bpfgen.Stmt{st}, fmt.Sprintf("kept: the CFA rule differs at %#x", d.Addr)
		}
		st2.ID = st.ID
		if d.Succ {
			st2.Succ = &bpfgen.Succ{Cond: d.Cond, Taken: d.Taken}
		}
		out = append(out, st2)
		why = append(why, d.Why)
	}
	pl.moved++
	return out, strings.Join(why, "; ")
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
		_, why := fs.pl.place(bin, p, st, rs, remake)
		out[p] = why
	}
	return out
}
