package bpfgen

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

// Register roles shared by all generated programs. R6-R9 survive helper
// calls, so they hold what must outlive a bpf_probe_read_user.
const (
	rCtx  = asm.R6 // struct pt_regs * (the raw tracepoint's arguments in the fork program)
	rRec  = asm.R7 // the statement record being written
	rBuf  = asm.R8 // the invocation buffer
	rMask = asm.R9 // valid bits of the record being written
)

// BPF stack slots (offsets from R10).
const (
	fpKey      = -16     // u64 thread key: pid_tgid (see kernelKey for the kernel's), the key of the thread's open invocation in MapBufs
	fpDepth    = -8      // u64 scratch (isTarget's task key, forkProgram's)
	fpSlotKey  = fpDepth // the MapBufs key of a saved invocation (slotKey)
	fpU32Key   = -24     // u32 key scratch (targets, zero, stats)
	fpU32Val   = -32     // u32 value scratch (targets)
	fpReadTmp  = -40     // destination of bpf_probe_read_user
	fpStack    = -48     // expression stack slot 0; slot i is at fpStack-8*i
	stackSlots = 16
	// fpPidTgid keeps bpf_get_current_pid_tgid's answer from checkTarget
	// to the entry program's header: below the expression stack and the
	// string pointer (fpStrPtr).
	fpPidTgid = fpStack - 8*(stackSlots+2)
)

func slot(i int) int16 { return int16(fpStack - 8*i) }

// emitter accumulates the instructions of one program and hands out labels.
type emitter struct {
	insns   asm.Instructions
	pending []string // labels waiting for the next instruction
	n       int
	// condFault, while the return program compiles the condition, is the
	// label a faulting read jumps to: a condition that cannot be evaluated
	// is false (SystemTap aborts the probe handler), not evaluated with 0.
	condFault string
	// faultIn lets string reads fault pages in (Spec.FaultIn); sleeps
	// records that the program does, so it must be loaded sleepable.
	faultIn, sleeps bool
	// space is the memory the target's variables live in (Spec.Space):
	// probeRead picks the helper that reads it.
	space target.AddressSpace
	// fexit: the program is Spec.FexitReturn's return program, whose
	// context is not a struct pt_regs.
	fexit bool
}

// UserSpaceEnd is where x86-64 user addresses end (TASK_SIZE_MAX with
// 4-level page tables, rounded up to the page): in a kernel target, a
// pointer below it is a user pointer (a __user parameter such as
// perf_event_open's attr_uptr), read with bpf_probe_read_user; anything
// else is read with bpf_probe_read_kernel. 5-level page tables extend user
// space to 1<<56, but Debian's kernels leave them off unless the machine
// has LA57; a kernel pointer is never below 1<<63 either way.
const UserSpaceEnd = 0x0000_8000_0000_0000

// kprobeIPSkew is how far past the probed instruction an x86 kprobe's
// handler sees regs->ip: the length of the int3 it placed, also when the
// probe is ftrace-based or optimized into a jump (the kernel sets ip so for
// every kind). A uprobe's handler sees the probed address itself.
const kprobeIPSkew = 1

// probedPC puts the run-time address of the probed instruction in dst:
// regs->ip, less kprobeIPSkew for a kernel target.
func (e *emitter) probedPC(dst asm.Register) {
	e.emit(asm.LoadMem(dst, rCtx, abi.PtRegsIP, asm.DWord))
	if e.space == target.KernelSpace {
		e.emit(asm.Add.Imm(dst, -kprobeIPSkew))
	}
}

// probeRead emits the call that reads the target's memory (R1 = dst, R2 =
// size, R3 = source; R0 = 0 or -errno): bpf_probe_read_user for a
// user-space target; for the kernel, the helper that fits the source
// address, chosen per read at run time (UserSpaceEnd). R4 is clobbered
// either way, as every helper call clobbers it.
func (e *emitter) probeRead() { e.probeReadFn(asm.FnProbeReadUser, asm.FnProbeReadKernel) }

// probeReadStr is probeRead for NUL-terminated strings.
func (e *emitter) probeReadStr() { e.probeReadFn(asm.FnProbeReadUserStr, asm.FnProbeReadKernelStr) }

func (e *emitter) probeReadFn(user, kernel asm.BuiltinFunc) {
	if e.space != target.KernelSpace {
		e.emit(user.Call())
		return
	}
	kern, done := e.newLabel("kread"), e.newLabel("readdone")
	e.emit(asm.LoadImm(asm.R4, UserSpaceEnd, asm.DWord),
		asm.JGE.Reg(asm.R3, asm.R4, kern),
		user.Call(),
		asm.Ja.Label(done))
	e.mark(kern)
	e.emit(kernel.Call())
	e.mark(done)
}

// flags are the ProgramSpec.Flags the program needs.
func (e *emitter) flags() uint32 {
	if e.sleeps {
		return FlagSleepable
	}
	return 0
}

func (e *emitter) newLabel(what string) string {
	e.n++
	return fmt.Sprintf("%s_%d", what, e.n)
}

// mark places label on the next emitted instruction.
func (e *emitter) mark(label string) { e.pending = append(e.pending, label) }

func (e *emitter) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		// Only one symbol fits an instruction: stack extra labels on
		// jumps to the next instruction.
		for len(e.pending) > 1 {
			e.insns = append(e.insns, asm.Ja.Label(e.pending[1]).WithSymbol(e.pending[0]))
			e.pending = e.pending[1:]
		}
		if len(e.pending) == 1 {
			in = in.WithSymbol(e.pending[0])
			e.pending = nil
		}
		e.insns = append(e.insns, in)
	}
}

// mapPtr loads the address of the named map into dst.
func mapPtr(dst asm.Register, name string) asm.Instruction {
	return asm.LoadMapPtr(dst, 0).WithReference(name)
}

// storeZero64 stores a zero u64 at dst+off (BPF_ST | BPF_DW, which the
// kernel takes with a sign-extended 32-bit immediate; asm.StoreImm refuses
// DWord).
func storeZero64(dst asm.Register, off int16) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off}
}

// stackPtr makes dst point at a stack slot.
func (e *emitter) stackPtr(dst asm.Register, off int) {
	e.emit(asm.Mov.Reg(dst, asm.RFP), asm.Add.Imm(dst, int32(off)))
}

// loadConst puts a 64-bit constant in dst with as short an encoding as fits.
func (e *emitter) loadConst(dst asm.Register, v int64) {
	if v == int64(int32(v)) {
		e.emit(asm.Mov.Imm(dst, int32(v)))
		return
	}
	e.emit(asm.LoadImm(dst, v, asm.DWord))
}

// stat increments a statistics counter. The counters are per-CPU, but a
// sleepable program can be preempted on its CPU by another run of itself,
// so the add is atomic.
func (e *emitter) stat(s Stat) {
	done := e.newLabel("stat")
	e.emit(asm.StoreImm(asm.RFP, fpU32Key, int64(s), asm.Word))
	e.emit(mapPtr(asm.R1, MapStats))
	e.stackPtr(asm.R2, fpU32Key)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
	e.mark(done)
}

// statAdd adds the value in src to a statistics counter, atomically as
// stat does, and skips the lookup when it is 0. It clobbers R0-R5 and the
// fpReadTmp slot.
func (e *emitter) statAdd(s Stat, src asm.Register) {
	done := e.newLabel("stat")
	e.emit(asm.JEq.Imm(src, 0, done), // nothing to add: no lookup
		asm.StoreMem(asm.RFP, fpReadTmp, src, asm.DWord),
		asm.StoreImm(asm.RFP, fpU32Key, int64(s), asm.Word),
		mapPtr(asm.R1, MapStats))
	e.stackPtr(asm.R2, fpU32Key)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.RFP, fpReadTmp, asm.DWord),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord))
	e.mark(done)
}

// extend truncates the value in r to size bytes and sign-extends it when
// signed; size 8 or 0 leaves it alone.
func (e *emitter) extend(r asm.Register, size int, signed bool) {
	if size <= 0 || size >= 8 {
		return
	}
	shift := int32(64 - 8*size)
	e.emit(asm.LSh.Imm(r, shift))
	if signed {
		e.emit(asm.ArSh.Imm(r, shift))
	} else {
		e.emit(asm.RSh.Imm(r, shift))
	}
}

// equalStack compares the bytes at fp+off on the BPF stack with want, 8, 4,
// 2 or 1 bytes at a time, and jumps to ne at the first difference.
func (e *emitter) equalStack(off int16, want []byte, ne string) {
	for i := 0; i < len(want); {
		sz, w := asm.DWord, 8
		switch rest := len(want) - i; {
		case rest >= 8:
		case rest >= 4:
			sz, w = asm.Word, 4
		case rest >= 2:
			sz, w = asm.Half, 2
		default:
			sz, w = asm.Byte, 1
		}
		var chunk [8]byte
		copy(chunk[:], want[i:i+w])
		e.emit(asm.LoadMem(asm.R1, asm.RFP, off+int16(i), sz))
		e.loadConst(asm.R2, int64(binary.LittleEndian.Uint64(chunk[:])))
		e.emit(asm.JNE.Reg(asm.R1, asm.R2, ne))
		i += w
	}
}
