package tracer

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/report"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

// loadKernelBTF reads the running kernel's BTF (/sys/kernel/btf/vmlinux);
// a variable for tests.
var loadKernelBTF = btf.LoadKernelSpec

// btfScalar is what a BTF type is as a value in a register: an integer
// (signed or not), an enum, or a pointer; ok is false for anything else.
func btfScalar(t btf.Type) (size int, signed, ptr, ok bool) {
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		return int(u.Size), u.Encoding == btf.Signed, false, u.Size >= 1 && u.Size <= 8
	case *btf.Enum:
		return int(u.Size), u.Signed, false, u.Size >= 1 && u.Size <= 8
	case *btf.Pointer:
		return 8, false, true, true
	}
	return 0, false, false, false
}

// displayFormat is how a BTF scalar prints, as $$vars prints it.
func displayFormat(signed, ptr bool) string {
	switch {
	case ptr:
		return "ptr"
	case signed:
		return "int"
	}
	return "uint"
}

// prepareBTF prepares a function-level trace of a kernel function from the
// running kernel's BTF, for a kernel without DWARF (noDWARF says why there
// is none): the entry arguments, read from their registers at the entry,
// and the return value; no statements. A note says how to get them.
func prepareBTF(cfg Config, cond expr.Node, noDWARF error) (*Job, error) {
	spec, err := loadKernelBTF()
	if err != nil {
		return nil, fmt.Errorf("%w; and the kernel has no BTF either (%v) to trace it at function level", noDWARF, err)
	}
	var fn *btf.Func
	if err := spec.TypeByName(cfg.Function, &fn); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return nil, fmt.Errorf("no function %s in the kernel's BTF; without DWARF (%v) only functions BTF describes are traced", cfg.Function, noDWARF)
		}
		return nil, fmt.Errorf("function %s in the kernel's BTF: %w", cfg.Function, err)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return nil, fmt.Errorf("function %s in the kernel's BTF has no prototype", cfg.Function)
	}
	name := fn.Name
	job := &Job{Stmts: map[uint32]report.Stmt{}}
	job.Header = report.Header{Target: "kernel", Function: name, ReturnFormat: "int"}
	job.Plan = session.Plan{Spec: bpfgen.Spec{Space: target.KernelSpace, EntrySymbol: name, RetSize: 8}, Binary: "kernel", Attach: target.AttachKprobe}
	if size, signed, ptr, ok := btfScalar(proto.Return); ok {
		job.Plan.RetSize, job.Plan.RetUnsigned = size, !signed
		job.Header.ReturnFormat = displayFormat(signed, ptr)
	}
	env := expr.Env{Params: map[string]ir.Param{}, Unreadable: map[string]string{}, Types: map[string]debuginfo.Type{}}
	entry := bpfgen.Stmt{ID: 0, Symbol: name, FileOffset: 0}
	rs := report.Stmt{File: name + "@entry"}
	broken := ""
	for i, p := range proto.Params {
		if p.Name == "" {
			continue
		}
		size, signed, ptr, ok := btfScalar(p.Type)
		switch {
		case broken != "":
			env.Unreadable[p.Name] = broken
		case !ok:
			env.Unreadable[p.Name] = "it is not passed in an integer register"
			broken = "an earlier parameter is not passed in an integer register"
		case i >= len(abi.ArgRegs):
			env.Unreadable[p.Name] = "it is passed on the stack"
		default:
			env.Params[p.Name] = ir.Param{Name: p.Name, Index: i, Size: size, Signed: signed}
			// DW_OP_regN: the argument register's value at the entry.
			entry.Vars = append(entry.Vars, ir.Var{Name: p.Name, Expr: []byte{0x50 + byte(abi.ArgRegs[i])}, Size: size, Signed: signed})
			rs.Vars = append(rs.Vars, report.Var{Name: p.Name, Format: displayFormat(signed, ptr), Size: size})
			continue
		}
		rs.Vars = append(rs.Vars, report.Var{Name: p.Name, Format: "other"})
	}
	var err2 error
	if job.Plan.Cond, err2 = expr.Compile(cfg.Condition, cond, env); err2 != nil {
		return nil, err2
	}
	job.Plan.Stmts = []bpfgen.Stmt{entry}
	job.Stmts[0] = rs
	rel, _ := target.RunningRelease()
	job.Notes = append(job.Notes, fmt.Sprintf("no DWARF for kernel %s: %s is traced at function level from the kernel's BTF (its entry arguments and return value); for its statements install linux-image-%s-dbg (Debian; kernel-debuginfo elsewhere) or set DEBUGINFOD_URLS", rel, name, rel))
	job.limits = session.Options{MaxRecords: cfg.MaxRecords, RingBufSize: cfg.RingBufSize}
	if err := session.Check(job.Plan, job.limits); err != nil {
		return nil, err
	}
	return job, nil
}
