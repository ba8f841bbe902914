package session

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/bpfgen"
)

// ErrNotSupported is returned by feature probes when the kernel lacks the
// feature. It is cilium/ebpf's sentinel, so errors.Is matches either.
var ErrNotSupported = ebpf.ErrNotSupported

var faultIn struct {
	once sync.Once
	err  error
}

// The other kernel features the session depends on are probed with
// cilium/ebpf's features package (HaveBPFLinkUprobeMulti in Start and
// AttachFloor; the ring buffer and helpers need no probe of their own: the
// collection fails to load without them, with the kernel's reason). This
// one is probed by hand because features has no probe for sleepable
// programs: HaveProgramHelper(ebpf.Kprobe, asm.FnCopyFromUser) loads a
// program without BPF_F_SLEEPABLE, which the verifier refuses ("helper
// call might sleep in a non-sleepable prog", checked on 6.18), and the
// answer would be inconclusive.

// HaveSleepableUprobes reports whether the kernel loads sleepable uprobe
// programs that call bpf_copy_from_user, which the session uses to read
// strings on pages not yet in memory. It loads a tiny such program once and
// caches the answer; the error wraps ErrNotSupported when the kernel refused
// it.
func HaveSleepableUprobes() error {
	faultIn.once.Do(func() {
		spec := &ebpf.ProgramSpec{
			Name:    "wtf_probe_sleep",
			Type:    ebpf.Kprobe,
			Flags:   bpfgen.FlagSleepable,
			License: "GPL",
			Instructions: asm.Instructions{
				asm.Mov.Reg(asm.R1, asm.RFP),
				asm.Add.Imm(asm.R1, -8),
				asm.Mov.Imm(asm.R2, 1),
				asm.Mov.Imm(asm.R3, 0),
				asm.FnCopyFromUser.Call(),
				asm.Mov.Imm(asm.R0, 0),
				asm.Return(),
			},
		}
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			if !errors.Is(err, ErrNotSupported) {
				err = fmt.Errorf("%w: %w", ErrNotSupported, err)
			}
			faultIn.err = fmt.Errorf("loading a sleepable uprobe program that calls bpf_copy_from_user: %w", err)
			return
		}
		p.Close()
	})
	return faultIn.err
}
