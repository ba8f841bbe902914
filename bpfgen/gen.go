package bpfgen

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

// Defaults for the Spec limits left at zero.
const (
	DefaultMaxRecords     = 512
	DefaultMaxInvocations = 256
	DefaultRingBufSize    = 4 << 20
	DefaultMaxTargets     = 4096
	maxThreads            = 16384
)

// cloneThread is CLONE_THREAD: a new thread, not a new process.
const cloneThread = 0x00010000

// Offsets of task_newtask's arguments in the raw tracepoint context (an
// array of u64): TP_PROTO(struct task_struct *task, unsigned long
// clone_flags). Only the pointer's value is used, never what it points to:
// without kernel BTF the layout of task_struct is unknown.
const (
	rawNewtaskTask  = 0
	rawNewtaskFlags = 8
)

// Generated is the blueprint of the BPF side of a session: programs and maps
// ready to load, the buffer layout to decode what they emit, and the
// variables that will print as unavailable.
type Generated struct {
	Collection *ebpf.CollectionSpec
	Layout     Layout

	// StmtPrograms[i] names the program for Spec.Stmts[i], or is empty when
	// the entry program records that statement (it sits at the entry), or
	// when the program of another statement at its offset does (a
	// successor's group, see Stmt.Succ).
	// With Spec.Multi they name StmtsProgramName(k) programs, each to be
	// attached with one uprobe_multi link at its statements' offsets,
	// with the cookie i for Spec.Stmts[i].
	StmtPrograms []string

	Warnings []Warning
}

// Generate builds the programs and maps for spec. It only computes: nothing
// is loaded.
func Generate(spec *Spec) (*Generated, error) {
	s := *spec
	if s.MaxRecords == 0 {
		s.MaxRecords = DefaultMaxRecords
	}
	if s.MaxInvocations == 0 {
		s.MaxInvocations = DefaultMaxInvocations
	}
	if s.RingBufSize == 0 {
		s.RingBufSize = DefaultRingBufSize
	}
	if s.MaxTargets == 0 {
		s.MaxTargets = DefaultMaxTargets
	}
	if s.MaxRecords < 1 || s.MaxRecords > 1<<16 || s.MaxInvocations < 1 {
		return nil, fmt.Errorf("record limit %d or invocation limit %d out of range", s.MaxRecords, s.MaxInvocations)
	}
	if err := s.Errno.check(); err != nil {
		return nil, err
	}
	switch s.RetSize {
	case 0, 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("return size %d is not 0, 1, 2, 4 or 8", s.RetSize)
	}
	if s.Stack < 0 || s.Stack > MaxStack || s.Stack%StackChunk != 0 {
		return nil, fmt.Errorf("stack copy of %d bytes is not a multiple of %d up to %d", s.Stack, StackChunk, MaxStack)
	}
	if s.Stack > 0 && s.Space != target.UserSpace {
		return nil, errors.New("the stack copy (--backtrace) is for user-space targets")
	}
	g := &Generated{Layout: Layout{MaxRecords: s.MaxRecords, Stack: s.Stack}}
	// A statement observed on each of the jumps that enter it has a
	// successor probe on each (Stmt.Succ), all with its id.
	seen := map[uint32]bool{}
	succ := map[uint32]bool{}
	for _, st := range s.Stmts {
		if seen[st.ID] && (st.Succ == nil || !succ[st.ID]) {
			return nil, fmt.Errorf("statement id %d used twice", st.ID)
		}
		seen[st.ID] = true
		succ[st.ID] = st.Succ != nil
		g.Layout.Values = max(g.Layout.Values, slotsUsed(Slots(st.Vars)))
		g.Layout.Branch = g.Layout.Branch || st.Branch
	}
	if g.Layout.BufferSize() > 1<<22 {
		return nil, fmt.Errorf("invocation buffer of %d bytes is too large: lower the record limit", g.Layout.BufferSize())
	}

	cs := &ebpf.CollectionSpec{
		Maps:     map[string]*ebpf.MapSpec{},
		Programs: map[string]*ebpf.ProgramSpec{},
	}
	bufSize := uint32(g.Layout.BufferSize())
	cs.Maps[MapTargets] = &ebpf.MapSpec{Name: MapTargets, Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: uint32(s.MaxTargets)}
	cs.Maps[MapBufs] = &ebpf.MapSpec{Name: MapBufs, Type: ebpf.LRUHash, KeySize: 8, ValueSize: bufSize, MaxEntries: uint32(s.MaxInvocations)}
	cs.Maps[MapZero] = &ebpf.MapSpec{Name: MapZero, Type: ebpf.Array, KeySize: 4, ValueSize: bufSize, MaxEntries: 1}
	cs.Maps[MapStats] = &ebpf.MapSpec{Name: MapStats, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(NumStats)}
	cs.Maps[MapEvents] = &ebpf.MapSpec{Name: MapEvents, Type: ebpf.RingBuf, MaxEntries: uint32(s.RingBufSize)}
	if s.Stack > 0 {
		cs.Maps[MapSeen] = &ebpf.MapSpec{Name: MapSeen, Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: maxThreads}
	}
	if n := fastSlots(&s, g.Layout); n > 0 {
		cs.Maps[MapSlots] = &ebpf.MapSpec{Name: MapSlots, Type: ebpf.Array, KeySize: 4, ValueSize: slotBuf + bufSize, MaxEntries: uint32(n)}
	}
	if !s.TraceAll {
		cs.Maps[MapPending] = &ebpf.MapSpec{Name: MapPending, Type: ebpf.LRUHash, KeySize: 8, ValueSize: 4, MaxEntries: maxThreads}
	}

	// A uprobe program: for uprobe_multi links it must be loaded with
	// that attach type, or attaching fails with EINVAL.
	uprobe := func(name string, e *emitter) {
		ps := &ebpf.ProgramSpec{Name: name, Type: ebpf.Kprobe, License: "GPL", Instructions: e.insns, Flags: e.flags()}
		if s.Multi {
			ps.AttachType = ebpf.AttachTraceUprobeMulti
		}
		cs.Programs[name] = ps
	}

	groups, err := stmtGroups(&s)
	if err != nil {
		return nil, err
	}
	// The statements at the entry (the first line's, and --follow's
	// call-site probe when the first instruction is a call) are recorded
	// by the entry program, after it opens the invocation, in the order
	// of stmtGroups (rank): separate programs at one address run in an
	// order the kernel chooses, not the attachment order.
	var entryStmts []*Stmt
	var stmts []int // indexes in s.Stmts of the statements with a program
	g.StmtPrograms = make([]string, len(s.Stmts))
	for i := range s.Stmts {
		st := &s.Stmts[i]
		if st.FileOffset == s.EntryOffset && st.Symbol == s.EntrySymbol && st.Binary == "" {
			entryStmts = append(entryStmts, st)
			continue
		}
		if groups[i] == nil {
			continue // recorded by its group's first statement
		}
		if s.Multi {
			stmts = append(stmts, i)
			continue
		}
		e := &emitter{faultIn: s.FaultIn, space: s.Space}
		g.Warnings = append(g.Warnings, stmtProgram(e, &s, g.Layout, members(&s, groups[i]))...)
		name := StmtProgramName(i)
		uprobe(name, e)
		g.StmtPrograms[i] = name
	}
	var chunk *emitter
	k := 0
	for _, i := range stmts {
		if chunk == nil {
			chunk = &emitter{faultIn: s.FaultIn, space: s.Space}
			beginStmts(chunk, &s, g.Layout)
		}
		g.Warnings = append(g.Warnings, addStmt(chunk, &s, g.Layout, i, members(&s, groups[i]))...)
		g.StmtPrograms[i] = StmtsProgramName(k)
		if len(chunk.insns) >= MaxStmtsInsns || i == stmts[len(stmts)-1] {
			endStmts(chunk)
			uprobe(StmtsProgramName(k), chunk)
			chunk = nil
			k++
		}
	}

	sort.SliceStable(entryStmts, func(a, b int) bool { return rank(entryStmts[a]) < rank(entryStmts[b]) })
	e := &emitter{faultIn: s.FaultIn, space: s.Space}
	g.Warnings = append(g.Warnings, entryProgram(e, &s, g.Layout, entryStmts)...)
	uprobe(ProgEntry, e)

	// The condition reads the target's memory like the statements do.
	e = &emitter{space: s.Space, fexit: s.FexitReturn}
	if err := returnProgram(e, &s, g.Layout); err != nil {
		return nil, fmt.Errorf("compiling the condition %v: %w", s.Cond, err)
	}
	if s.FexitReturn {
		cs.Programs[ProgReturn] = &ebpf.ProgramSpec{Name: ProgReturn, Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFExit,
			AttachTo: s.EntrySymbol, License: "GPL", Instructions: e.insns}
	} else {
		uprobe(ProgReturn, e)
	}

	if !s.TraceAll {
		rawTP := func(name string, e *emitter) {
			cs.Programs[name] = &ebpf.ProgramSpec{Name: name, Type: ebpf.RawTracepoint, License: "GPL", Instructions: e.insns}
		}
		e = &emitter{}
		forkProgram(e)
		rawTP(ProgFork, e)
		// The exit program has no pt_regs: the kernel key takes the
		// stack region from its own frame, as an fexit program does.
		e = &emitter{fexit: true}
		exitProgram(e, fastSlots(&s, g.Layout))
		rawTP(ProgExit, e)
	}
	g.Collection = cs
	return g, nil
}

// prelude saves the context, computes the thread's key at fpKey and,
// unless every process is traced, leaves through out when the process is
// not a target (checkTarget).
func prelude(e *emitter, s *Spec, out string) {
	e.emit(asm.Mov.Reg(rCtx, asm.R1))
	checkTarget(e, s, out)
}

// checkTarget, with the context in rCtx, computes the thread's key at
// fpKey (and keeps pid_tgid at fpPidTgid) and, unless every process is traced, leaves through out when the
// process is not a target.
//
// A process a target forked is pending (see forkProgram) until it first
// gets here: its task is found in MapPending and its tgid becomes a target.
func checkTarget(e *emitter, s *Spec, out string) {
	e.emit(asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.RFP, fpKey, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, fpPidTgid, asm.R0, asm.DWord))
	if s.TraceAll {
		kernelKey(e, s)
		return
	}
	target := e.newLabel("target")
	e.emit(asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.RFP, fpU32Key, asm.R0, asm.Word))
	isTarget(e, target)
	// Not a target, unless forked by one.
	e.emit(asm.JEq.Imm(asm.R0, 0, out))
	promote(e)
	e.mark(target)
	kernelKey(e, s)
}

// threadKey saves the context and computes the thread's key at fpKey,
// without asking whether the process is a target: a statement's hot path
// (see lookupOpen).
func threadKey(e *emitter, s *Spec) {
	e.emit(asm.Mov.Reg(rCtx, asm.R1))
	pidKey(e, s)
}

// pidKey is threadKey with the context already in rCtx.
func pidKey(e *emitter, s *Spec) {
	e.emit(asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.RFP, fpKey, asm.R0, asm.DWord))
	kernelKey(e, s)
}

// Kernel stacks: THREAD_SIZE is 16 KiB on x86-64 (without KASAN), and
// with CONFIG_VMAP_STACK (Debian's kernels) a task's stack is a
// THREAD_SIZE-aligned block, so rsp >> stackShift is the same at every
// instruction that task runs in the kernel. Hard and soft interrupts run
// on the per-CPU IRQ stack (x86-64 switches to it, and runs softirqs on
// it at irq exit), exceptions like NMI on their IST stacks: never inside
// the task's block. tidBits holds any tid (PID_MAX_LIMIT is 1<<22);
// regionBits holds bits 14..46 of a canonical kernel address (bit 47 and
// above are all ones).
const (
	stackShift = 14
	tidBits    = 22
	regionBits = 33
)

// kernelKey, for a kernel target, replaces the thread key at fpKey
// (pid_tgid) with {tid, kernel stack region}: tid | (rsp >> 14 & (1<<33 -
// 1)) << 22, exact for every tid and kernel stack address. A probe hit in
// interrupt or softirq context, which borrows whatever task was running
// (bpf_get_current_pid_tgid answers for it), runs on another stack, so it
// gets a key of its own and never lands in, nor pops, an invocation the
// task opened; an invocation opened in interrupt context is just as
// separate. The tgid the key drops is read again where the header needs
// it (entryProgram).
func kernelKey(e *emitter, s *Spec) {
	if s.Space != target.KernelSpace {
		return
	}
	if e.fexit {
		// An fexit program has no registers, but runs on the
		// stack of the task (or interrupt) that called the
		// function: take the address of its own frame, R10, which
		// the verifier lets through only as a helper's source: the
		// helper copies R10's value, spilled to the stack, back as a
		// plain number.
		e.emit(asm.StoreMem(asm.RFP, fpReadTmp, asm.RFP, asm.DWord))
		e.stackPtr(asm.R1, int(slot(0)))
		e.emit(asm.Mov.Imm(asm.R2, 8))
		e.stackPtr(asm.R3, fpReadTmp)
		e.emit(asm.FnProbeReadKernel.Call(),
			asm.LoadMem(asm.R1, asm.RFP, slot(0), asm.DWord),
			asm.RSh.Imm(asm.R1, stackShift))
	} else {
		sp, _ := abi.PtRegsOffset(abi.RSP)
		e.emit(asm.LoadMem(asm.R1, rCtx, sp, asm.DWord),
			asm.RSh.Imm(asm.R1, stackShift))
	}
	e.loadConst(asm.R2, 1<<regionBits-1)
	e.emit(asm.And.Reg(asm.R1, asm.R2),
		asm.LSh.Imm(asm.R1, tidBits),
		asm.LoadMem(asm.R2, asm.RFP, fpKey, asm.DWord),
		asm.And.Imm(asm.R2, 1<<tidBits-1),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.RFP, fpKey, asm.R1, asm.DWord))
}

// isTarget looks the tgid at fpU32Key up in MapTargets and jumps to target
// when it is there. Otherwise it looks the current task up in MapPending,
// leaving the result in R0 (NULL: neither). It uses the fpDepth slot for
// the task key, which nothing needs yet when it runs.
func isTarget(e *emitter, target string) {
	e.emit(mapPtr(asm.R1, MapTargets))
	e.stackPtr(asm.R2, fpU32Key)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, target),
		asm.FnGetCurrentTask.Call(),
		asm.StoreMem(asm.RFP, fpDepth, asm.R0, asm.DWord),
		mapPtr(asm.R1, MapPending))
	e.stackPtr(asm.R2, fpDepth)
	e.emit(asm.FnMapLookupElem.Call())
}

// promote adds the tgid at fpU32Key to MapTargets. If the map is full the
// task stays pending, so it is still traced.
func promote(e *emitter) {
	e.emit(asm.StoreImm(asm.RFP, fpU32Val, 1, asm.Word),
		mapPtr(asm.R1, MapTargets))
	e.stackPtr(asm.R2, fpU32Key)
	e.stackPtr(asm.R3, fpU32Val)
	e.emit(asm.Mov.Imm(asm.R4, 0), asm.FnMapUpdateElem.Call())
}

// epilogue is the shared exit.
func epilogue(e *emitter, out string) {
	e.mark(out)
	e.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
}

// Invocation buffers (MapBufs) are keyed by the thread key with a slot in
// its top byte (slotShift). Slot 0 holds the thread's current invocation,
// open while its header's depth is not 0; slot d (1 to maxSlot) holds the
// invocation at depth d while a recursive call at depth d+1 runs (saved by
// the entry program, put back in slot 0 by the return program). A statement therefore finds its invocation with one
// lookup, whatever the depth, and recursion pays a copy of the buffer at
// the call and at the return. Slot 0 outlives the invocation (closed, its
// depth 0): the next call on the thread reopens it by rewriting its header,
// instead of copying a whole zeroed buffer into the map (tens of KiB) on
// every call; the LRU hash drops the buffers of threads no longer seen.
// The key is 8 bytes, not a 16-byte {thread, slot}: a lookup hashes and
// compares it on every statement.

// slotShift places the slot in a MapBufs key: the thread keys leave bits
// 56 and up zero (pid_tgid: a tgid is below PID_MAX_LIMIT, 1<<22; the
// kernel's: tidBits+regionBits = 55 bits). maxSlot is the deepest
// invocation that can be saved; a recursion deeper than that loses its
// outer invocations (counted as dropped entries).
const (
	slotShift = 56
	maxSlot   = 255
)

// slotKey stores at fpSlotKey the MapBufs key of slot r (a register
// holding 1 to maxSlot, clobbered) of the thread key at fpKey.
func slotKey(e *emitter, r asm.Register) {
	e.emit(asm.LSh.Imm(r, slotShift),
		asm.LoadMem(asm.R0, asm.RFP, fpKey, asm.DWord),
		asm.Or.Reg(r, asm.R0),
		asm.StoreMem(asm.RFP, fpSlotKey, r, asm.DWord))
}

// lookupOpen finds the thread's open invocation (slot 0 of the key at
// fpKey) and puts its buffer in rBuf, or jumps to missing when the thread
// has none open. With fast slots (n > 0, see fastSlots) slot 0 is the
// thread's fast slot when it owns one, and fpFast says which it is.
func lookupOpen(e *emitter, n int, missing string) {
	if n > 0 {
		fastLookup(e, n, missing)
		return
	}
	hashLookup(e, missing)
	e.emit(asm.LoadMem(asm.R1, rBuf, OffDepth, asm.Word),
		asm.JEq.Imm(asm.R1, 0, missing))
}

// hashLookup puts in rBuf slot 0 of the key at fpKey in MapBufs, or jumps
// to missing when there is none.
func hashLookup(e *emitter, missing string) {
	e.emit(mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpKey)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, missing),
		asm.Mov.Reg(rBuf, asm.R0))
}

// stmtOpen starts a statement program: with the context in R1, it finds
// the thread's open invocation and puts its buffer in rBuf (lookupOpen),
// or jumps to missing.
func stmtOpen(e *emitter, s *Spec, n int, missing string) {
	if n > 0 {
		stmtLookup(e, s, n, missing)
		return
	}
	threadKey(e, s)
	lookupOpen(e, 0, missing)
}

// orphan is where a statement program goes when its thread has no open
// invocation (lookupOpen): most often a thread of another process running
// the function, which leaves without a word; a target's statement hit
// outside any invocation counts as StatMissingBuffer. The target check
// comes only here, off the hot path: an invocation is only ever opened by
// the entry program for a target.
func orphan(e *emitter, s *Spec, out string) {
	if !s.TraceAll {
		checkTarget(e, s, out)
	}
	e.stat(StatMissingBuffer)
}

// stmtOrphan is orphan for statement programs, which leave without
// counting when Spec.QuietOrphans says such hits are expected.
func stmtOrphan(e *emitter, s *Spec, out string) {
	if s.QuietOrphans {
		e.emit(asm.Ja.Label(out))
		return
	}
	orphan(e, s, out)
}

// stmtBody writes a record for st into the buffer in rBuf and continues at
// out: into the next free record while there is one, otherwise over the
// oldest record of the ring (see Layout). Variables that cannot be compiled
// are left unset and returned as warnings.
func stmtBody(e *emitter, l Layout, st *Stmt, out string) []Warning {
	var warns []Warning
	if len(st.ReturnInto) > 0 {
		retAddrFilter(e, st, out)
	}
	if st.Branch {
		branchRecord(e, st)
	} else {
		placeRecord(e, l, st, out)
	}
	slots := Slots(st.Vars)
	for i := range st.Vars {
		v := &st.Vars[i]
		if v.Size == 0 && v.Str == 0 {
			continue // aggregates print as {...} without reading
		}
		if i >= MaxVars {
			warns = append(warns, Warning{st.ID, v.Name, fmt.Sprintf("more than %d variables at one statement", MaxVars)})
			continue
		}
		if slots[i].N == 0 {
			warns = append(warns, Warning{st.ID, v.Name, fmt.Sprintf("no room left in the record (%d slots of 8 bytes)", MaxSlots)})
			continue
		}
		sub := &emitter{n: e.n, faultIn: e.faultIn, space: e.space}
		fail := sub.newLabel("fail")
		off := int16(RecOffValues + 8*slots[i].First)
		var err error
		if v.Str != 0 {
			err = compileString(sub, st, v, i, off, fail)
		} else {
			err = compileVar(sub, st, v, fail)
			sub.emit(asm.StoreMem(rRec, off, asm.R0, asm.DWord))
		}
		e.n = sub.n
		if err != nil {
			var u unsupported
			if !errors.As(err, &u) {
				err = unsup("%v", err)
			}
			warns = append(warns, Warning{st.ID, v.Name, err.Error()})
			continue
		}
		e.sleeps = e.sleeps || sub.sleeps
		// Pending labels (the previous variable's fail path) land on
		// this variable's first instruction.
		e.emit(sub.insns...)
		e.pending = append(e.pending, sub.pending...)
		if i < 31 {
			e.emit(asm.Or.Imm(rMask, 1<<i))
		} else {
			e.emit(asm.Mov.Imm(asm.R1, 1),
				asm.LSh.Imm(asm.R1, int32(i)),
				asm.Or.Reg(rMask, asm.R1))
		}
		e.mark(fail)
	}
	e.emit(asm.StoreMem(rRec, RecOffMask, rMask, asm.DWord),
		asm.Ja.Label(out))
	return warns
}

// placeRecord points rRec at the record a statement writes: the next free
// one while there is one, otherwise the oldest of the ring (see Layout).
func placeRecord(e *emitter, l Layout, st *Stmt, out string) {
	head := HeadRecords(l.MaxRecords)
	ring := l.MaxRecords - head
	full, place := e.newLabel("full"), e.newLabel("place")
	// The counts go to StatStatements and StatTruncations when the
	// invocation closes (closeInvocation), not here: a map lookup less on
	// every statement.
	e.emit(asm.LoadMem(asm.R1, rBuf, OffCount, asm.Word),
		asm.JGE.Imm(asm.R1, int32(l.MaxRecords), full),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, 1),
		asm.StoreMem(rBuf, OffCount, asm.R2, asm.Word),
		asm.Ja.Label(place))
	e.mark(full)
	e.emit(asm.LoadMem(asm.R1, rBuf, OffTruncated, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, 1),
		asm.StoreMem(rBuf, OffTruncated, asm.R2, asm.Word),
		asm.Mod.Imm(asm.R1, int32(ring)),
		asm.Add.Imm(asm.R1, int32(head)))
	e.mark(place)
	// The index is below MaxRecords by construction; the compare bounds it
	// for the verifier.
	e.emit(asm.JGE.Imm(asm.R1, int32(l.MaxRecords), out),
		asm.Mul.Imm(asm.R1, int32(l.RecordSize())),
		asm.Mov.Reg(rRec, rBuf),
		asm.Add.Reg(rRec, asm.R1),
		asm.Add.Imm(rRec, int32(l.RecordsOffset())),
		asm.StoreImm(rRec, RecOffID, int64(int32(st.ID)), asm.Word),
		asm.Mov.Imm(rMask, 0),
		asm.StoreMem(rRec, RecOffUnread, rMask, asm.DWord))
}

// branchRecord points rRec at the branch record (see Layout) and stamps it
// with the branch's id and the number of statements before it, plus one.
func branchRecord(e *emitter, st *Stmt) {
	e.emit(asm.LoadMem(asm.R1, rBuf, OffCount, asm.Word),
		asm.LoadMem(asm.R2, rBuf, OffTruncated, asm.Word),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.Add.Imm(asm.R1, 1),
		asm.Mov.Reg(rRec, rBuf),
		asm.Add.Imm(rRec, HeaderSize),
		asm.StoreImm(rRec, RecOffID, int64(int32(st.ID)), asm.Word),
		asm.StoreMem(rRec, RecOffSeq, asm.R1, asm.Word),
		asm.Mov.Imm(rMask, 0),
		asm.StoreMem(rRec, RecOffUnread, rMask, asm.DWord))
}

// stmtGroups returns, for each statement with a program of its own, the
// indexes in s.Stmts of the statements that program records, in order;
// nil for the others (at the entry, or recorded by another's program).
// Every set of statements at one address (file, symbol and offset) is
// recorded by one program, in the order their code runs (rank): the
// kernel runs the probes of one address in the reverse order of their
// attachment (TestUprobeOrderAtOneAddress; kprobes: add_new_kprobe's
// list_add_rcu), so that separate programs would record --follow's call
// before the statement of the call's line, a return after the statement
// beginning at the return address, a callee's entry after the statement
// of its opening line.
func stmtGroups(s *Spec) ([][]int, error) {
	type at struct {
		bin string
		off uint64
		sym string
	}
	key := func(st *Stmt) at { return at{st.Binary, st.FileOffset, st.Symbol} }
	for _, st := range s.Stmts {
		if st.Succ == nil {
			continue
		}
		switch {
		case st.Branch:
			return nil, fmt.Errorf("statement %d is both a branch probe and a successor", st.ID)
		case st.Succ.Cond < -1 || st.Succ.Cond > 15:
			return nil, fmt.Errorf("statement %d: condition code %d out of range", st.ID, st.Succ.Cond)
		case st.FileOffset == s.EntryOffset && st.Symbol == s.EntrySymbol && st.Binary == "":
			return nil, fmt.Errorf("statement %d: a successor at the entry offset %#x", st.ID, st.FileOffset)
		}
	}
	groups := map[at][]int{}
	for i := range s.Stmts {
		k := key(&s.Stmts[i])
		groups[k] = append(groups[k], i)
	}
	out := make([][]int, len(s.Stmts))
	for i := range s.Stmts {
		g := groups[key(&s.Stmts[i])]
		if g[0] != i {
			continue
		}
		g = slices.Clone(g)
		sort.SliceStable(g, func(a, b int) bool {
			x, y := &s.Stmts[g[a]], &s.Stmts[g[b]]
			if rank(x) != rank(y) || x.Succ == nil || y.Succ == nil {
				return rank(x) < rank(y)
			}
			return x.Succ.At < y.Succ.At
		})
		out[g[0]] = g
	}
	return out, nil
}

// rank orders the probes at one address (Stmt.Order): arrivals,
// statements, departures, then branch probes and successors, since the
// first ones observe the code before the jump under the probe and
// successors the code after it.
func rank(st *Stmt) int {
	switch {
	case st.Succ != nil:
		return 4
	case st.Branch:
		return 3
	case st.Order == OrderArrival:
		return 0
	case st.Order == OrderDeparture:
		return 2
	}
	return 1
}

// members returns the statements of a group (stmtGroups).
func members(s *Spec, idx []int) []*Stmt {
	out := make([]*Stmt, len(idx))
	for k, i := range idx {
		out[k] = &s.Stmts[i]
	}
	return out
}

// groupBody records the statements of a group one after the other and
// continues at out; a successor is recorded only when the jump under the
// probe goes its way (jumpTaken).
func groupBody(e *emitter, l Layout, sts []*Stmt, out string) []Warning {
	var warns []Warning
	for k, st := range sts {
		next := out
		if k+1 < len(sts) {
			next = e.newLabel("member")
		}
		if st.Succ != nil && st.Succ.Cond >= 0 {
			jumpTaken(e, st.Succ.Cond)
			if st.Succ.Taken {
				e.emit(asm.JEq.Imm(asm.R1, 0, next))
			} else {
				e.emit(asm.JNE.Imm(asm.R1, 0, next))
			}
		}
		warns = append(warns, stmtBody(e, l, st, next)...)
		if next != out {
			e.mark(next)
		}
	}
	return warns
}

// x86 rflags bits the conditional jumps test.
const (
	flagCF = 0
	flagPF = 2
	flagZF = 6
	flagSF = 7
	flagOF = 11
)

// jumpTaken leaves in R1 whether a jcc of condition code cc (the low
// nibble of its opcode) at the probed instruction jumps: 1 or 0, from the
// rflags the trap saved in pt_regs (Intel SDM, Jcc: codes in pairs, the
// odd one the negation of the even one before it).
func jumpTaken(e *emitter, cc int) {
	off, _ := abi.PtRegsOffset(abi.RFLAGS)
	e.emit(asm.LoadMem(asm.R1, rCtx, off, asm.DWord))
	jccCond(e, cc)
}

// jccCond replaces the rflags in R1 with whether a jcc of condition code
// cc jumps under them (1 or 0); it uses R2 and R3.
func jccCond(e *emitter, cc int) {
	bit := func(r asm.Register, b int32) { // r = r>>b & 1
		e.emit(asm.RSh.Imm(r, b), asm.And.Imm(r, 1))
	}
	sfNeOF := func() { // R1 = SF != OF, from the flags in R1
		e.emit(asm.Mov.Reg(asm.R2, asm.R1))
		bit(asm.R1, flagSF)
		bit(asm.R2, flagOF)
		e.emit(asm.Xor.Reg(asm.R1, asm.R2))
	}
	switch cc >> 1 {
	case 0: // o
		bit(asm.R1, flagOF)
	case 1: // b: CF
		bit(asm.R1, flagCF)
	case 2: // e: ZF
		bit(asm.R1, flagZF)
	case 3: // be: CF or ZF
		e.emit(asm.Mov.Reg(asm.R3, asm.R1))
		bit(asm.R1, flagCF)
		bit(asm.R3, flagZF)
		e.emit(asm.Or.Reg(asm.R1, asm.R3))
	case 4: // s
		bit(asm.R1, flagSF)
	case 5: // p
		bit(asm.R1, flagPF)
	case 6: // l: SF != OF
		sfNeOF()
	case 7: // le: ZF or SF != OF
		e.emit(asm.Mov.Reg(asm.R3, asm.R1))
		bit(asm.R3, flagZF)
		sfNeOF()
		e.emit(asm.Or.Reg(asm.R1, asm.R3))
	}
	if cc&1 != 0 {
		e.emit(asm.Xor.Imm(asm.R1, 1))
	}
}

func stmtProgram(e *emitter, s *Spec, l Layout, sts []*Stmt) []Warning {
	out, missing := e.newLabel("out"), e.newLabel("missing")
	stmtOpen(e, s, fastSlots(s, l), missing)
	warns := groupBody(e, l, sts, out)
	e.mark(missing)
	stmtOrphan(e, s, out)
	epilogue(e, out)
	return warns
}

// rCookie holds the attach cookie while a program of several statements
// dispatches on it; the statement bodies it leads to reuse the register
// (rMask) from their start.
const rCookie = rMask

// A program of several statements (Spec.Multi) is attached with a
// uprobe_multi link whose cookie at each offset is the statement's index i
// in Spec.Stmts. After the shared prelude and buffer lookup (beginStmts), a
// chain of compares finds the statement (addStmt for each); each body ends
// in a return of its own, so that every jump stays within one body (BPF
// jump offsets are 16 bits, and such a program can be far longer than
// 32767 instructions). endStmts closes the chain.
func beginStmts(e *emitter, s *Spec, l Layout) {
	out, missing, dispatch := e.newLabel("out"), e.newLabel("missing"), e.newLabel("dispatch")
	stmtOpen(e, s, fastSlots(s, l), missing)
	e.emit(asm.Ja.Label(dispatch))
	e.mark(missing)
	stmtOrphan(e, s, out)
	epilogue(e, out)
	e.mark(dispatch)
	e.emit(asm.Mov.Reg(asm.R1, rCtx),
		asm.FnGetAttachCookie.Call(),
		asm.Mov.Reg(rCookie, asm.R0))
}

// addStmt adds s.Stmts[i], the first of the group sts, to the chain; see
// beginStmts.
func addStmt(e *emitter, s *Spec, l Layout, i int, sts []*Stmt) []Warning {
	next, done := e.newLabel("next"), e.newLabel("done")
	e.emit(asm.JNE.Imm(rCookie, int32(i), next))
	warns := groupBody(e, l, sts, done)
	epilogue(e, done)
	e.mark(next)
	return warns
}

// endStmts ends the chain: a cookie no statement has records nothing.
func endStmts(e *emitter) {
	e.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
}

// entryProgram opens an invocation in slot 0 of the thread's buffers (see
// lookupOpen): a recursive call first saves the open one in the slot of its
// depth. It writes the header (depth+1, the argument registers...), then
// records sts, the statements at the entry, one after the other.
func entryProgram(e *emitter, s *Spec, l Layout, sts []*Stmt) []Warning {
	out, fail := e.newLabel("out"), e.newLabel("fail")
	prelude(e, s, out)
	openInvocation(e, s, l, fail)
	var warns []Warning
	if len(sts) > 0 {
		warns = groupBody(e, l, sts, out)
	} else {
		e.emit(asm.Ja.Label(out))
	}
	e.mark(fail)
	e.stat(StatEntryDrops)
	epilogue(e, out)
	return warns
}

// openInvocation is the entry program past the target check, with the
// thread key at fpKey: it opens the invocation in rBuf, or jumps to fail.
func openInvocation(e *emitter, s *Spec, l Layout, fail string) {
	open, header := e.newLabel("open"), e.newLabel("header")
	fast := fastSlots(s, l)
	if fast > 0 {
		fastEntry(e, fast, fail)
	} else {
		slotZero(e, fail)
	}
	saved, unsaved := e.newLabel("saved"), e.newLabel("unsaved")
	e.emit(asm.LoadMem(asm.R1, rBuf, OffDepth, asm.Word),
		asm.JEq.Imm(asm.R1, 0, open),
		// A recursive call: save the open invocation in the slot of
		// its depth. If that fails the outer invocation is lost (its
		// return finds nothing to put back, and closes slot 0): count
		// it as dropped, and trace this call.
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, 1),
		asm.StoreMem(asm.RFP, fpU32Val, asm.R2, asm.Word),
		asm.JGT.Imm(asm.R1, maxSlot, unsaved))
	slotKey(e, asm.R1)
	e.emit(mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpSlotKey)
	e.emit(asm.Mov.Reg(asm.R3, rBuf),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, saved))
	e.mark(unsaved)
	e.stat(StatEntryDrops)
	e.mark(saved)
	// Saving may have made the LRU hash drop slot 0: find it again. A
	// fast slot stays.
	if fast > 0 {
		e.emit(asm.LoadMem(asm.R1, asm.RFP, fpFast, asm.Word),
			asm.JNE.Imm(asm.R1, 0, header))
	}
	slotZero(e, fail)
	e.emit(asm.Ja.Label(header))
	e.mark(open)
	if fast > 0 {
		fastHashed(e)
	}
	e.emit(asm.StoreImm(asm.RFP, fpU32Val, 1, asm.Word))
	e.mark(header)
	// The buffer may be a closed invocation's: clear what is read
	// without being written first (the count, the errno address, ...).
	for off := 0; off < HeaderSize; off += 8 {
		e.emit(storeZero64(rBuf, int16(off)))
	}
	if l.Branch {
		for off := 0; off < recHdrBytes; off += 8 {
			e.emit(storeZero64(rBuf, int16(HeaderSize+off)))
		}
	}
	if l.Stack > 0 {
		e.emit(storeZero64(rBuf, int16(l.StackOffset()+StackOffLen)))
	}
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpPidTgid, asm.DWord),
		asm.StoreMem(rBuf, OffTID, asm.R1, asm.Word),
		asm.RSh.Imm(asm.R1, 32),
		asm.StoreMem(rBuf, OffPID, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.RFP, fpU32Val, asm.Word),
		asm.StoreMem(rBuf, OffDepth, asm.R1, asm.Word),
		asm.StoreImm(rBuf, OffValues, int64(l.Values), asm.Word),
		asm.StoreImm(rBuf, OffHead, int64(HeadRecords(l.MaxRecords)), asm.Word))
	if l.Branch {
		e.emit(asm.StoreImm(rBuf, OffBranch, 1, asm.Word))
	}
	for i, r := range abi.ArgRegs {
		off, _ := abi.PtRegsOffset(r)
		e.emit(asm.LoadMem(asm.R1, rCtx, off, asm.DWord),
			asm.StoreMem(rBuf, int16(OffArgs+8*i), asm.R1, asm.DWord))
	}
	if l.Stack > 0 {
		stackCopy(e, l)
	}
	e.probedPC(asm.R1)
	e.loadConst(asm.R2, int64(s.EntryPC))
	e.emit(asm.Sub.Reg(asm.R1, asm.R2), asm.StoreMem(rBuf, OffBias, asm.R1, asm.DWord))
	errnoAddress(e, s.Errno)
	e.emit(asm.Mov.Reg(asm.R1, rBuf), asm.Add.Imm(asm.R1, OffComm), asm.Mov.Imm(asm.R2, 16),
		asm.FnGetCurrentComm.Call())
	e.stat(StatEntries)
}

// slotZero finds slot 0 of the thread's buffers (the key at fpKey) and
// puts it in rBuf, creating it from MapZero the first time, or jumps
// to fail.
func slotZero(e *emitter, fail string) {
	have := e.newLabel("have")
	e.emit(mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpKey)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, have),
		asm.StoreImm(asm.RFP, fpU32Key, 0, asm.Word),
		mapPtr(asm.R1, MapZero))
	e.stackPtr(asm.R2, fpU32Key)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, fail),
		asm.Mov.Reg(asm.R3, asm.R0),
		mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpKey)
	e.emit(asm.Mov.Imm(asm.R4, 0), asm.FnMapUpdateElem.Call(), asm.JNE.Imm(asm.R0, 0, fail),
		mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpKey)
	e.emit(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, fail))
	e.mark(have)
	e.emit(asm.Mov.Reg(rBuf, asm.R0))
}

// stackCopy fills the stack area (Layout.Stack): the StackRegs from
// pt_regs, then the stack from rsp up in StackChunk reads, stopping at the
// first that faults, and the bytes copied.
func stackCopy(e *emitter, l Layout) {
	area := int16(l.StackOffset())
	for i, r := range StackRegs {
		off, _ := abi.PtRegsOffset(r)
		e.emit(asm.LoadMem(asm.R1, rCtx, off, asm.DWord),
			asm.StoreMem(rBuf, area+StackOffRegs+int16(8*i), asm.R1, asm.DWord))
	}
	done := e.newLabel("stackdone")
	rspOff, _ := abi.PtRegsOffset(abi.RSP)
	for k := 0; k < l.Stack/StackChunk; k++ {
		e.emit(asm.Mov.Reg(asm.R1, rBuf),
			asm.Add.Imm(asm.R1, int32(int(area)+StackOffBytes+k*StackChunk)),
			asm.Mov.Imm(asm.R2, StackChunk),
			asm.LoadMem(asm.R3, rCtx, rspOff, asm.DWord),
			asm.Add.Imm(asm.R3, int32(k*StackChunk)),
			asm.FnProbeReadUser.Call(),
			asm.JNE.Imm(asm.R0, 0, done),
			asm.Mov.Imm(asm.R1, int32((k+1)*StackChunk)),
			asm.StoreMem(rBuf, area+int16(StackOffLen), asm.R1, asm.DWord))
	}
	e.mark(done)
	e.emit(asm.StoreImm(rBuf, OffStack, int64(l.Stack), asm.Word))
	// The process's first invocation announces it (an 8-byte sample,
	// its tgid), so that user space reads its memory map while it runs.
	seen := e.newLabel("seen")
	e.emit(asm.LoadMem(asm.R1, asm.RFP, fpKey, asm.DWord),
		asm.RSh.Imm(asm.R1, 32),
		asm.StoreMem(asm.RFP, fpReadTmp, asm.R1, asm.DWord),
		mapPtr(asm.R1, MapSeen))
	e.stackPtr(asm.R2, fpReadTmp)
	e.emit(asm.FnMapLookupElem.Call(), asm.JNE.Imm(asm.R0, 0, seen), mapPtr(asm.R1, MapSeen))
	e.stackPtr(asm.R2, fpReadTmp)
	e.stackPtr(asm.R3, fpReadTmp)
	e.emit(asm.Mov.Imm(asm.R4, 1), // BPF_NOEXIST: one announcement
		asm.FnMapUpdateElem.Call(), asm.JNE.Imm(asm.R0, 0, seen), mapPtr(asm.R1, MapEvents))
	e.stackPtr(asm.R2, fpReadTmp)
	e.emit(asm.Mov.Imm(asm.R3, AnnounceSize), asm.Mov.Imm(asm.R4, 0), asm.FnRingbufOutput.Call())
	e.mark(seen)
}

// returnProgram closes an invocation: it evaluates the condition and copies
// the used part of the buffer to the ring buffer or drops it.
func returnProgram(e *emitter, s *Spec, l Layout) error {
	out, missing, discard, del := e.newLabel("out"), e.newLabel("missing"), e.newLabel("discard"), e.newLabel("del")
	// As at a statement, an open invocation says the thread is a
	// target's: the check is for the orphans only.
	threadKey(e, s)
	lookupOpen(e, fastSlots(s, l), missing)
	if e.fexit {
		e.emit(asm.Mov.Reg(asm.R1, rCtx))
		e.stackPtr(asm.R2, fpReadTmp)
		e.emit(asm.FnGetFuncRet.Call(),
			asm.LoadMem(asm.R1, asm.RFP, fpReadTmp, asm.DWord))
	} else {
		e.emit(asm.LoadMem(asm.R1, rCtx, abi.PtRegsRet, asm.DWord))
	}
	if !s.RetUnsigned {
		e.extend(asm.R1, s.RetSize, true)
	} else {
		e.extend(asm.R1, s.RetSize, false)
	}
	e.emit(asm.StoreMem(rBuf, OffReturn, asm.R1, asm.DWord))
	e.condFault = discard
	err := compileCond(e, s.Cond, 0)
	e.condFault = ""
	if err != nil {
		return err
	}
	capped := e.newLabel("capped")
	e.emit(asm.LoadMem(asm.R0, asm.RFP, slot(0), asm.DWord),
		asm.JEq.Imm(asm.R0, 0, discard),
		asm.LoadMem(asm.R3, rBuf, OffCount, asm.Word),
		asm.JLE.Imm(asm.R3, int32(l.MaxRecords), capped),
		asm.Mov.Imm(asm.R3, int32(l.MaxRecords)))
	e.mark(capped)
	e.emit(asm.Mul.Imm(asm.R3, int32(l.RecordSize())),
		asm.Add.Imm(asm.R3, int32(l.RecordsOffset())),
		mapPtr(asm.R1, MapEvents),
		asm.Mov.Reg(asm.R2, rBuf),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call())
	sent := e.newLabel("sent")
	e.emit(asm.JEq.Imm(asm.R0, 0, sent))
	e.stat(StatRingbufDrops)
	e.mark(sent)
	e.stat(StatExitHit)
	e.emit(asm.Ja.Label(del))
	e.mark(discard)
	e.stat(StatExitMiss)
	e.mark(del)
	closeInvocation(e, l, fastSlots(s, l) > 0, out)
	e.mark(missing)
	orphan(e, s, out)
	epilogue(e, out)
	return nil
}

// closeInvocation counts the invocation's statements (recorded and
// overwritten), closes the invocation in rBuf, slot 0 of the thread's
// buffers (see lookupOpen), and continues at out: at depth 1 it only marks
// it closed (depth 0); deeper, it copies back the caller's invocation
// that the entry program saved in slot depth-1, and deletes that
// copy. If there is none (saving it failed, or the LRU hash dropped it),
// slot 0 is closed and the caller's statements count as orphans.
func closeInvocation(e *emitter, l Layout, fast bool, out string) {
	pop, lost := e.newLabel("pop"), e.newLabel("lost")
	e.emit(asm.LoadMem(asm.R1, rBuf, OffCount, asm.Word))
	e.statAdd(StatStatements, asm.R1)
	e.emit(asm.LoadMem(asm.R1, rBuf, OffTruncated, asm.Word))
	e.statAdd(StatTruncations, asm.R1)
	e.emit(asm.LoadMem(asm.R1, rBuf, OffDepth, asm.Word),
		asm.JGT.Imm(asm.R1, 1, pop))
	e.mark(lost)
	e.emit(asm.StoreImm(rBuf, OffDepth, 0, asm.Word))
	if fast {
		fastRelease(e)
	}
	e.emit(asm.Ja.Label(out))
	e.mark(pop)
	e.emit(asm.Add.Imm(asm.R1, -1),
		asm.JGT.Imm(asm.R1, maxSlot, lost))
	slotKey(e, asm.R1)
	e.emit(mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpSlotKey)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, lost),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Mov.Reg(asm.R1, rBuf),
		asm.Mov.Imm(asm.R2, int32(l.BufferSize())),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, lost),
		mapPtr(asm.R1, MapBufs))
	e.stackPtr(asm.R2, fpSlotKey)
	e.emit(asm.FnMapDeleteElem.Call(), asm.Ja.Label(out))
}

// forkProgram runs on the raw tracepoint task_newtask, in the parent while
// it creates a task, before the task first runs. It follows a target's
// descendants without knowing task_struct's layout (there may be no kernel
// BTF): a process a target creates is recorded in MapPending by the address
// of its task_struct, which is what bpf_get_current_task returns once it
// runs; the prelude of every probe, and this program, make its tgid a
// target when that task first shows up (so a child that forks or starts a
// thread before it reaches a probe passes the tracing on). New threads
// share their creator's tgid, so they need no entry. exitProgram deletes
// a pending task's entry when it exits, so the address, reused by another
// task later, is never mistaken for it.
func forkProgram(e *emitter) {
	out, target := e.newLabel("out"), e.newLabel("target")
	e.emit(asm.Mov.Reg(rCtx, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.RFP, fpU32Key, asm.R0, asm.Word))
	isTarget(e, target)
	e.emit(asm.JEq.Imm(asm.R0, 0, out))
	promote(e)
	e.mark(target)
	e.emit(asm.LoadMem(asm.R1, rCtx, rawNewtaskFlags, asm.DWord),
		asm.JSet.Imm(asm.R1, cloneThread, out),
		asm.LoadMem(asm.R1, rCtx, rawNewtaskTask, asm.DWord),
		asm.StoreMem(asm.RFP, fpDepth, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, fpU32Key, asm.Word),
		asm.StoreMem(asm.RFP, fpU32Val, asm.R1, asm.Word),
		mapPtr(asm.R1, MapPending))
	e.stackPtr(asm.R2, fpDepth)
	e.stackPtr(asm.R3, fpU32Val)
	e.emit(asm.Mov.Imm(asm.R4, 0), asm.FnMapUpdateElem.Call())
	epilogue(e, out)
}

// exitProgram runs on the raw tracepoint sched_process_exit, in every
// exiting task: it forgets the task if it was pending, before its
// task_struct can be freed and reused.
func exitProgram(e *emitter, fast int) {
	e.emit(asm.FnGetCurrentTask.Call(),
		asm.StoreMem(asm.RFP, fpDepth, asm.R0, asm.DWord),
		mapPtr(asm.R1, MapPending))
	e.stackPtr(asm.R2, fpDepth)
	e.emit(asm.FnMapDeleteElem.Call())
	if fast > 0 {
		fastExit(e, fast)
	}
	e.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
}
