package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// errno() reads the calling thread's errno. glibc keeps errno in
// thread-local storage: at the thread pointer (x86-64's fs base) plus an
// offset fixed when libc is loaded, which the dynamic linker writes into a
// GOT slot of libc (R_X86_64_TPOFF64; __errno_location reads it). The entry
// program works out errno's address once per invocation and keeps it in the
// buffer header (OffErrno, 0 when it cannot be known); statements and the
// return read 4 bytes there. The thread pointer is the task's
// thread.fsbase, at an offset in task_struct that the session finds on the
// running kernel (there is no BTF to ask).

// ErrnoMode says how the generated programs find errno's offset from the
// thread pointer.
type ErrnoMode int

const (
	// ErrnoUnknown: errno cannot be found; errno() is unavailable
	// (VARIABLE prints ?, a condition using it is false).
	ErrnoUnknown ErrnoMode = iota
	// ErrnoTracedLibc: the traced binary is libc, so its load bias (the
	// header's OffBias) places the GOT slot.
	ErrnoTracedLibc
	// ErrnoLinkMap: the traced binary is the program. Its DT_DEBUG entry
	// leads to the dynamic linker's r_debug and the list of loaded objects
	// (struct link_map: l_addr, l_name, l_ld, l_next); libc is the entry
	// whose l_ld - l_addr is libc's link-time .dynamic, confirmed by its
	// loaded build-id.
	ErrnoLinkMap
	// ErrnoStatic: a statically linked program keeps errno at a constant
	// offset from the thread pointer (TPOffset).
	ErrnoStatic
)

// ErrnoLocation is how to find the calling thread's errno. Addresses are
// link-time; the programs add the load bias they measure.
type ErrnoLocation struct {
	Mode ErrnoMode
	// TaskFSBase is the offset of thread.fsbase in the running kernel's
	// task_struct; 0 means unknown, and errno() is unavailable.
	TaskFSBase int32
	// GOT is libc's GOT slot holding errno's TP offset (TracedLibc,
	// LinkMap).
	GOT uint64
	// DebugEntry is the address of the value of the program's DT_DEBUG
	// entry; Dynamic is libc's .dynamic; BuildID is libc's build-id, whose
	// bytes are loaded at BuildIDAddr (LinkMap).
	DebugEntry  uint64
	Dynamic     uint64
	BuildID     []byte
	BuildIDAddr uint64
	// TPOffset is errno's offset from the thread pointer (Static).
	TPOffset int64
}

// MaxLinkMaps bounds the loaded objects the entry program walks to find
// libc (it comes early: the program, the vDSO, then the libraries in load
// order).
const MaxLinkMaps = 128

// maxBuildID bounds the build-id compared in the kernel (SHA-1 ids are 20
// bytes).
const maxBuildID = 64

// TP offsets of static TLS are negative on x86-64 (the blocks sit below
// the thread pointer) and small: a slot holding anything else is not what
// the programs expect, and errno() stays unavailable rather than wrong.
const minTPOffset = -(1 << 30)

// check refuses locations the programs cannot use.
func (x *ErrnoLocation) check() error {
	if x == nil {
		return nil
	}
	switch x.Mode {
	case ErrnoUnknown, ErrnoTracedLibc, ErrnoStatic:
	case ErrnoLinkMap:
		if len(x.BuildID) == 0 || len(x.BuildID) > maxBuildID || x.BuildIDAddr == 0 {
			return fmt.Errorf("errno location: libc's build-id (%d bytes at %#x) cannot be checked", len(x.BuildID), x.BuildIDAddr)
		}
	default:
		return fmt.Errorf("errno location: unknown mode %d", x.Mode)
	}
	if x.Mode == ErrnoStatic && (x.TPOffset >= 0 || x.TPOffset < minTPOffset) {
		return fmt.Errorf("errno location: TP offset %d is not a static TLS offset", x.TPOffset)
	}
	if x.TaskFSBase < 0 || x.TaskFSBase%8 != 0 {
		return fmt.Errorf("errno location: task_struct offset %d of fsbase is not 8-byte aligned", x.TaskFSBase)
	}
	return nil
}

// usable reports whether the programs can find errno at all.
func (x *ErrnoLocation) usable() bool {
	return x != nil && x.Mode != ErrnoUnknown && x.TaskFSBase > 0
}

// Scratch stack of the entry program's errno search: the return program's
// comparison buffer, which the entry program does not otherwise use (and
// the search ends before any statement is recorded).
const (
	fpLinkMap = fpCondBuf      // 32 bytes: l_addr, l_name, l_ld, l_next
	fpBuildID = fpCondBuf + 32 // the loaded build-id
)

// errnoAddress stores in the header the address of the calling thread's
// errno, or leaves the 0 the buffer starts with. It needs rBuf, with the
// load bias already in the header, and may use R7 and R9, which the
// statement body sets afresh.
func errnoAddress(e *emitter, x *ErrnoLocation) {
	if !x.usable() {
		return
	}
	fail, done := e.newLabel("errnofail"), e.newLabel("errnodone")
	// The thread pointer: current->thread.fsbase.
	e.emit(asm.FnGetCurrentTask.Call(),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Add.Imm(asm.R3, x.TaskFSBase))
	e.stackPtr(asm.R1, fpReadTmp)
	e.emit(asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, fail),
		asm.LoadMem(asm.R1, asm.RFP, fpReadTmp, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, fail),
		asm.StoreMem(rBuf, OffErrno, asm.R1, asm.DWord))
	// errno's TP offset into R0.
	switch x.Mode {
	case ErrnoStatic:
		e.loadConst(asm.R0, x.TPOffset)
	case ErrnoTracedLibc:
		e.emit(asm.LoadMem(asm.R3, rBuf, OffBias, asm.DWord))
		e.loadConst(asm.R1, int64(x.GOT))
		e.emit(asm.Add.Reg(asm.R3, asm.R1))
		readUser8(e, fail)
	case ErrnoLinkMap:
		findLibc(e, x, fail)
		e.loadConst(asm.R1, int64(x.GOT))
		e.emit(asm.Mov.Reg(asm.R3, asm.R7), asm.Add.Reg(asm.R3, asm.R1))
		readUser8(e, fail)
	}
	e.emit(asm.JSGE.Imm(asm.R0, 0, fail))
	e.loadConst(asm.R1, minTPOffset)
	e.emit(asm.JSLT.Reg(asm.R0, asm.R1, fail),
		asm.LoadMem(asm.R1, rBuf, OffErrno, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R0),
		asm.StoreMem(rBuf, OffErrno, asm.R1, asm.DWord),
		asm.Ja.Label(done))
	e.mark(fail)
	e.emit(asm.Mov.Imm(asm.R1, 0), asm.StoreMem(rBuf, OffErrno, asm.R1, asm.DWord))
	e.stat(StatErrnoUnknown)
	e.mark(done)
}

// readUser8 reads the 8 bytes of user memory at R3 into R0, or jumps to
// fail.
func readUser8(e *emitter, fail string) {
	e.stackPtr(asm.R1, fpReadTmp)
	e.emit(asm.Mov.Imm(asm.R2, 8))
	e.probeRead()
	e.emit(asm.JNE.Imm(asm.R0, 0, fail),
		asm.LoadMem(asm.R0, asm.RFP, fpReadTmp, asm.DWord))
}

// findLibc leaves libc's load bias in R7: it follows the program's
// DT_DEBUG to r_debug.r_map and walks the link_map list for libc's entry,
// then checks the build-id loaded there.
func findLibc(e *emitter, x *ErrnoLocation, fail string) {
	loop, found := e.newLabel("lmloop"), e.newLabel("lmfound")
	e.emit(asm.LoadMem(asm.R3, rBuf, OffBias, asm.DWord))
	e.loadConst(asm.R1, int64(x.DebugEntry))
	e.emit(asm.Add.Reg(asm.R3, asm.R1))
	readUser8(e, fail) // &r_debug
	e.emit(asm.JEq.Imm(asm.R0, 0, fail),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Add.Imm(asm.R3, 8))
	readUser8(e, fail) // r_debug.r_map
	e.emit(asm.Mov.Reg(asm.R7, asm.R0), asm.Mov.Imm(asm.R9, 0))
	e.mark(loop)
	e.emit(asm.JEq.Imm(asm.R7, 0, fail),
		asm.JGE.Imm(asm.R9, MaxLinkMaps, fail))
	e.stackPtr(asm.R1, fpLinkMap)
	e.emit(asm.Mov.Imm(asm.R2, 32),
		asm.Mov.Reg(asm.R3, asm.R7))
	e.probeRead()
	e.emit(asm.JNE.Imm(asm.R0, 0, fail),
		asm.LoadMem(asm.R1, asm.RFP, fpLinkMap+16, asm.DWord), // l_ld
		asm.LoadMem(asm.R2, asm.RFP, fpLinkMap, asm.DWord),    // l_addr
		asm.Sub.Reg(asm.R1, asm.R2))
	e.loadConst(asm.R3, int64(x.Dynamic))
	e.emit(asm.JEq.Reg(asm.R1, asm.R3, found),
		asm.LoadMem(asm.R7, asm.RFP, fpLinkMap+24, asm.DWord), // l_next
		asm.Add.Imm(asm.R9, 1),
		asm.Ja.Label(loop))
	e.mark(found)
	e.emit(asm.LoadMem(asm.R7, asm.RFP, fpLinkMap, asm.DWord))
	e.loadConst(asm.R3, int64(x.BuildIDAddr))
	e.emit(asm.Add.Reg(asm.R3, asm.R7))
	e.stackPtr(asm.R1, fpBuildID)
	e.emit(asm.Mov.Imm(asm.R2, int32(len(x.BuildID))))
	e.probeRead()
	e.emit(asm.JNE.Imm(asm.R0, 0, fail))
	e.equalStack(fpBuildID, x.BuildID, fail)
}

// compileErrnoRead leaves the errno whose address the entry program stored
// in the header in R0, sign-extended from its 4 bytes, or jumps to fail
// when that address is unknown or unreadable.
func compileErrnoRead(e *emitter, fail string) {
	e.emit(asm.LoadMem(asm.R3, rBuf, OffErrno, asm.DWord),
		asm.JEq.Imm(asm.R3, 0, fail))
	e.stackPtr(asm.R1, fpReadTmp)
	e.emit(asm.Mov.Imm(asm.R2, 4))
	e.probeRead()
	e.emit(asm.JNE.Imm(asm.R0, 0, fail),
		asm.LoadMem(asm.R0, asm.RFP, fpReadTmp, asm.Word))
	e.extend(asm.R0, 4, true)
}

// compileErrnoCond is errno() in the condition: unknown or unreadable, it
// makes the whole condition false, as any read that faults does.
func compileErrnoCond(e *emitter) {
	if e.condFault != "" {
		compileErrnoRead(e, e.condFault)
		return
	}
	fail, done := e.newLabel("errnono"), e.newLabel("errnook")
	compileErrnoRead(e, fail)
	e.emit(asm.Ja.Label(done))
	e.mark(fail)
	e.emit(asm.Mov.Imm(asm.R0, 0))
	e.mark(done)
}
