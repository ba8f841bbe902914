package session

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/whythefail/whythefail/target"
)

// Floor is a plan's probes with empty programs: what any uprobe tracer
// pays at the same addresses, for benchmarks to compare against.
type Floor struct {
	prog  *ebpf.Program
	fexit *ebpf.Program // a kernel floor's return program, when fexit
	links []link.Link
}

// AttachFloor attaches an empty program at every probe of p (entry, return
// and statements), in every process running the binary, with the kind of
// link Start would use: uprobe_multi where the kernel has it.
func AttachFloor(p Plan) (_ *Floor, err error) {
	if p.Attach == target.AttachKprobe {
		return attachKprobeFloor(p)
	}
	if p.Attach != target.AttachUprobe {
		return nil, fmt.Errorf("the floor of %s probes is not measured", p.Attach)
	}
	multi := features.HaveBPFLinkUprobeMulti() == nil
	spec := &ebpf.ProgramSpec{
		Type: ebpf.Kprobe, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}
	if multi {
		spec.AttachType = ebpf.AttachTraceUprobeMulti
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, fmt.Errorf("loading the empty program: %w", err)
	}
	f := &Floor{prog: prog}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	ex, err := link.OpenExecutable(p.Binary)
	if err != nil {
		return nil, &AttachError{Kind: p.Attach, Err: fmt.Errorf("opening %s for uprobes: %w", p.Binary, err)}
	}
	add := func(l link.Link, err error) error {
		if err != nil {
			return &AttachError{Kind: p.Attach, Err: fmt.Errorf("attaching an empty probe: %w", err)}
		}
		f.links = append(f.links, l)
		return nil
	}
	offs := []uint64{p.EntryOffset}
	for _, st := range p.Stmts {
		if st.FileOffset != p.EntryOffset && st.Binary == "" { // the floor covers the traced file only
			offs = append(offs, st.FileOffset)
		}
	}
	if multi {
		if err := add(ex.UretprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: offs[:1]})); err != nil {
			return nil, err
		}
		return f, add(ex.UprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: offs}))
	}
	if err := add(ex.Uretprobe("", prog, &link.UprobeOptions{Address: p.EntryOffset})); err != nil {
		return nil, err
	}
	for _, off := range offs {
		if err := add(ex.Uprobe("", prog, &link.UprobeOptions{Address: off})); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Close detaches the probes.
func (f *Floor) Close() error {
	var errs []error
	for i := len(f.links) - 1; i >= 0; i-- {
		errs = append(errs, f.links[i].Close())
	}
	f.links = nil
	errs = append(errs, f.prog.Close())
	if f.fexit != nil {
		errs = append(errs, f.fexit.Close())
	}
	return errors.Join(errs...)
}

// attachKprobeFloor attaches an empty kprobe program at each of a kernel
// plan's statements (symbol+offset) and its entry, and an empty return
// program the way Start attaches the traced one (fexit where the kernel
// takes it, else a kretprobe asking for KretprobeMaxActive instances): the
// floor of a kernel trace, every task's calls included.
func attachKprobeFloor(p Plan) (_ *Floor, err error) {
	if err := HaveKprobes(); err != nil {
		return nil, err
	}
	if err := checkKprobeSites(p); err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Kprobe, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return nil, fmt.Errorf("loading the empty program: %w", err)
	}
	f := &Floor{prog: prog}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	add := func(l link.Link, err error) error {
		if err != nil {
			return &AttachError{Kind: p.Attach, Err: fmt.Errorf("attaching an empty probe: %w", err)}
		}
		f.links = append(f.links, l)
		return nil
	}
	if err := f.attachKernelReturn(p.EntrySymbol); err != nil {
		return nil, err
	}
	for _, st := range p.Stmts {
		if err := add(link.Kprobe(st.Symbol, prog, &link.KprobeOptions{Offset: st.FileOffset})); err != nil {
			return nil, err
		}
	}
	return f, add(link.Kprobe(p.EntrySymbol, prog, nil))
}

// attachKernelReturn attaches the floor's empty return program at symbol:
// an fexit program where HaveFexit says the kernel loads one and it
// attaches (as Start, which falls back to a kretprobe on FexitError),
// else the kretprobe Start would place.
func (f *Floor) attachKernelReturn(symbol string) error {
	if HaveFexit(symbol) == nil {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFExit, AttachTo: symbol, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err == nil {
			l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceFExit})
			if err == nil {
				f.fexit = prog
				f.links = append(f.links, l)
				return nil
			}
			prog.Close()
		}
	}
	l, err := link.Kretprobe(symbol, f.prog, &link.KprobeOptions{RetprobeMaxActive: KretprobeMaxActive, TraceFSPrefix: "whythefail"})
	if err != nil {
		l, err = link.Kretprobe(symbol, f.prog, nil)
	}
	if err != nil {
		return &AttachError{Kind: target.AttachKprobe, Err: fmt.Errorf("attaching an empty return probe: %w", err)}
	}
	f.links = append(f.links, l)
	return nil
}
