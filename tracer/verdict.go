package tracer

import (
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/source"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/verdict"
)

// planVerdict adds the branch probes the verdict line needs to the job's
// plan (package verdict). A function whose code cannot be decoded is
// traced without a verdict, and a note says so.
func planVerdict(job *Job, bin *target.File, fn *debuginfo.Function, sc *debuginfo.Scope, cfg Config) {
	p, err := verdict.New(verdict.Input{
		Fn: fn, Scope: sc, Code: bin.Code, FileOffset: bin.FileOffset, CFA: bin.CFA,
		Source: sourceLines(fn, bin.BuildID, cfg), FirstID: uint32(len(job.Plan.Stmts)),
	})
	if err != nil {
		job.Notes = append(job.Notes, "no verdict line: "+err.Error())
		return
	}
	job.Verdict = p
	job.Plan.Stmts = append(job.Plan.Stmts, p.Stmts...)
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
