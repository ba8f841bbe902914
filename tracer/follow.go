package tracer

import (
	"errors"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/target"
)

// planFollow adds the call and return probes of --follow to the job's
// plan (package follow). User-space targets only.
func planFollow(job *Job, bin target.Binary, fn *debuginfo.Function) error {
	f, ok := bin.(*target.File)
	if !ok || bin.Kind() != target.KindUser {
		return errors.New("--follow follows calls in user-space targets only: kernel targets are not supported yet")
	}
	p, err := follow.New(follow.Input{
		Fn: fn, Code: bin.Code, FileOffset: bin.FileOffset, Symbols: bin.Symbols(), PLT: follow.PLTNames(f.ELF),
		FirstID: uint32(len(job.Plan.Stmts)), RetSize: job.Plan.RetSize, RetUnsigned: job.Plan.RetUnsigned,
	})
	if err != nil {
		return err
	}
	job.Follow = p
	job.Plan.Stmts = append(job.Plan.Stmts, p.Stmts...)
	return nil
}
