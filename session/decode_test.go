package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/expr/ir"
)

// sample builds a buffer the way the BPF programs lay it out, with no
// statement dropped.
func sample(nvals int, recs []Record) []byte {
	l := bpfgen.Layout{Values: nvals}
	b := make([]byte, bpfgen.HeaderSize+len(recs)*l.RecordSize())
	le := binary.LittleEndian
	le.PutUint32(b[bpfgen.OffTID:], 101)
	le.PutUint32(b[bpfgen.OffPID:], 100)
	copy(b[bpfgen.OffComm:], "prog")
	le.PutUint64(b[bpfgen.OffReturn:], uint64(^uint64(21))) // -22
	le.PutUint32(b[bpfgen.OffCount:], uint32(len(recs)))
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
				le.PutUint64(b[o+bpfgen.RecOffValues+8*j:], v.U64)
			}
		}
		le.PutUint64(b[o+bpfgen.RecOffMask:], mask)
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
	want := &Trace{PID: 100, TID: 101, Comm: "prog", Depth: 2, Return: -22, Args: [6]uint64{13}, Records: recs}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%v\nwant\n%v", got, want)
	}
	if s, w := got.String(), "prog[100/101] depth 2 return -22 truncated 0: 7(13 ?) 9(? -1)"; s != w {
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

// stringSlots is a statement with a scalar, a 16-byte string and an
// 8-byte string: slots 0, 1-2 and 3.
var stringSlots = map[uint32][]bpfgen.Slot{
	4: bpfgen.Slots([]ir.Var{{Size: 4}, {Str: 16}, {Str: 8}}),
	5: bpfgen.Slots([]ir.Var{{Str: 8}}),
}

// stringSample is a record of statement 4 with the given slot bytes, valid
// mask and unread mask.
func stringSample(slots []byte, mask, unread uint64) []byte {
	b := sample(4, []Record{{StmtID: 4}})
	copy(b[bpfgen.HeaderSize+bpfgen.RecOffValues:], slots)
	binary.LittleEndian.PutUint64(b[bpfgen.HeaderSize+bpfgen.RecOffMask:], mask)
	binary.LittleEndian.PutUint64(b[bpfgen.HeaderSize+bpfgen.RecOffUnread:], unread)
	return b
}

// TestDecodeRing decodes a buffer whose ring wrapped: 11 statements ran
// with 5 records, 1 of them head. Statements 1-5 filled the records, then
// 6-11 overwrote ring records 1, 2, 3, 4, 1, 2 in turn, so the records hold
// 1 10 11 8 9 and statements 2-7 were dropped after the first.
func TestDecodeRing(t *testing.T) {
	var stored []Record
	for _, id := range []uint32{1, 10, 11, 8, 9} {
		stored = append(stored, Record{StmtID: id, Values: []Value{}})
	}
	b := sample(0, stored)
	binary.LittleEndian.PutUint32(b[bpfgen.OffTruncated:], 6)
	binary.LittleEndian.PutUint32(b[bpfgen.OffHead:], 1)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if s, w := got.String(), "prog[100/101] depth 2 return -22 truncated 6: 1() ...6... 8() 9() 10() 11()"; s != w {
		t.Errorf("String = %q, want %q", s, w)
	}
	if got.TruncatedAt != 1 {
		t.Errorf("TruncatedAt = %d, want 1", got.TruncatedAt)
	}
	binary.LittleEndian.PutUint32(b[bpfgen.OffHead:], 5)
	if tr, err := Decode(b); tr != nil || err == nil || err.Error() != "decoding trace: 6 statements dropped but the 5 records are all head records (5)" {
		t.Errorf("Decode with no ring = %v, %v", tr, err)
	}
}

func TestDecodeSlots(t *testing.T) {
	slots := make([]byte, 32)
	binary.LittleEndian.PutUint64(slots, 0xfffffffe)
	copy(slots[8:], "hello\x00junk")
	copy(slots[24:], "12345678")
	for _, tc := range []struct {
		name   string
		mask   uint64
		unread uint64
		want   []Value
		str    string
	}{
		{"all", 7, 0, []Value{{U64: 0xfffffffe, OK: true}, {OK: true, Bytes: []byte("hello")}, {OK: true, Bytes: []byte("12345678"), Truncated: true}},
			`prog[100/101] depth 2 return -22 truncated 0: 4(4294967294 "hello" "12345678"...)`},
		{"none", 0, 0, []Value{{}, {}, {}}, `prog[100/101] depth 2 return -22 truncated 0: 4(? ? ?)`},
		{"string only", 2, 0, []Value{{}, {OK: true, Bytes: []byte("hello")}, {}}, `prog[100/101] depth 2 return -22 truncated 0: 4(? "hello" ?)`},
		{"unreadable", 6, 4, []Value{{}, {OK: true, Bytes: []byte("hello")}, {OK: true, U64: 0x3837363534333231, Unreadable: true}}, `prog[100/101] depth 2 return -22 truncated 0: 4(? "hello" *0x3837363534333231)`},
	} {
		got, err := DecodeSlots(stringSample(slots, tc.mask, tc.unread), stringSlots)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Records[0].Values, tc.want) {
			t.Errorf("%s: values %+v, want %+v", tc.name, got.Records[0].Values, tc.want)
		}
		if s := got.String(); s != tc.str {
			t.Errorf("%s: String = %q, want %q", tc.name, s, tc.str)
		}
	}
	empty := make([]byte, 32)
	copy(empty[8:], "\x00")
	got, err := DecodeSlots(stringSample(empty, 2, 0), stringSlots)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Records[0].Values[1]; !v.OK || v.Bytes == nil || len(v.Bytes) != 0 || v.Truncated {
		t.Errorf("empty string decoded as %+v", v)
	}

	unknown := sample(4, []Record{{StmtID: 9}})
	narrow := sample(1, []Record{{StmtID: 4}})
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"unknown statement": {unknown, "decoding trace: record 0 is of statement 9, which is not in the plan"},
		"slots beyond":      {narrow, "decoding trace: statement 4 variable 1 needs slots 1 to 3, records have 1"},
	} {
		if tr, err := DecodeSlots(tc.b, stringSlots); tr != nil || err == nil || err.Error() != tc.want {
			t.Errorf("%s: DecodeSlots = %v, %v; want error %q", name, tr, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sample(2, []Record{{StmtID: 7, Values: []Value{{U64: 13, OK: true}, {}}}}))
	f.Add(sample(0, nil))
	f.Add([]byte{})
	f.Add(stringSample([]byte("\x01\x00\x00\x00\x00\x00\x00\x00abc\x00"), 7, 2))
	f.Add(sample(4, []Record{{StmtID: 5}, {StmtID: 4}}))
	ring := sample(4, []Record{{StmtID: 5}, {StmtID: 4}, {StmtID: 5}})
	binary.LittleEndian.PutUint32(ring[bpfgen.OffTruncated:], 7)
	binary.LittleEndian.PutUint32(ring[bpfgen.OffHead:], 1)
	f.Add(ring)
	f.Add(stackSample(512, 100, []Record{{StmtID: 1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, slots := range []map[uint32][]bpfgen.Slot{nil, stringSlots} {
			tr, err := DecodeSlots(b, slots)
			if (tr == nil) == (err == nil) {
				t.Fatalf("DecodeSlots = %v, %v: want exactly one of trace and error", tr, err)
			}
			if tr == nil {
				continue
			}
			_ = tr.String()
			if tr.TruncatedAt < 0 || tr.TruncatedAt > len(tr.Records) {
				t.Fatalf("TruncatedAt %d outside %d records", tr.TruncatedAt, len(tr.Records))
			}
			for _, r := range tr.Records {
				for _, v := range r.Values {
					if !v.OK && (v.U64 != 0 || v.Bytes != nil || v.Truncated || v.Unreadable) || v.Unreadable && v.Bytes != nil {
						t.Fatalf("unavailable value with contents: %+v", v)
					}
					if v.Bytes != nil && (len(v.Bytes) > ir.MaxStr || bytes.IndexByte(v.Bytes, 0) >= 0) {
						t.Fatalf("string value %+v: too long or with a NUL", v)
					}
				}
			}
		}
		if tr, err := Decode(b); (tr == nil) == (err == nil) {
			t.Fatalf("Decode = %v, %v: want exactly one of trace and error", tr, err)
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
		{Plan{Spec: bpfgen.Spec{RetSize: 5}}, Options{TraceAll: true}, "generating BPF programs: return size 5 is not 0, 1, 2, 4 or 8"},
	} {
		s, err := Start(context.Background(), tc.plan, tc.opts)
		if s != nil || err == nil || err.Error() != tc.want {
			t.Errorf("Start = %v, %v; want error %q", s, err, tc.want)
		}
	}
}

// TestDecodeBranch decodes a buffer with a branch record (bpfgen.Layout
// Branch): the record between the header and the statements is the last
// branch, after the number of statements its stamp says; a stamp of 0
// means no branch ran.
func TestDecodeBranch(t *testing.T) {
	stmts := []Record{
		{StmtID: 0, Values: []Value{{U64: 1, OK: true}, {}}},
		{StmtID: 1, Values: []Value{{U64: 2, OK: true}, {U64: 3, OK: true}}},
	}
	branch := Record{StmtID: 7, Values: []Value{{U64: 16, OK: true}, {U64: 0x246, OK: true}}}
	for _, seq := range []uint32{0, 2} {
		plain := sample(2, append([]Record{branch}, stmts...))
		le := binary.LittleEndian
		le.PutUint32(plain[bpfgen.OffBranch:], 1)
		le.PutUint32(plain[bpfgen.OffCount:], uint32(len(stmts)))
		le.PutUint32(plain[bpfgen.HeaderSize+bpfgen.RecOffSeq:], seq)
		tr, err := Decode(plain)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if !reflect.DeepEqual(tr.Records, stmts) {
			t.Errorf("seq %d: records %v, want %v", seq, tr.Records, stmts)
		}
		switch {
		case seq == 0 && tr.Branch != nil:
			t.Errorf("stamp 0: branch %v, want none", tr.Branch)
		case seq != 0 && (tr.Branch == nil || !reflect.DeepEqual(*tr.Branch, branch) || tr.BranchAfter != int(seq-1)):
			t.Errorf("stamp %d: branch %v after %d, want %v after %d", seq, tr.Branch, tr.BranchAfter, branch, seq-1)
		}
		if _, err := Decode(plain[:len(plain)-1]); err == nil {
			t.Errorf("seq %d: a sample one byte short decodes", seq)
		}
	}
}

// stackSample is sample with a stack area of size bytes (bpfgen.Layout
// Stack) holding the registers 1..8 and copied bytes 0, 1, 2, ...
func stackSample(size, copied int, recs []Record) []byte {
	plain := sample(1, recs)
	l := bpfgen.Layout{Values: 1, Stack: size}
	area := make([]byte, bpfgen.StackOffBytes+size)
	le := binary.LittleEndian
	for i := range bpfgen.StackRegs {
		le.PutUint64(area[bpfgen.StackOffRegs+8*i:], uint64(i+1))
	}
	le.PutUint64(area[bpfgen.StackOffLen:], uint64(copied))
	for i := range copied {
		area[bpfgen.StackOffBytes+i] = byte(i)
	}
	b := append(append(append([]byte{}, plain[:bpfgen.HeaderSize]...), area...), plain[bpfgen.HeaderSize:]...)
	le.PutUint32(b[bpfgen.OffStack:], uint32(size))
	if len(b) != l.RecordsOffset()+len(recs)*l.RecordSize() {
		panic("stackSample: layout mismatch")
	}
	return b
}

// TestDecodeStack decodes a buffer with a stack area (--backtrace): the
// registers by DWARF number and the bytes copied, the records after it.
func TestDecodeStack(t *testing.T) {
	recs := []Record{{StmtID: 3, Values: []Value{{U64: 5, OK: true}}}}
	tr, err := Decode(stackSample(1024, 600, recs))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr.Records, recs) {
		t.Errorf("records %v, want %v", tr.Records, recs)
	}
	if tr.Stack == nil || len(tr.Stack.Bytes) != 600 || tr.Stack.Bytes[599] != byte(599%256) {
		t.Fatalf("stack %+v, want 600 bytes", tr.Stack)
	}
	for i, r := range bpfgen.StackRegs {
		if tr.Stack.Regs[r] != uint64(i+1) {
			t.Errorf("register %d = %d, want %d", r, tr.Stack.Regs[r], i+1)
		}
	}
	bad := stackSample(1024, 600, recs)
	binary.LittleEndian.PutUint64(bad[bpfgen.HeaderSize+bpfgen.StackOffLen:], 1025)
	if tr, err := Decode(bad); tr != nil || err == nil || err.Error() != "decoding trace: 1025 bytes of stack copied into a 1024-byte area" {
		t.Errorf("Decode = %v, %v; want the copy-length error", tr, err)
	}
	if tr, err := Decode(stackSample(1024, 0, recs)[:100]); tr != nil || err == nil {
		t.Errorf("a short sample decodes: %v", tr)
	}
}
