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
	// Truncated counts statements that ran after the buffer was full; they
	// are missing from Records.
	Truncated uint32
}

// Record is one statement hit.
type Record struct {
	StmtID uint32
	Values []Value // one per variable of the statement, in plan order
}

// Value is one variable read. OK is false when it could not be read
// (unsupported location, faulting read); U64 is then zero.
type Value struct {
	U64 uint64
	OK  bool
}

// maxValues bounds the values per record a decoder accepts: the generator
// never makes more.
const maxValues = bpfgen.MaxVars

// Decode parses one ring-buffer sample: an invocation buffer's header and its
// used records (layout in bpfgen.Layout). Records carry every value slot of
// the layout; Session trims them to each statement's variables.
func Decode(b []byte) (*Trace, error) {
	if len(b) < bpfgen.HeaderSize {
		return nil, fmt.Errorf("decoding trace: %d bytes is shorter than the %d-byte header", len(b), bpfgen.HeaderSize)
	}
	le := binary.LittleEndian
	nvals := int(le.Uint32(b[bpfgen.OffValues:]))
	if nvals > maxValues {
		return nil, fmt.Errorf("decoding trace: %d values per record, at most %d expected", nvals, maxValues)
	}
	l := bpfgen.Layout{Values: nvals}
	count := int(le.Uint32(b[bpfgen.OffCount:]))
	rs := l.RecordSize()
	if want := bpfgen.HeaderSize + count*rs; count > (len(b)-bpfgen.HeaderSize)/rs || len(b) != want {
		return nil, fmt.Errorf("decoding trace: %d records of %d bytes need %d bytes, sample has %d", count, rs, bpfgen.HeaderSize+count*rs, len(b))
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
	}
	for i := range t.Args {
		t.Args[i] = le.Uint64(b[bpfgen.OffArgs+8*i:])
	}
	for i := range t.Records {
		r := b[bpfgen.HeaderSize+i*rs : bpfgen.HeaderSize+(i+1)*rs]
		mask := le.Uint64(r[8:])
		vals := make([]Value, nvals)
		for j := range vals {
			if mask&(1<<j) != 0 {
				vals[j] = Value{U64: le.Uint64(r[16+8*j:]), OK: true}
			}
		}
		t.Records[i] = Record{StmtID: le.Uint32(r), Values: vals}
	}
	return t, nil
}

// String renders a trace compactly for test failures and debugging.
func (t *Trace) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s[%d/%d] depth %d return %d truncated %d:", t.Comm, t.PID, t.TID, t.Depth, t.Return, t.Truncated)
	for _, r := range t.Records {
		fmt.Fprintf(&b, " %d(", r.StmtID)
		for i, v := range r.Values {
			if i > 0 {
				b.WriteByte(' ')
			}
			if v.OK {
				fmt.Fprintf(&b, "%d", int64(v.U64))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}
