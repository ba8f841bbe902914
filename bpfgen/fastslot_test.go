package bpfgen

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/whythefail/whythefail/target"
)

// The operations of slotHarness: a kernel target's entry, statement and
// return, past the target check.
const (
	opEntry  = 1
	opStmt   = 2
	opReturn = 3
)

// harnessRegs is where slotHarness keeps the pt_regs it hands the
// generated code, on its stack below everything the code uses.
const harnessRegs = -400

// harnessStmt is the statement slotHarness records.
const harnessStmt = 5

// slotHarness builds a program that plays one probe hit of a kernel target
// with the generated code of the entry (openInvocation), a statement
// (stmtOpen and stmtBody) and the return (lookupOpen and closeInvocation).
// It is a raw tracepoint program, so that BPF_PROG_TEST_RUN runs it; its
// context is {op, thread key, rsp}: the key stands for the prelude's
// (kernelKey: tid | stack region << 22), the rsp for the probed task's,
// in a pt_regs on the program's stack. It returns 1, or 2 when the code
// found no invocation open or could not open one.
func slotHarness(s *Spec, l Layout) asm.Instructions {
	e := &emitter{space: target.KernelSpace}
	out, fail, entry, stmt, ret := e.newLabel("out"), e.newLabel("fail"), e.newLabel("entry"), e.newLabel("stmt"), e.newLabel("ret")
	e.emit(asm.LoadMem(asm.R3, asm.R1, 8, asm.DWord),
		asm.StoreMem(asm.RFP, fpKey, asm.R3, asm.DWord),
		asm.StoreMem(asm.RFP, fpPidTgid, asm.R3, asm.DWord),
		asm.LoadMem(asm.R4, asm.R1, 16, asm.DWord),
		asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord))
	for off := 0; off < 168; off += 8 {
		e.emit(storeZero64(asm.RFP, int16(harnessRegs+off)))
	}
	e.emit(asm.StoreMem(asm.RFP, harnessRegs+152, asm.R4, asm.DWord))
	e.stackPtr(rCtx, harnessRegs)
	e.emit(asm.JEq.Imm(asm.R2, opEntry, entry),
		asm.JEq.Imm(asm.R2, opStmt, stmt),
		asm.JEq.Imm(asm.R2, opReturn, ret),
		asm.Ja.Label(fail))
	e.mark(entry)
	openInvocation(e, s, l, fail)
	e.emit(asm.Ja.Label(out))
	e.mark(stmt)
	n := fastSlots(s, l)
	e.emit(asm.Mov.Reg(asm.R1, rCtx))
	stmtOpen(e, s, n, fail)
	stmtBody(e, l, &Stmt{ID: harnessStmt}, out)
	e.mark(ret)
	lookupOpen(e, n, fail)
	closeInvocation(e, l, n > 0, out)
	e.mark(out)
	e.emit(asm.Mov.Imm(asm.R0, 1), asm.Return())
	e.mark(fail)
	e.emit(asm.Mov.Imm(asm.R0, 2), asm.Return())
	return e.insns
}

// slotRig runs slotHarness on a kernel target's maps.
type slotRig struct {
	t    *testing.T
	n    int // fast slots
	prog *ebpf.Program
	exit *ebpf.Program // the exit program (ProgExit)
	// ownKey computes the thread key of the task that runs it, as the
	// exit program does, into ownKeyOut.
	ownKey    *ebpf.Program
	ownKeyOut *ebpf.Map
	slots     *ebpf.Map
	bufs      *ebpf.Map
	stats     *ebpf.Map
	tid       uint64
}

func newSlotRig(t *testing.T) *slotRig {
	requireBPF(t)
	// The statement's fallback takes the thread key from
	// bpf_get_current_pid_tgid: the tests play this thread.
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	s := &Spec{Space: target.KernelSpace, MaxRecords: 4, MaxInvocations: DefaultMaxInvocations, EntryOffset: 0x10, FexitReturn: true}
	g, err := Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	cs := &ebpf.CollectionSpec{Maps: g.Collection.Maps, Programs: map[string]*ebpf.ProgramSpec{
		"harness": {Name: "harness", Type: ebpf.RawTracepoint, License: "GPL", Instructions: slotHarness(s, g.Layout)},
		ProgExit:  g.Collection.Programs[ProgExit],
		"ownkey":  {Name: "ownkey", Type: ebpf.RawTracepoint, License: "GPL", Instructions: ownKey()},
	}}
	cs.Maps[mapOwnKey] = &ebpf.MapSpec{Name: mapOwnKey, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}
	coll, err := ebpf.NewCollection(cs)
	if err != nil {
		if ve, ok := err.(*ebpf.VerifierError); ok {
			t.Fatalf("%+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(coll.Close)
	return &slotRig{t: t, n: fastSlots(s, g.Layout), prog: coll.Programs["harness"], exit: coll.Programs[ProgExit],
		ownKey: coll.Programs["ownkey"], ownKeyOut: coll.Maps[mapOwnKey], slots: coll.Maps[MapSlots],
		bufs: coll.Maps[MapBufs], stats: coll.Maps[MapStats], tid: uint64(unix.Gettid())}
}

// mapOwnKey receives ownKey's answer.
const mapOwnKey = "own_key"

// ownKey is a raw tracepoint program that stores the kernel thread key of
// the task running it (kernelKey, from its own frame as in the exit
// program) in mapOwnKey.
func ownKey() asm.Instructions {
	e := &emitter{fexit: true}
	done := e.newLabel("done")
	e.emit(asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.RFP, fpKey, asm.R0, asm.DWord))
	kernelKey(e, &Spec{Space: target.KernelSpace})
	e.emit(asm.StoreImm(asm.RFP, fpU32Key, 0, asm.Word),
		mapPtr(asm.R1, mapOwnKey))
	e.stackPtr(asm.R2, fpU32Key)
	e.emit(asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.RFP, fpKey, asm.DWord),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	e.mark(done)
	e.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	return e.insns
}

// self is the task running the tests in the kernel (BPF_PROG_TEST_RUN
// runs a raw tracepoint program on the caller's kernel stack), as the
// exit program sees it.
func (r *slotRig) self() task {
	r.t.Helper()
	if _, err := r.ownKey.Run(&ebpf.RunOptions{}); err != nil {
		r.t.Fatal(err)
	}
	var key uint64
	if err := r.ownKeyOut.Lookup(uint32(0), &key); err != nil {
		r.t.Fatal(err)
	}
	return task{region: key >> tidBits, tid: key & (1<<tidBits - 1)}
}

// A task of the harness: its stack region and tid.
type task struct {
	region uint64
	tid    uint64
}

func (k task) key() uint64 { return k.tid | k.region<<tidBits }
func (k task) rsp() uint64 { return 0xffff_8000_0000_0000 | k.region<<stackShift | 0x3f00 }

// index is the fast slot of a stack region, as slotIndex computes it.
func (r *slotRig) index(region uint64) uint32 {
	return uint32(region * slotMix >> 16 & uint64(r.n-1))
}

// run plays op for k and checks the program's answer.
func (r *slotRig) run(op uint64, k task, want uint32) {
	r.t.Helper()
	got, err := r.prog.Run(&ebpf.RunOptions{Context: []uint64{op, k.key(), k.rsp()}})
	if err != nil {
		r.t.Fatal(err)
	}
	if got != want {
		r.t.Fatalf("op %d for %+v returned %d, want %d", op, k, got, want)
	}
}

// slot reads the fast slot of k's region: its owner, depth and count.
func (r *slotRig) slot(k task) (owner uint64, depth, count uint32) {
	r.t.Helper()
	var v []byte
	if err := r.slots.Lookup(r.index(k.region), &v); err != nil {
		r.t.Fatal(err)
	}
	b := v[slotBuf:]
	return binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint32(b[OffDepth:]), binary.LittleEndian.Uint32(b[OffCount:])
}

// hashed reads k's slot 0 in MapBufs: ok false when there is none.
func (r *slotRig) hashed(k task) (depth, count uint32, ok bool) {
	r.t.Helper()
	var v []byte
	if err := r.bufs.Lookup(k.key(), &v); err != nil {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(v[OffDepth:]), binary.LittleEndian.Uint32(v[OffCount:]), true
}

// recorded sums the statements closed invocations counted.
func (r *slotRig) recorded() uint64 {
	r.t.Helper()
	var per []uint64
	if err := r.stats.Lookup(uint32(StatStatements), &per); err != nil {
		r.t.Fatal(err)
	}
	var sum uint64
	for _, v := range per {
		sum += v
	}
	return sum
}

// wantHashed checks the count of invocations open in MapBufs in the slot
// of k's region.
func (r *slotRig) wantHashed(k task, want uint64) {
	r.t.Helper()
	var v []byte
	if err := r.slots.Lookup(r.index(k.region), &v); err != nil {
		r.t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(v[slotHashed:]); got != want {
		r.t.Fatalf("slot of %+v counts %d invocations in %s, want %d", k, got, MapBufs, want)
	}
}

func (r *slotRig) wantSlot(k task, owner uint64, depth, count uint32) {
	r.t.Helper()
	if o, d, c := r.slot(k); o != owner || d != depth || c != count {
		r.t.Fatalf("slot of %+v: owner %#x depth %d count %d, want owner %#x depth %d count %d", k, o, d, c, owner, depth, count)
	}
}

// TestFastSlotRecursion: a kernel thread's invocation lives in its fast
// slot; a recursive call saves it and the return puts it back, the
// statements landing in the innermost invocation; the outermost return
// frees the slot.
func TestFastSlotRecursion(t *testing.T) {
	r := newSlotRig(t)
	a := task{region: 0x12345, tid: r.tid}
	r.run(opEntry, a, 1)
	r.wantSlot(a, a.key(), 1, 0)
	r.run(opStmt, a, 1)
	r.run(opStmt, a, 1)
	r.wantSlot(a, a.key(), 1, 2)
	r.run(opEntry, a, 1)
	r.wantSlot(a, a.key(), 2, 0)
	r.run(opStmt, a, 1)
	r.wantSlot(a, a.key(), 2, 1)
	r.run(opReturn, a, 1)
	r.wantSlot(a, a.key(), 1, 2)
	r.run(opStmt, a, 1)
	r.run(opReturn, a, 1)
	r.wantSlot(a, 0, 0, 3)
	if got := r.recorded(); got != 1+3 {
		t.Errorf("%d statements counted, want 4", got)
	}
	if _, _, ok := r.hashed(a); ok {
		t.Errorf("the thread has a buffer in %s too", MapBufs)
	}
	// Outside any invocation a statement finds none.
	r.run(opStmt, a, 2)
	r.run(opReturn, a, 2)
}

// TestFastSlotCollision: two tasks whose stack regions share a fast slot.
// The first owns it; the second's invocation goes to MapBufs, counted in
// the slot, and stays there (a recursive call too) after the first frees
// the slot, while the first can take the slot again; neither's statements
// land in the other's invocation.
func TestFastSlotCollision(t *testing.T) {
	r := newSlotRig(t)
	a := task{region: 0x20000, tid: r.tid}
	b := a
	for b.region++; r.index(b.region) != r.index(a.region); b.region++ {
	}
	r.run(opEntry, a, 1)
	r.run(opEntry, b, 1)
	r.wantSlot(a, a.key(), 1, 0)
	if d, c, ok := r.hashed(b); !ok || d != 1 || c != 0 {
		t.Fatalf("b in %s: depth %d count %d (%v), want 1 0", MapBufs, d, c, ok)
	}
	r.run(opStmt, a, 1)
	r.run(opStmt, b, 1)
	r.run(opStmt, b, 1)
	r.wantSlot(a, a.key(), 1, 1)
	if d, c, _ := r.hashed(b); d != 1 || c != 2 {
		t.Fatalf("b in %s: depth %d count %d, want 1 2", MapBufs, d, c)
	}
	r.wantHashed(a, 1)
	r.run(opReturn, a, 1)
	r.wantSlot(a, 0, 0, 1)
	r.run(opStmt, b, 1)
	r.run(opEntry, b, 1)
	r.wantSlot(a, 0, 0, 1)
	r.wantHashed(a, 1)
	if d, c, _ := r.hashed(b); d != 2 || c != 0 {
		t.Fatalf("b's recursive call in %s: depth %d count %d, want 2 0", MapBufs, d, c)
	}
	r.run(opStmt, b, 1)
	r.run(opReturn, b, 1)
	if d, c, _ := r.hashed(b); d != 1 || c != 3 {
		t.Fatalf("b back in %s: depth %d count %d, want 1 3", MapBufs, d, c)
	}
	// The first, back while the second is in MapBufs, looks itself up
	// there, and takes the slot.
	r.run(opEntry, a, 1)
	r.wantSlot(a, a.key(), 1, 0)
	r.run(opStmt, b, 1)
	r.run(opReturn, a, 1)
	r.run(opReturn, b, 1)
	r.wantHashed(a, 0)
	if got := r.recorded(); got != 1+1+4 {
		t.Errorf("%d statements counted, want 6", got)
	}
	// The slot is free for the next.
	r.run(opEntry, b, 1)
	r.wantSlot(b, b.key(), 1, 0)
}

// TestFastSlotDeadOwner: a task that died with its invocation open leaves
// it in its slot; the task that next gets its stack region takes the slot
// over with an invocation of its own, without the dead one's records, and
// a task of another region sharing the slot does not.
func TestFastSlotDeadOwner(t *testing.T) {
	r := newSlotRig(t)
	dead := task{region: 0x30000, tid: r.tid + 1}
	r.run(opEntry, dead, 1)
	r.run(opStmt, dead, 1)
	r.run(opStmt, dead, 1)
	r.wantSlot(dead, dead.key(), 1, 2)
	other := dead
	other.tid = r.tid
	for other.region++; r.index(other.region) != r.index(dead.region); other.region++ {
	}
	r.run(opEntry, other, 1)
	r.wantSlot(dead, dead.key(), 1, 2)
	r.run(opReturn, other, 1)
	next := task{region: dead.region, tid: r.tid}
	r.run(opEntry, next, 1)
	r.wantSlot(next, next.key(), 1, 0)
	r.run(opStmt, next, 1)
	r.run(opReturn, next, 1)
	r.wantSlot(next, 0, 0, 1)
	if got := r.recorded(); got != 1 {
		t.Errorf("%d statements counted, want 1 (the dead task's 2 are not)", got)
	}
}

// TestFastSlotExit: a task that exits with its invocation open frees its
// fast slot (the exit program), without counting the invocation's
// statements, and leaves another task's slot alone.
func TestFastSlotExit(t *testing.T) {
	r := newSlotRig(t)
	me := r.self()
	if me.tid != r.tid {
		t.Fatalf("the exit program's key names tid %d, want %d", me.tid, r.tid)
	}
	other := task{region: me.region + 1, tid: r.tid}
	for r.index(other.region) == r.index(me.region) {
		other.region++
	}
	r.run(opEntry, me, 1)
	r.run(opStmt, me, 1)
	r.run(opEntry, other, 1)
	r.wantSlot(me, me.key(), 1, 1)
	if _, err := r.exit.Run(&ebpf.RunOptions{Context: []uint64{0, 0}}); err != nil {
		t.Fatal(err)
	}
	r.wantSlot(me, 0, 0, 1)
	r.wantSlot(other, other.key(), 1, 0)
	r.run(opStmt, me, 2)
	if got := r.recorded(); got != 0 {
		t.Errorf("%d statements counted, want 0", got)
	}
}
