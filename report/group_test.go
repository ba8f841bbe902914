package report

import (
	"bytes"
	"testing"
)

// TestGroups: three calls take one path and one another; --group prints
// each path's first trace, then the others counted with the variables
// that differed and their ranges; the terminal mode prints up to Keep
// traces of a path and sums up the rest at the end.
func TestGroups(t *testing.T) {
	stmts := map[uint32]Stmt{
		0: {File: "r.c", Line: 5, Vars: []Var{{Name: "level", Format: "int", Size: 4}, {Name: "worker", Format: "int", Size: 4}, {Name: "same", Format: "int", Size: 4}}},
		1: {File: "r.c", Line: 6, Vars: []Var{{Name: "level", Format: "int", Size: 4}, {Name: "r", Format: "int", Size: 4}}},
	}
	call := func(tid uint32, level, worker uint64, path ...uint32) *Trace {
		tr := &Trace{Comm: "r", PID: 1, TID: tid, Return: -40}
		for _, id := range path {
			vals := []Value{{U64: level, OK: true}, {U64: worker, OK: true}, {U64: 7, OK: true}}
			if id == 1 {
				vals = []Value{{U64: level, OK: true}, {OK: worker != 2, U64: 9}}
			}
			tr.Records = append(tr.Records, Record{StmtID: id, Values: vals})
		}
		return tr
	}
	traces := []*Trace{call(10, 0, 1, 0, 1), call(11, 2, 3, 0, 1), call(12, 3, 0, 0), call(13, 1, 2, 0, 1)}
	h := Header{Target: `process("./r")`, Function: "descend", ReturnFormat: "int"}

	var b bytes.Buffer
	g := &Groups{T: &Text{W: &b, H: h, Stmts: stmts}}
	for _, tr := range traces {
		if err := g.Trace(tr); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != 0 {
		t.Errorf("--group printed before the end:\n%s", b.String())
	}
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `
r[10] process("./r") function(descend) $return: -40
r[10] r.c:5 $$vars: level=0x0 worker=0x1 same=0x7
r[10] r.c:6 $$vars: level=0x0 r=0x9
[... 2 more calls took this path; they differed in level=0x0..0x2 worker=0x1..0x3 r=0x9 or ? ...]

r[12] process("./r") function(descend) $return: -40
r[12] r.c:5 $$vars: level=0x3 worker=0x0 same=0x7
`
	if b.String() != want {
		t.Errorf("--group output:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	noted := 0
	g = &Groups{T: &Text{W: &b, H: h, Stmts: stmts}, Keep: 1, Note: func() { noted++ }}
	for _, tr := range traces {
		g.Trace(tr)
	}
	g.Flush()
	want = `
r[10] process("./r") function(descend) $return: -40
r[10] r.c:5 $$vars: level=0x0 worker=0x1 same=0x7
r[10] r.c:6 $$vars: level=0x0 r=0x9

r[12] process("./r") function(descend) $return: -40
r[12] r.c:5 $$vars: level=0x3 worker=0x0 same=0x7
[... 2 more calls took the path of r[10]'s trace above; they differed in level=0x0..0x2 worker=0x1..0x3 r=0x9 or ? ...]
`
	if b.String() != want || noted != 1 {
		t.Errorf("terminal output (noted %d times):\n%s\nwant:\n%s", noted, b.String(), want)
	}
}
