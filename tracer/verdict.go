package tracer

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/report"
	"github.com/whythefail/whythefail/source"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/verdict"
)

// planVerdict adds the branch probes the verdict line needs to the job's
// plan (package verdict). A function whose code cannot be decoded is
// traced without a verdict, and a note says so.
func planVerdict(job *Job, bin target.Binary, fn *debuginfo.Function, sc *debuginfo.Scope, cfg Config) {
	p, err := branchProbes(job, bin, fn, sc, cfg, job.Plan.Stmts)
	if err != nil {
		job.Notes = append(job.Notes, "no verdict line: "+err.Error())
		return
	}
	job.Verdict = p
	if p.Superseded > 0 {
		job.Placement = append(job.Placement, fmt.Sprintf("placement: %d of %d branch probes for the why: line, the others left out: another probed branch always follows them before any return",
			len(p.Stmts), len(p.Stmts)+p.Superseded))
	}
	if p.NonDeciding > 0 {
		job.Placement = append(job.Placement, fmt.Sprintf("placement: %d more branch probes for the why: line left out as non-deciding: both sides of each return the same value",
			p.NonDeciding))
	}
}

// planOriginVerdict gives the origin o (whose statements are
// job.Plan.Stmts[from:]) a "why:" line of its own, when FUNCTION has none
// while the verdict is on: a function traced at its boundary. The
// invocation keeps one branch record, the last branch taken in it, so that
// FUNCTION's own branches, which run after the origin returned, would
// overwrite the origin's. Binary is set on the branch probes as on the
// origin's statements (a library's). Without a plan the origin has no
// "why:" line, which the report tells by o.Verdict being nil.
func planOriginVerdict(job *Job, bin target.Binary, fn *debuginfo.Function, sc *debuginfo.Scope, cfg Config, o *report.Origin, from int, binary string) {
	if cfg.NoVerdict || job.Verdict != nil {
		return
	}
	n := len(job.Plan.Stmts)
	p, err := branchProbes(job, bin, fn, sc, cfg, job.Plan.Stmts[from:])
	if err != nil {
		return
	}
	for i := n; i < len(job.Plan.Stmts); i++ {
		job.Plan.Stmts[i].Binary = binary
	}
	o.Verdict = p
}

// branchProbes plans fn's branch probes (verdict.New), numbered after
// every other probe, tells the plan where the statements stmts (fn's) are
// probed, and appends the branch probes to the job's plan.
func branchProbes(job *Job, bin target.Binary, fn *debuginfo.Function, sc *debuginfo.Scope, cfg Config, stmts []bpfgen.Stmt) (*verdict.Plan, error) {
	p, err := verdict.New(verdict.Input{
		Fn: fn, Scope: sc, Code: bin.Code, FileOffset: bin.FileOffset, CFA: bin.CFA,
		Source: sourceLines(fn, buildID(bin), cfg), FirstID: nextStmtID(job.Plan.Stmts),
		CallName: callNames(bin), ProbeSuperseded: !cfg.Placement.Auto,
	})
	if err != nil {
		return nil, err
	}
	for _, st := range stmts {
		// A successor's probe on a jump records what runs after it
		// (bpfgen records it after the jump's branch probe): it is not
		// counted before the branch.
		if st.Succ == nil {
			p.ProbePC(st.ID, st.PC)
		}
	}
	job.Plan.Stmts = append(job.Plan.Stmts, p.Stmts...)
	return p, nil
}

// callNames names call targets by the symbols and PLT entries of a
// user-space binary, for the verdict's pruning of branches that never
// decide (verdict.Input.CallName); nil, which probes every branch, for
// the kernel and modules, whose exception-table fixups enter code where
// no jump shows. (--placement=naive, which keeps every probe where it was
// before placement, for comparison, sets Input.ProbeSuperseded instead:
// the branches that cannot decide the return value are left out in both
// modes, as they change the why: line.)
func callNames(bin target.Binary) func(uint64) string {
	f, ok := bin.(*target.File)
	if !ok || bin.Kind() != target.KindUser {
		return nil
	}
	names := follow.PLTNames(f.ELF)
	for _, s := range bin.Symbols() {
		if _, ok := names[s.Value]; !ok {
			names[s.Value] = s.Name
		}
	}
	irel := irelativeSlots(f.ELF, f.Debug)
	var plts [][2]uint64
	for _, name := range []string{".plt", ".plt.sec", ".plt.got"} {
		if s := f.ELF.Section(name); s != nil {
			plts = append(plts, [2]uint64{s.Addr, s.Addr + s.Size})
		}
	}
	return func(va uint64) string {
		if n, ok := names[va]; ok {
			return n
		}
		// A library's PLT entry for its own ifunc (memcpy, strlen):
		// jmp *slot(%rip) (after endbr64 and a bnd prefix) through an
		// IRELATIVE slot, named by the resolver's symbol.
		for _, r := range plts {
			if va < r[0] || va >= r[1] {
				continue
			}
			code, err := bin.Code(va, 16)
			if err != nil || len(code) < 16 {
				return ""
			}
			i := 0
			if bytes.HasPrefix(code, []byte{0xf3, 0x0f, 0x1e, 0xfa}) {
				i = 4
			}
			if code[i] == 0xf2 {
				i++
			}
			if code[i] != 0xff || code[i+1] != 0x25 {
				return ""
			}
			return irel[va+uint64(i)+6+uint64(int64(int32(binary.LittleEndian.Uint32(code[i+2:]))))]
		}
		return ""
	}
}

// rX8664Irelative is R_X86_64_IRELATIVE: a GOT slot filled with what an
// ifunc's resolver (at the addend) returns.
const rX8664Irelative = 37

// irelativeSlots names the IRELATIVE GOT slots of ef by the symbol (of
// ef's or the debug file's tables, any type: the ifunc's own) at each
// relocation's addend. A malformed file (debug/elf may panic on one)
// names none.
func irelativeSlots(ef, debug *elf.File) (out map[uint64]string) {
	defer func() {
		if recover() != nil {
			out = map[uint64]string{}
		}
	}()
	byAddr := map[uint64]string{}
	for _, e := range []*elf.File{ef, debug} {
		if e == nil {
			continue
		}
		for _, read := range []func() ([]elf.Symbol, error){e.Symbols, e.DynamicSymbols} {
			syms, _ := read()
			for _, s := range syms {
				if s.Name != "" && s.Value != 0 && s.Section != elf.SHN_UNDEF {
					if _, ok := byAddr[s.Value]; !ok {
						byAddr[s.Value] = s.Name
					}
				}
			}
		}
	}
	out = map[uint64]string{}
	if ef == nil {
		return out
	}
	follow.Relas(ef, func(r follow.Rela) {
		if uint32(r.Info) != rX8664Irelative {
			return
		}
		if n, ok := byAddr[uint64(r.Addend)]; ok {
			out[r.Offset] = n
		}
	})
	return out
}

// sourceLines looks source lines up as --source does (compile directory,
// --source-path substitutions, debuginfod), quietly: the verdict uses the
// text when it is found and file:line otherwise.
func sourceLines(fn *debuginfo.Function, buildID []byte, cfg Config) func(string, int) (string, bool) {
	opts := source.Options{Debuginfod: cfg.Debuginfod}
	for _, s := range cfg.SourcePaths {
		if sub, err := source.ParseSubstitution(s); err == nil {
			opts.Substitutions = append(opts.Substitutions, *sub)
		}
	}
	var lines source.Lines
	paths := map[string]string{}
	return func(file string, n int) (string, bool) {
		p, ok := paths[file]
		if !ok {
			p, _ = source.Find(fn.CU.CompDir, file, buildID, opts)
			paths[file] = p
		}
		if p == "" {
			return "", false
		}
		return lines.Line(p, n)
	}
}

// addSharedRows records, for every statement, the other line-table rows of
// its file that start at its address, with their text (--source and
// --annotate show them: at -O2 a branch's own row may share the address of
// the row stap names the probe by).
func addSharedRows(job *Job, fn *debuginfo.Function, addrs map[uint32]uint64, buildID []byte, cfg Config) {
	rows, err := fn.CU.Lines()
	if err != nil {
		return
	}
	text := sourceLines(fn, buildID, cfg)
	done := map[uint32]bool{} // a statement on several jumps has several probes
	for _, st := range job.Plan.Stmts {
		rs, ok := job.Stmts[st.ID]
		if !ok || st.Branch || done[st.ID] {
			continue
		}
		done[st.ID] = true
		seen := map[int]bool{rs.Line: true}
		for _, r := range rows {
			if r.EndSeq || r.Addr != addrs[st.ID] || seen[r.Line] || fn.CU.File(r.File) != rs.File {
				continue
			}
			seen[r.Line] = true
			t, _ := text(rs.File, r.Line)
			rs.Shared = append(rs.Shared, report.SourceLine{N: r.Line, Text: t})
		}
		job.Stmts[st.ID] = rs
	}
}
