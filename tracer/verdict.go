package tracer

import (
	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
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
