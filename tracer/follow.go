package tracer

import (
	"errors"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/target"
)

// planFollow adds the call and return probes of --follow to the job's
// plan (package follow): in user-space programs and in the kernel, where
// they become kprobes at symbol+offset like statements (kernelSites). A
// module's code is relocated at load, so its call targets cannot be read
// from the .ko: refused.
func planFollow(job *Job, bin target.Binary, fn *debuginfo.Function) error {
	in := follow.Input{
		Fn: fn, Code: bin.Code, FileOffset: bin.FileOffset, Symbols: bin.Symbols(),
		FirstID: uint32(len(job.Plan.Stmts)), RetSize: job.Plan.RetSize, RetUnsigned: job.Plan.RetUnsigned,
	}
	switch f, ok := bin.(*target.File); {
	case bin.Kind() == target.KindKernel:
		if kb, ok := bin.(kernelBinary); ok {
			in.ReturnOf = kernelReturns(kb)
		}
	case !ok || bin.Kind() != target.KindUser:
		return errors.New("--follow follows calls in user-space programs and the kernel only: a module's calls are relocated when it is loaded")
	default:
		in.PLT = follow.PLTNames(f.ELF)
	}
	p, err := follow.New(in)
	if err != nil {
		return err
	}
	job.Follow = p
	job.Plan.Stmts = append(job.Plan.Stmts, p.Stmts...)
	return nil
}
