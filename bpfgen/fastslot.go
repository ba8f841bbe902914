package bpfgen

import (
	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

// Kernel targets keep a thread's invocations in a direct-mapped array of
// slots (MapSlots) when they can, so that a statement finds its invocation
// without a hash lookup or a helper call: the verifier rewrites an array
// lookup into a few instructions, where an LRU hash lookup hashes the key,
// walks a bucket and marks the element used, and the thread key needs
// bpf_get_current_pid_tgid.
//
// A slot is a MapSlots value: the owner's thread key (kernelKey: tid |
// stack region << tidBits; 0 when the slot is free), the number of
// invocations open in MapBufs of the threads whose region maps to the slot
// (slotHashed), then an invocation buffer laid out as a MapBufs value. The
// slot of a thread is chosen by its kernel stack region (slotIndex), which
// a statement computes from rsp alone. Two live tasks never share a stack region, and interrupt context
// runs on other stacks (see kernelKey), so a statement that finds its own
// region in the slot's owner is in that owner's invocation; only a task
// that died with an invocation open can leave its region there, and the
// entry program takes such a slot over (fastEntry) before the task that
// reuses the stack can reach a statement.
//
// The entry program claims a free slot with an atomic compare-and-exchange
// of the owner, the return program frees it when the thread's outermost
// invocation closes (closeInvocation), and the exit program frees the slot
// of a task that exits with one open. When the slot is another live
// task's, or the thread already has an invocation open in MapBufs (opened
// while the slot was taken; the entry program looks it up only while the
// slot counts such invocations), the thread's invocations stay in MapBufs, as
// for user-space targets: the array is only ever a faster home for the
// same slot 0 (see lookupOpen), and recursion saves and restores slot 0's
// buffer in MapBufs's slots 1 and up whichever home it has. The count can
// only err high (an invocation in MapBufs that never returns, or that the
// LRU hash drops while open, is never taken off): that costs the entry
// program a lookup, never a wrong home.

// The fast slots: at most maxFastSlots, and at most fastSlotsBytes of
// buffers in all.
const (
	maxFastSlots   = 64
	fastSlotsBytes = 8 << 20
	// slotHashed is the offset of the count of invocations open in
	// MapBufs in a MapSlots value, slotBuf the buffer's, after the
	// owner's key and that count.
	slotHashed = 8
	slotBuf    = 16
	// slotMix spreads stack regions over the slots: kernel stacks are
	// 16 KiB blocks with guard pages between them, so consecutive
	// regions are rarely both stacks.
	slotMix = 0x61C88647
)

// fpFast holds 1 while rBuf is a fast slot's buffer, 0 while it is
// MapBufs's (the entry and return programs); fpSlot holds the thread's
// fast slot in the return program, for its count of invocations open in
// MapBufs (the entry program keeps it in rRec).
const (
	fpFast = fpPidTgid - 8
	fpSlot = fpFast - 8
)

// fastSlots is how many fast slots s gets: 0 (none, user-space targets) or
// a power of two.
func fastSlots(s *Spec, l Layout) int {
	if s.Space != target.KernelSpace {
		return 0
	}
	n := 1
	for n*2 <= maxFastSlots && n*2 <= s.MaxInvocations && n*2*(l.BufferSize()+slotBuf) <= fastSlotsBytes {
		n *= 2
	}
	return n
}

// slotIndex stores at fpU32Key the index of the fast slot of the stack
// region in r (kept); it uses R2.
func slotIndex(e *emitter, r asm.Register, n int) {
	e.emit(asm.Mov.Reg(asm.R2, r),
		asm.Mul.Imm(asm.R2, slotMix),
		asm.RSh.Imm(asm.R2, 16),
		asm.And.Imm(asm.R2, int32(n-1)),
		asm.StoreMem(asm.RFP, fpU32Key, asm.R2, asm.Word))
}

// fastSlot looks up the fast slot of the thread key at fpKey: R0 = the
// slot, R1 = its owner, R2 = the thread key; it jumps to none if the
// lookup fails (it does not: the index is in range).
func fastSlot(e *emitter, n int, none string) {
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpKey, asm.DWord),
		asm.RSh.Imm(asm.R1, tidBits))
	slotIndex(e, asm.R1, n)
	e.emit(mapPtr(asm.R1, MapSlots))
	e.stackPtr(asm.R2, fpU32Key)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, none),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, fpKey, asm.DWord))
}

// stmtLookup is a kernel statement's lookupOpen, with the context in R1:
// the fast slot of the task's stack region, found from rsp alone, else
// the thread key and MapBufs.
func stmtLookup(e *emitter, s *Spec, n int, missing string) {
	hash, found := e.newLabel("hash"), e.newLabel("found")
	sp, _ := abi.PtRegsOffset(abi.RSP)
	// The region, kept in rMask until the record needs it: bits
	// stackShift to stackShift+regionBits-1 of rsp.
	e.emit(asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(rMask, rCtx, sp, asm.DWord),
		asm.LSh.Imm(rMask, 64-stackShift-regionBits),
		asm.RSh.Imm(rMask, 64-regionBits))
	slotIndex(e, rMask, n)
	e.emit(mapPtr(asm.R1, MapSlots))
	e.stackPtr(asm.R2, fpU32Key)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, hash),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.RSh.Imm(asm.R1, tidBits),
		asm.JNE.Reg(asm.R1, rMask, hash),
		asm.Mov.Reg(rBuf, asm.R0),
		asm.Add.Imm(rBuf, slotBuf),
		asm.Ja.Label(found))
	e.mark(hash)
	pidKey(e, s)
	hashLookup(e, missing)
	e.mark(found)
	e.emit(asm.LoadMem(asm.R1, rBuf, OffDepth, asm.Word),
		asm.JEq.Imm(asm.R1, 0, missing))
}

// fastLookup is lookupOpen for the entry and return programs of a kernel
// target, with the thread key at fpKey: the fast slot if the thread owns
// it, else MapBufs; fpFast says which.
func fastLookup(e *emitter, n int, missing string) {
	hash, found := e.newLabel("hash"), e.newLabel("found")
	fastSlot(e, n, missing)
	e.emit(asm.StoreMem(asm.RFP, fpSlot, asm.R0, asm.DWord),
		asm.JNE.Reg(asm.R1, asm.R2, hash),
		asm.Mov.Reg(rBuf, asm.R0),
		asm.Add.Imm(rBuf, slotBuf),
		asm.StoreImm(asm.RFP, fpFast, 1, asm.Word),
		asm.Ja.Label(found))
	e.mark(hash)
	e.emit(asm.StoreImm(asm.RFP, fpFast, 0, asm.Word))
	hashLookup(e, missing)
	e.mark(found)
	e.emit(asm.LoadMem(asm.R1, rBuf, OffDepth, asm.Word),
		asm.JEq.Imm(asm.R1, 0, missing))
}

// fastEntry is the entry program's slotZero for a kernel target: it puts
// in rBuf the thread's fast slot when the thread owns it or can claim it,
// else slot 0 in MapBufs, sets fpFast, and leaves the slot in rRec.
func fastEntry(e *emitter, n int, fail string) {
	hash, free, claim, mine, have := e.newLabel("hash"), e.newLabel("free"), e.newLabel("claim"), e.newLabel("mine"), e.newLabel("have")
	fastSlot(e, n, fail)
	e.emit(asm.Mov.Reg(rRec, asm.R0),
		asm.JEq.Reg(asm.R1, asm.R2, mine),
		asm.JEq.Imm(asm.R1, 0, free),
		// Another owner. In another stack region it is another
		// task's: leave the slot to it. In this one it died with
		// its invocation open (two live tasks never share a
		// stack): take the slot over, its invocation closed.
		asm.RSh.Imm(asm.R1, tidBits),
		asm.RSh.Imm(asm.R2, tidBits),
		asm.JNE.Reg(asm.R1, asm.R2, hash),
		asm.StoreImm(asm.R0, slotBuf+OffDepth, 0, asm.Word),
		asm.LoadMem(asm.R2, asm.RFP, fpKey, asm.DWord),
		asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
		asm.Ja.Label(mine))
	e.mark(free)
	// A free slot, unless the thread has an invocation open in MapBufs
	// (opened while the slot was taken): its invocations stay there.
	// Only while some thread of the slot has one is that looked up.
	e.emit(asm.LoadMem(asm.R1, asm.R0, slotHashed, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, claim),
		mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpKey)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, claim),
		asm.LoadMem(asm.R1, asm.R0, OffDepth, asm.Word),
		asm.JNE.Imm(asm.R1, 0, hash))
	e.mark(claim)
	// Claimed only if still free: another task whose region shares
	// the slot may be claiming it on another CPU.
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpKey, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.CmpXchg.Mem(rRec, asm.R1, asm.DWord, 0),
		asm.JNE.Imm(asm.R0, 0, hash),
		asm.Mov.Reg(asm.R0, rRec))
	e.mark(mine)
	e.emit(asm.Mov.Reg(rBuf, asm.R0),
		asm.Add.Imm(rBuf, slotBuf),
		asm.StoreImm(asm.RFP, fpFast, 1, asm.Word),
		asm.Ja.Label(have))
	e.mark(hash)
	e.emit(asm.StoreImm(asm.RFP, fpFast, 0, asm.Word))
	slotZero(e, fail)
	e.mark(have)
}

// fastRelease, in the return program, follows the close of the thread's
// outermost invocation (depth 0 in rBuf): it frees the fast slot whose
// buffer is in rBuf when fpFast says it is one, and otherwise takes the
// invocation off its slot's count (fpSlot).
func fastRelease(e *emitter) {
	hashed, done := e.newLabel("hashed"), e.newLabel("released")
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpFast, asm.Word),
		asm.JEq.Imm(asm.R1, 0, hashed),
		storeZero64(rBuf, -slotBuf),
		asm.Ja.Label(done))
	e.mark(hashed)
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpSlot, asm.DWord),
		asm.Mov.Imm(asm.R2, -1),
		asm.AddAtomic.Mem(asm.R1, asm.R2, asm.DWord, slotHashed))
	e.mark(done)
}

// fastHashed, in the entry program, counts an invocation opened in
// MapBufs at depth 1 (fpFast 0) in its slot (rRec): until it closes,
// the thread's next entries look for it there (fastEntry).
func fastHashed(e *emitter) {
	done := e.newLabel("counted")
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpFast, asm.Word),
		asm.JNE.Imm(asm.R1, 0, done),
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(rRec, asm.R1, asm.DWord, slotHashed))
	e.mark(done)
}

// fastExit, in the exit program, frees the fast slot of the exiting task
// if it owns one: it exits with an invocation open, which never returns.
func fastExit(e *emitter, n int) {
	done := e.newLabel("done")
	e.emit(asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.RFP, fpKey, asm.R0, asm.DWord))
	kernelKey(e, &Spec{Space: target.KernelSpace})
	fastSlot(e, n, done)
	e.emit(asm.JNE.Reg(asm.R1, asm.R2, done),
		asm.StoreImm(asm.R0, slotBuf+OffDepth, 0, asm.Word),
		storeZero64(asm.R0, 0))
	e.mark(done)
}
