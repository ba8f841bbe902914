package session

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/whythefail/whythefail/bpfgen"
)

// Trace is one committed invocation: the statements it ran, in order, with
// the variables read at each.
type Trace struct {
	PID, TID uint32
	Comm     string
	Depth    uint32 // recursion level of the invocation, 1 for the outermost
	Return   int64  // rax, sign-extended by the plan's return size
	Args     [6]uint64
	Records  []Record
	// Truncated counts statements that ran but are missing from Records:
	// the buffer keeps an invocation's first statements and its latest
	// ones, and drops those in between. They were dropped just before
	// Records[TruncatedAt] (the number of first statements kept).
	Truncated   uint32
	TruncatedAt int
	// Branch is the last branch probe's record (bpfgen.Stmt.Branch), nil
	// when none ran or the plan has none; BranchAfter is how many
	// statements ran before it, counting the Truncated ones.
	Branch      *Record
	BranchAfter int
	// Bias is how far the traced binary's code moved at run time (the
	// entry's ip less its link-time address).
	Bias uint64
	// Stack is the copy of the user stack at the function's entry
	// (bpfgen.Spec.Stack, for --backtrace); nil without one.
	Stack *Stack
}

// Stack is the user stack at an invocation's entry: the registers an
// unwinder starts from and the stack's bytes from rsp up.
type Stack struct {
	// Regs holds the bpfgen.StackRegs by DWARF register number.
	Regs map[uint64]uint64
	// Bytes is the stack from Regs[rsp] up; shorter than asked near the
	// stack's top (or empty when even the first chunk faulted).
	Bytes []byte
	// Maps is the process's /proc/PID/maps as the session read it on the
	// trace's arrival, or the last copy read earlier when the process had
	// exited by then; nil when it was never read.
	Maps []byte
}

// Record is one statement hit.
type Record struct {
	StmtID uint32
	Values []Value // one per variable of the statement, in plan order
}

// Value is one variable read. OK is false when it could not be read
// (unsupported location, faulting read); U64 and Bytes are then zero.
type Value struct {
	U64 uint64
	OK  bool

	// Bytes is a string variable's bytes up to its NUL (ir.Var.Str);
	// nil for scalars. Truncated says the string had no NUL within the
	// bytes read: it is at least that long, and Bytes holds its start.
	Bytes     []byte
	Truncated bool

	// Unreadable says a string variable's pointer was read but its
	// characters could not be: U64 is the pointer, 0 for NULL, and Bytes
	// is nil.
	Unreadable bool
}

// maxValues bounds the value slots per record a decoder accepts: the
// generator never makes more.
const maxValues = bpfgen.MaxSlots

// Decode parses one ring-buffer sample whose records hold one 8-byte scalar
// per slot (plans without strings, where variable i is slot i). Records carry
// every slot of the layout; Session trims them to each statement's variables.
func Decode(b []byte) (*Trace, error) { return DecodeSlots(b, nil) }

// DecodeSlots parses one ring-buffer sample: an invocation buffer's header
// and its used records (layout in bpfgen.Layout). slots gives, per statement
// id, where each variable sits in the record (bpfgen.Slots of the statement's
// variables); records then get one Value per variable. With a nil map every
// slot is one scalar Value, as Decode does. A record of a statement missing
// from a non-nil map, or whose slots exceed the record, is an error.
func DecodeSlots(b []byte, slots map[uint32][]bpfgen.Slot) (*Trace, error) {
	if len(b) < bpfgen.HeaderSize {
		return nil, fmt.Errorf("decoding trace: %d bytes is shorter than the %d-byte header", len(b), bpfgen.HeaderSize)
	}
	le := binary.LittleEndian
	nvals := int(le.Uint32(b[bpfgen.OffValues:]))
	if nvals > maxValues {
		return nil, fmt.Errorf("decoding trace: %d values per record, at most %d expected", nvals, maxValues)
	}
	l := bpfgen.Layout{Values: nvals, Branch: le.Uint32(b[bpfgen.OffBranch:]) != 0, Stack: int(le.Uint32(b[bpfgen.OffStack:]))}
	if l.Stack > bpfgen.MaxStack {
		return nil, fmt.Errorf("decoding trace: a stack copy of %d bytes, at most %d expected", l.Stack, bpfgen.MaxStack)
	}
	count := int(le.Uint32(b[bpfgen.OffCount:]))
	rs := l.RecordSize()
	base := l.RecordsOffset()
	if want := base + count*rs; len(b) < base || count > (len(b)-base)/rs || len(b) != want {
		return nil, fmt.Errorf("decoding trace: %d records of %d bytes need %d bytes, sample has %d", count, rs, base+count*rs, len(b))
	}
	comm := b[bpfgen.OffComm : bpfgen.OffComm+16]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	t := &Trace{
		TID:       le.Uint32(b[bpfgen.OffTID:]),
		PID:       le.Uint32(b[bpfgen.OffPID:]),
		Comm:      string(comm),
		Depth:     le.Uint32(b[bpfgen.OffDepth:]),
		Return:    int64(le.Uint64(b[bpfgen.OffReturn:])),
		Truncated: le.Uint32(b[bpfgen.OffTruncated:]),
		Records:   make([]Record, count),
		Bias:      le.Uint64(b[bpfgen.OffBias:]),
	}
	if l.Stack > 0 {
		a := b[l.StackOffset():]
		st := &Stack{Regs: make(map[uint64]uint64, len(bpfgen.StackRegs))}
		for i, r := range bpfgen.StackRegs {
			st.Regs[r] = le.Uint64(a[bpfgen.StackOffRegs+8*i:])
		}
		n := le.Uint64(a[bpfgen.StackOffLen:])
		if n > uint64(l.Stack) {
			return nil, fmt.Errorf("decoding trace: %d bytes of stack copied into a %d-byte area", n, l.Stack)
		}
		st.Bytes = append([]byte{}, a[bpfgen.StackOffBytes:bpfgen.StackOffBytes+int(n)]...)
		t.Stack = st
	}
	for i := range t.Args {
		t.Args[i] = le.Uint64(b[bpfgen.OffArgs+8*i:])
	}
	// order lists the records in the order the statements ran: the head,
	// then the ring from its oldest record (bpfgen.Layout).
	order := make([]int, count)
	for i := range order {
		order[i] = i
	}
	if t.Truncated > 0 {
		head := int(le.Uint32(b[bpfgen.OffHead:]))
		if head >= count {
			return nil, fmt.Errorf("decoding trace: %d statements dropped but the %d records are all head records (%d)", t.Truncated, count, head)
		}
		ring := count - head
		oldest := int(t.Truncated % uint32(ring))
		for i := range ring {
			order[head+i] = head + (oldest+i)%ring
		}
		t.TruncatedAt = head
	}
	if l.Branch {
		r := b[bpfgen.HeaderSize : bpfgen.HeaderSize+rs]
		if seq := le.Uint32(r[bpfgen.RecOffSeq:]); seq != 0 {
			rec, err := decodeRecord(r, -1, nvals, slots)
			if err != nil {
				return nil, err
			}
			t.Branch, t.BranchAfter = &rec, int(seq-1)
		}
	}
	for i := range t.Records {
		o := base + order[i]*rs
		rec, err := decodeRecord(b[o:o+rs], i, nvals, slots)
		if err != nil {
			return nil, err
		}
		t.Records[i] = rec
	}
	return t, nil
}

// decodeRecord decodes record i (-1: the branch record) of a sample.
func decodeRecord(r []byte, i, nvals int, slots map[uint32][]bpfgen.Slot) (Record, error) {
	le := binary.LittleEndian
	id, mask, unread := le.Uint32(r[bpfgen.RecOffID:]), le.Uint64(r[bpfgen.RecOffMask:]), le.Uint64(r[bpfgen.RecOffUnread:])
	vals := r[bpfgen.RecOffValues:]
	var out []Value
	if slots == nil {
		out = make([]Value, nvals)
		for j := range out {
			if mask&(1<<j) != 0 {
				out[j] = Value{U64: le.Uint64(vals[8*j:]), OK: true}
			}
		}
	} else {
		sl, ok := slots[id]
		if !ok {
			return Record{}, fmt.Errorf("decoding trace: record %d is of statement %d, which is not in the plan", i, id)
		}
		out = make([]Value, len(sl))
		for j, s := range sl {
			if s.First < 0 || s.N < 0 || s.First+s.N > nvals {
				return Record{}, fmt.Errorf("decoding trace: statement %d variable %d needs slots %d to %d, records have %d", id, j, s.First, s.First+s.N, nvals)
			}
			if j >= 64 || s.N == 0 || mask&(1<<j) == 0 {
				continue
			}
			data := vals[8*s.First : 8*(s.First+s.N)]
			if !s.Str {
				out[j] = Value{U64: le.Uint64(data), OK: true}
				continue
			}
			if unread&(1<<j) != 0 {
				out[j] = Value{U64: le.Uint64(data), OK: true, Unreadable: true}
				continue
			}
			v := Value{OK: true, Truncated: true}
			if k := bytes.IndexByte(data, 0); k >= 0 {
				data, v.Truncated = data[:k], false
			}
			v.Bytes = append([]byte{}, data...)
			out[j] = v
		}
	}
	return Record{StmtID: id, Values: out}, nil
}

// String renders a trace compactly for test failures and debugging.
func (t *Trace) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s[%d/%d] depth %d return %d truncated %d:", t.Comm, t.PID, t.TID, t.Depth, t.Return, t.Truncated)
	for i, r := range t.Records {
		if t.Truncated > 0 && i == t.TruncatedAt {
			fmt.Fprintf(&b, " ...%d...", t.Truncated)
		}
		fmt.Fprintf(&b, " %d(", r.StmtID)
		for i, v := range r.Values {
			if i > 0 {
				b.WriteByte(' ')
			}
			switch {
			case v.OK && v.Unreadable:
				fmt.Fprintf(&b, "*%#x", v.U64)
			case v.OK && v.Bytes != nil:
				fmt.Fprintf(&b, "%q", v.Bytes)
				if v.Truncated {
					b.WriteString("...")
				}
			case v.OK:
				fmt.Fprintf(&b, "%d", int64(v.U64))
			default:
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}
