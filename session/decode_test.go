package session

import (
	"context"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/bpfgen"
)

// sample builds a buffer the way the BPF programs lay it out.
func sample(nvals int, recs []Record) []byte {
	l := bpfgen.Layout{Values: nvals}
	b := make([]byte, bpfgen.HeaderSize+len(recs)*l.RecordSize())
	le := binary.LittleEndian
	le.PutUint32(b[bpfgen.OffTID:], 101)
	le.PutUint32(b[bpfgen.OffPID:], 100)
	copy(b[bpfgen.OffComm:], "prog")
	le.PutUint64(b[bpfgen.OffReturn:], uint64(^uint64(21))) // -22
	le.PutUint32(b[bpfgen.OffCount:], uint32(len(recs)))
	le.PutUint32(b[bpfgen.OffTruncated:], 3)
	le.PutUint64(b[bpfgen.OffArgs:], 13)
	le.PutUint32(b[bpfgen.OffDepth:], 2)
	le.PutUint32(b[bpfgen.OffValues:], uint32(nvals))
	for i, r := range recs {
		o := bpfgen.HeaderSize + i*l.RecordSize()
		le.PutUint32(b[o:], r.StmtID)
		var mask uint64
		for j, v := range r.Values {
			if v.OK {
				mask |= 1 << j
				le.PutUint64(b[o+16+8*j:], v.U64)
			}
		}
		le.PutUint64(b[o+8:], mask)
	}
	return b
}

func TestDecode(t *testing.T) {
	recs := []Record{
		{StmtID: 7, Values: []Value{{U64: 13, OK: true}, {}}},
		{StmtID: 9, Values: []Value{{}, {U64: ^uint64(0), OK: true}}},
	}
	got, err := Decode(sample(2, recs))
	if err != nil {
		t.Fatal(err)
	}
	want := &Trace{PID: 100, TID: 101, Comm: "prog", Depth: 2, Return: -22, Args: [6]uint64{13}, Records: recs, Truncated: 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%v\nwant\n%v", got, want)
	}
	if s, w := got.String(), "prog[100/101] depth 2 return -22 truncated 3: 7(13 ?) 9(? -1)"; s != w {
		t.Errorf("String = %q, want %q", s, w)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := sample(1, []Record{{StmtID: 1, Values: []Value{{U64: 1, OK: true}}}})
	binary.LittleEndian.PutUint32(good[bpfgen.OffCount:], 1<<31)
	hugeValues := sample(0, nil)
	binary.LittleEndian.PutUint32(hugeValues[bpfgen.OffValues:], 65)
	for name, b := range map[string][]byte{
		"short header":   make([]byte, bpfgen.HeaderSize-1),
		"count overflow": good,
		"too many vals":  hugeValues,
		"trailing bytes": append(sample(0, nil), 0),
	} {
		if tr, err := Decode(b); err == nil || tr != nil {
			t.Errorf("%s: Decode = %v, %v; want an error", name, tr, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sample(2, []Record{{StmtID: 7, Values: []Value{{U64: 13, OK: true}, {}}}}))
	f.Add(sample(0, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := Decode(b)
		if (tr == nil) == (err == nil) {
			t.Fatalf("Decode = %v, %v: want exactly one of trace and error", tr, err)
		}
		if tr != nil {
			_ = tr.String()
		}
	})
}

// TestStartErrors covers the failures found before touching the kernel.
func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		plan Plan
		opts Options
		want string
	}{
		{Plan{}, Options{}, "no process to trace: give process ids or trace all processes"},
		{Plan{RetSize: 5}, Options{TraceAll: true}, "generating BPF programs: return size 5 is not 0, 1, 2, 4 or 8"},
	} {
		s, err := Start(context.Background(), tc.plan, tc.opts)
		if s != nil || err == nil || err.Error() != tc.want {
			t.Errorf("Start = %v, %v; want error %q", s, err, tc.want)
		}
	}
}
