package bpfgen

import (
	"fmt"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

// CFARule is the canonical frame address at a probe pc as "register plus
// offset": the CFI rule the caller read from .eh_frame or .debug_frame.
// DW_OP_call_frame_cfa (directly, or through a frame base) needs it.
//
// The zero value (rax+0) never describes a real x86-64 frame, so it means "no
// rule known": variables that need the CFA are then unavailable rather than
// read from a wrong address.
type CFARule struct {
	Reg    uint64 // DWARF register number
	Offset int64
}

// known reports whether the rule can be used.
func (r CFARule) known() bool {
	_, ok := abi.PtRegsOffset(r.Reg)
	return ok && r != (CFARule{})
}

// Stmt is one statement probe point.
type Stmt struct {
	ID         uint32 // reported back in each record
	PC         uint64 // link-time address (for DW_OP_addr in PIE: load bias = ip - PC)
	FileOffset uint64 // where the uprobe goes; for a kprobe, the offset in Symbol
	// Symbol is, for kprobes (target.AttachKprobe), the function symbol
	// the kprobe goes to, at FileOffset bytes from its start; empty for
	// uprobes.
	Symbol string
	// Binary is, for a uprobe in another file than the traced one (a
	// shared library --follow follows a call into), that file's path;
	// FileOffset is then an offset in it. Empty for the traced binary.
	Binary string
	CFA    CFARule
	Vars   []ir.Var
	// Branch marks a probe on a conditional jump (package verdict): it
	// writes the buffer's one branch record (see Layout) instead of a
	// statement record, and the statement count does not count it.
	Branch bool
	// Succ, when not nil, says that the statement's probe is on the
	// jump that leads to it (probe placement, package probe/place): it
	// is recorded only when the jump goes its way, after every other
	// statement and branch probe at the same offset, which observe what
	// runs before the jump. Every statement at that offset is then
	// recorded by one program, in that order. A statement that several
	// jumps enter has a successor probe on each: statements with Succ
	// may share their id, since at most one of them runs per visit.
	Succ *Succ
	// ReturnInto, when set, records the statement only when the return
	// address at the top of the stack, less the load bias, lies in one
	// of these link-time ranges (half-open): a probe at a callee's entry
	// or return that keeps only the calls one function makes.
	ReturnInto [][2]uint64
	// Order places the probe among the others at its address, which one
	// program records one after the other (see stmtGroups): the kernel
	// runs the probes of one address in an order of its own (the reverse
	// of their attachment, for uprobes and kprobes alike), not the order
	// in which their code runs.
	Order Order
}

// Order is where a probe's record goes among the records of the probes
// at its address (Stmt.Order): arrivals, then statements, then
// departures, then branch probes (Stmt.Branch), then successors
// (Stmt.Succ); plan order within each.
type Order int

const (
	// OrderStatement is a statement's probe: its line's code starts
	// there (or it was placed there, before its code runs).
	OrderStatement Order = iota
	// OrderArrival is a probe that observes control arriving from
	// elsewhere: at a callee's entry (the call was made) or at a
	// return address, or the instruction a return probe was placed on
	// after it (the callee came back). That happened before any code
	// of a statement at the address ran.
	OrderArrival
	// OrderDeparture is a probe on an instruction that leaves for
	// elsewhere: a call, or a callee's ret. A statement at the same
	// address (the call's line, placed onto the call; the callee's last
	// line) runs its code first.
	OrderDeparture
)

// Succ is the jump a statement's probe sits on (Stmt.Succ).
type Succ struct {
	// Cond is a conditional jump's condition code, the low nibble of its
	// opcode (0 jo ... 15 jg), or -1 for a jmp, which always jumps.
	Cond int
	// Taken records the statement when the jump jumps (it is the
	// target); false, when it falls through.
	Taken bool
	// At is the statement's own link-time address. Successors at one
	// probe that may all run (statements on one straight line, recorded
	// before their code runs) are recorded in this order, which is the
	// order their code runs in.
	At uint64
}

// Spec is everything the generator needs to build the programs of one traced
// function. It is a plain description: generating from it never touches the
// kernel.
type Spec struct {
	// Space is the memory the target's variables live in: the programs
	// read it with bpf_probe_read_user, or bpf_probe_read_kernel for the
	// kernel. The zero value is user space.
	Space target.AddressSpace

	// EntryOffset is the file offset of the function's first instruction,
	// where the entry uprobe and the uretprobe go.
	EntryOffset uint64
	// EntrySymbol is, for kprobes, the symbol of the traced function
	// (EntryOffset is then 0): a statement at EntrySymbol+EntryOffset is
	// recorded by the entry program.
	EntrySymbol string
	// FexitReturn makes the return program an fexit program attached to
	// EntrySymbol (kernel targets whose kernel allows it) instead of a
	// kretprobe: it has no instance limit, so no return is missed. It
	// reads the return value with bpf_get_func_ret.
	FexitReturn bool
	// EntryPC is that instruction's link-time address: the entry program
	// records how far the code moved at run time (the load bias, ip -
	// EntryPC), which places globals in conditions (GlobalAddr).
	EntryPC uint64

	// RetSize is the size in bytes of the return type (1, 2, 4 or 8; 0 for
	// void): rax is sign-extended from it unless RetUnsigned, so an int
	// returning -22 compares equal to -22.
	RetSize     int
	RetUnsigned bool

	Stmts []Stmt

	// Cond decides at return whether the invocation's trace is kept; nil
	// keeps every invocation.
	Cond ir.Cond

	// Errno says where errno() finds the calling thread's errno; nil
	// when neither the condition nor a variable uses it.
	Errno *ErrnoLocation

	// TraceAll disables the target filter: every process running the
	// binary is traced. Otherwise only tgids in the targets map are, and
	// the fork tracker (ProgFork, ProgExit) adds the processes they create.
	TraceAll bool
	// QuietOrphans leaves uncounted the statement hits of a target's
	// thread that has no open invocation (StatMissingBuffer counts them
	// otherwise): set when statement probes sit in code that is called
	// from elsewhere too (--follow's call sites in callees, a followed
	// origin's statements), where such hits are the normal case.
	QuietOrphans bool

	// Multi generates for uprobe_multi links (kernel 6.6 and later), which
	// attach many offsets at once and detach with one wait instead of one
	// per probe: the statements are recorded by a few programs (one unless
	// the function is very large, see StmtsProgramName), each choosing
	// the statement by its attach cookie (the statement's index in
	// Stmts), and every program is loaded for that attach type. Otherwise
	// each statement has a program of its own, for single uprobes.
	Multi bool

	// MaxRecords bounds the statement records kept per invocation (default
	// 512): the first HeadRecords(MaxRecords) statements, then a ring of the
	// latest ones, so a long invocation keeps its start and its end;
	// MaxInvocations bounds the invocations alive at once across all
	// threads and recursion levels (default 256); RingBufSize is the ring
	// buffer size in bytes, a power of two multiple of the page size
	// (default 4 MiB); MaxTargets bounds the traced tgids (default 4096).
	MaxRecords     int
	MaxInvocations int
	RingBufSize    int
	MaxTargets     int

	// FaultIn reads strings whose pages are not in memory yet: the
	// programs that read strings are sleepable (ProgramSpec.Flags has
	// FlagSleepable) and fault the pages in with bpf_copy_from_user. The
	// session sets it when the kernel loads such programs; without it a
	// string on a page not yet touched prints as its address.
	FaultIn bool

	// Stack is, for --backtrace, how many bytes of the user stack the
	// entry program copies into the invocation buffer, from the stack
	// pointer up, with the registers an unwinder needs (see Layout.Stack);
	// 0 copies nothing. A multiple of StackChunk, at most MaxStack; user
	// space only.
	Stack int
}

// StackChunk is the unit of the stack copy: the entry program reads the
// stack in chunks of this many bytes and stops at the first that faults
// (the top of the stack), so a copy near the top keeps what is there.
// MaxStack bounds Spec.Stack. DefaultStack is what --backtrace copies.
const (
	StackChunk   = 512
	MaxStack     = 16 << 10
	DefaultStack = 8 << 10
)

// AnnounceSize is the size of the sample the entry program sends, with
// Spec.Stack, on a process's first invocation: its tgid as a u64, so that
// user space reads the process's memory map while it still runs (a trace
// arrives after the return, when a short-lived process may be gone).
// Invocation buffers are always larger.
const AnnounceSize = 8

// StackRegs are the registers the stack area holds, in order, as DWARF
// register numbers: rip (the function's entry), rsp (pointing at the
// return address), and the registers the x86-64 ABI preserves across
// calls, which CFI may say a caller's frame keeps in them.
var StackRegs = [...]uint64{abi.RIP, abi.RSP, abi.RBP, abi.RBX, abi.R12, abi.R13, abi.R14, abi.R15}

// Stack area fields, from the area's start (Layout.StackOffset).
const (
	StackOffRegs  = 0                  // [len(StackRegs)]u64
	StackOffLen   = 8 * len(StackRegs) // u64 bytes of the stack copied
	StackOffBytes = StackOffLen + 8    // the copy, from the stack pointer up
)

// FlagSleepable is BPF_F_SLEEPABLE, the ProgramSpec.Flags bit of a program
// that may sleep (fault user pages in).
const FlagSleepable = 1 << 4

// HeadRecords is how many of an invocation's first statements are always
// kept out of maxRecords: a quarter, at most 64. The other records form a
// ring that holds the latest statements.
func HeadRecords(maxRecords int) int { return min(maxRecords/4, 64) }

// MaxVars is the most variables a statement can record: the valid bits are one
// 64-bit mask. MaxSlots is the most 8-byte value slots a record has: a scalar
// takes one, a string Str/8, so a statement fits for example 64 scalars, or 7
// strings of 64 bytes and 8 scalars. Both are kept small because every record
// of every invocation buffer is as large as the largest statement's.
const (
	MaxVars  = 64
	MaxSlots = 64
)

// Slot says where a variable's value sits in its statement's records.
type Slot struct {
	First int  // index of the first 8-byte value slot
	N     int  // slots taken: 1 for a scalar, Str/8 for a string, 0 when there was no room (never read)
	Str   bool // the slots hold a string's bytes rather than one value
}

// Slots assigns record slots to a statement's variables, in order. The session
// decodes records with the same assignment. Every variable, even one that is
// not read (aggregates, missing locations), takes its slots, so for a
// statement without strings variable i is slot i.
func Slots(vars []ir.Var) []Slot {
	out := make([]Slot, len(vars))
	next := 0
	for i, v := range vars {
		n := 1
		if validStr(v.Str) {
			n = v.Str / 8
		}
		if i >= MaxVars || next+n > MaxSlots {
			continue
		}
		out[i] = Slot{First: next, N: n, Str: v.Str != 0}
		next += n
	}
	return out
}

// slotsUsed is how many slots a statement's records need.
func slotsUsed(slots []Slot) int {
	n := 0
	for _, s := range slots {
		n = max(n, s.First+s.N)
	}
	return n
}

func validStr(n int) bool { return n > 0 && n <= ir.MaxStr && n%8 == 0 }

// Layout describes the bytes of an invocation buffer, which is also what the
// return program copies into the ring buffer (only the used prefix).
//
// Header (all little endian):
//
//	0   u32 tid
//	4   u32 pid (tgid)
//	8   [16]byte comm
//	24  i64 return value (rax, sign-extended by the return size)
//	32  u32 record count (at most MaxRecords)
//	36  u32 truncated (statements not recorded: overwritten in the ring)
//	40  [6]u64 argument registers at entry: rdi rsi rdx rcx r8 r9
//	88  u32 depth (recursion level, 1 for the outermost call)
//	92  u32 value slots per record
//	96  u64 load bias (ip - EntryPC at entry)
//	104 u32 head (HeadRecords(MaxRecords))
//	108 u32 branch: 1 when the buffer has a branch record (Layout.Branch)
//	112 u64 address of the thread's errno (0: unknown), see ErrnoLocation
//	120 u32 stack: Layout.Stack, the bytes of the stack area's copy (0: none)
//	124 u32 zero
//
// With Layout.Branch, one branch record follows the header, before the
// statement records: the latest branch probe's (Stmt.Branch) record, each
// branch overwriting it. Its second u32 is the number of statements that ran
// before that branch (recorded or dropped) plus one; 0 means no branch ran.
// Branches thus never take statement records, and the trace keeps only the
// branch the verdict needs: the last one.
//
// With Layout.Stack, the stack area follows (after the branch record, if
// any): the StackRegs at the function's entry, the number of bytes copied,
// then Stack bytes of the user stack from rsp up (StackOffRegs, StackOffLen,
// StackOffBytes). It is always sent with the trace.
//
// Records follow, each RecordSize bytes: u32 statement id, u32 zero, u64
// valid mask (bit i: variable i of the statement was read), u64 unread mask
// (bit i: variable i is a string whose pointer was read but whose characters
// could not be: its first slot holds the pointer, 0 for NULL), then Values
// 8-byte slots. Slots(stmt.Vars) says which slots hold which variable: a
// scalar is one u64 slot, a string fills its Str/8 slots with its bytes up to
// and including the NUL; a string with no NUL in its Str bytes is at least
// Str bytes long, and only its first Str bytes were kept.
//
// Record placement: the first MaxRecords statements fill the records in
// order. After that each statement overwrites a record of the ring, records
// head to MaxRecords-1, at head + truncated % (MaxRecords-head), and
// truncated counts one more. So when truncated > 0 the trace in order is
// records [0, head), then the ring from head + truncated % (MaxRecords-head)
// round to the record before it, and the truncated statements were dropped
// between record head-1 and the oldest ring record.
type Layout struct {
	Values     int // 8-byte value slots per record
	MaxRecords int
	Branch     bool // a branch record precedes the statement records
	Stack      int  // bytes of the stack copy (Spec.Stack); 0: no stack area
}

// Header field offsets, see Layout.
const (
	OffTID       = 0
	OffPID       = 4
	OffComm      = 8
	OffReturn    = 24
	OffCount     = 32
	OffTruncated = 36
	OffArgs      = 40
	OffDepth     = 88
	OffValues    = 92
	OffBias      = 96
	OffHead      = 104
	OffBranch    = 108
	OffErrno     = 112
	OffStack     = 120
	HeaderSize   = 128

	// Record fields.
	RecOffID     = 0
	RecOffSeq    = 4 // branch record only: statements before it, plus one
	RecOffMask   = 8
	RecOffUnread = 16
	RecOffValues = 24
	recHdrBytes  = 24
)

// RecordSize is the size of one statement record.
func (l Layout) RecordSize() int { return recHdrBytes + 8*l.Values }

// StackOffset is where the stack area starts (meaningful with Stack):
// after the header and, with Branch, the branch record.
func (l Layout) StackOffset() int {
	if l.Branch {
		return HeaderSize + l.RecordSize()
	}
	return HeaderSize
}

// RecordsOffset is where the statement records start in a buffer: after
// the header, the branch record (with Branch) and the stack area (with
// Stack).
func (l Layout) RecordsOffset() int {
	if l.Stack > 0 {
		return l.StackOffset() + StackOffBytes + l.Stack
	}
	return l.StackOffset()
}

// BufferSize is the size of a whole invocation buffer.
func (l Layout) BufferSize() int { return l.RecordsOffset() + l.MaxRecords*l.RecordSize() }

// Stat indexes the statistics counters (a per-CPU array).
type Stat uint32

// The statistics counters.
const (
	StatEntries       Stat = iota // entry probe hits that created a buffer
	StatExitHit                   // returns whose condition held (committed)
	StatExitMiss                  // returns whose condition failed (discarded)
	StatStatements                // statement records written into a free record (counted when the invocation returns)
	StatRingbufDrops              // committed traces lost: ring buffer full
	StatTruncations               // statement records that overwrote an older one (buffer full; counted when the invocation returns)
	StatMissingBuffer             // statement or return hits with no live invocation
	StatEntryDrops                // entry hits that could not create a buffer
	StatErrnoUnknown              // invocations whose errno could not be found (errno() in use)
	NumStats
)

var statNames = [...]string{"entries", "exit-hit", "exit-miss", "statements", "ringbuf-drops", "truncations", "missing-buffer", "entry-drops", "errno-unknown"}

// String names the counter as reports print it.
func (s Stat) String() string {
	if int(s) < len(statNames) {
		return statNames[s]
	}
	return fmt.Sprintf("stat(%d)", uint32(s))
}

// Map names in the generated collection.
const (
	MapTargets = "wtf_targets" // hash: u32 tgid -> u32 1
	MapBufs    = "wtf_bufs"    // LRU hash: u64 thread key | slot<<56 -> buffer: slot 0 the open invocation, slot d a caller's saved at depth d
	MapZero    = "wtf_zero"    // array[1]: an all-zero buffer to initialise from
	MapSlots   = "wtf_slots"   // array of {u64 owner's thread key, u64 count of invocations in MapBufs, buffer}: kernel targets' fast slots (see fastSlots)
	MapStats   = "wtf_stats"   // per-CPU array[NumStats] u64
	MapEvents  = "wtf_events"  // ring buffer of committed buffers
	MapPending = "wtf_pending" // LRU hash: u64 task_struct address -> u32 tgid of the target that forked it
	MapSeen    = "wtf_seen"    // LRU hash: u64 tgid -> u64 tgid, the processes announced (Spec.Stack only)
)

// Program names in the generated collection. Statement programs are named
// StmtProgramName(i) for Spec.Stmts[i], or StmtsProgramName(k) with
// Spec.Multi; the statements at the entry offset are recorded by the entry
// program instead (in plan order), so they have no program of their own.
const (
	ProgEntry  = "wtf_entry"
	ProgReturn = "wtf_return"
	ProgFork   = "wtf_fork" // raw tracepoint RawTPFork; absent with TraceAll
	ProgExit   = "wtf_exit" // raw tracepoint RawTPExit; absent with TraceAll
)

// The raw tracepoints the fork tracker attaches to, by name: raw
// tracepoints attach through the bpf syscall, so they need neither tracefs
// nor debugfs mounted.
const (
	RawTPFork = "task_newtask"       // copy_process, in the parent, before the child first runs
	RawTPExit = "sched_process_exit" // do_exit, in the exiting task
)

// StmtProgramName names the program of Spec.Stmts[i].
func StmtProgramName(i int) string { return fmt.Sprintf("wtf_stmt_%d", i) }

// StmtsProgramName names the k-th program recording several statements,
// with Spec.Multi. Statements go to program 0 until it holds about
// MaxStmtsInsns instructions, then to program 1, and so on: the verifier's
// time grows with the square of a statement chain's length, so short
// programs verify much faster in total (measured on glibc's getaddrinfo,
// 24,300 instructions: 270 ms as one program, 110 ms as two, about 45 ms
// as eight), and they verify side by side on several CPUs.
func StmtsProgramName(k int) string { return fmt.Sprintf("wtf_stmts_%d", k) }

// MaxStmtsInsns is about the most instructions a program of several
// statements gets (StmtsProgramName); a variable for tests.
var MaxStmtsInsns = 3000

// Warning says that a variable at a statement will print as unavailable and why.
type Warning struct {
	StmtID uint32
	Var    string
	Reason string
}

// String is the warning as shown to users.
func (w Warning) String() string {
	return fmt.Sprintf("statement %d: variable %s unavailable: %s", w.StmtID, w.Var, w.Reason)
}
