package report

import (
	"bytes"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// sample is a trace that uses every value format.
func sample() (Header, map[uint32]Stmt, *Trace) {
	h := Header{Target: `process("./demo")`, Function: "load_config", ReturnFormat: "int",
		Listing: &Listing{File: "demo.c", Lines: []SourceLine{{10, "int f(int a)"}, {11, "{"}, {12, "\tif (a < 0)"}, {13, "\t\treturn -EINVAL;"}, {14, "}"}}}}
	stmts := map[uint32]Stmt{
		0: {File: "demo.c", Line: 11, Source: "{", HasSource: true, Vars: []Var{
			{Name: "a", Format: "int", Size: 4},
			{Name: "u", Format: "uint", Size: 2},
			{Name: "p", Format: "ptr", Size: 8},
			{Name: "s", Format: "struct"},
			{Name: "arr", Format: "array"},
			{Name: "f", Format: "other"},
			{Name: "k", Format: "const", Const: "0x5"},
			{Name: "file", Format: "string"},
			{Name: "mode", Format: "string"},
		}},
		1: {File: "demo.c", Line: 13, Source: "\t\treturn -EINVAL;", HasSource: true, Vars: []Var{
			{Name: "c", Format: "group", Children: []Var{
				{Name: "name", Format: "string"},
				{Name: "workers", Format: "dec", Size: 4},
				{Name: "mask", Format: "udec", Size: 1},
				{Name: "next", Format: "ptr", Size: 8},
			}},
			{Name: "path", Format: "string"},
		}},
	}
	tr := &Trace{Comm: "demo", PID: 7, TID: 8, Return: -22, Records: []Record{
		{StmtID: 0, Values: []Value{{U64: 0xffffffea, OK: true}, {U64: 0x1ffff, OK: true}, {U64: 0x7ffd1000, OK: true}, {OK: true, Unreadable: true}, {U64: 0x55d0c0de, OK: true, Unreadable: true}}},
		{StmtID: 1, Values: []Value{{Bytes: []byte("web\"\n"), OK: true}, {U64: 0xfffffffc, OK: true}, {U64: 0x1ff, OK: true}, {}, {Bytes: []byte("abcdefgh"), Truncated: true, OK: true}}},
		{StmtID: 9},
	}, Truncated: 3, TruncatedAt: 1}
	return h, stmts, tr
}

func TestText(t *testing.T) {
	h, stmts, tr := sample()
	for _, tc := range []struct {
		name             string
		source, annotate bool
		variable         string
	}{
		{"plain", false, false, ""},
		{"source", true, false, ""},
		{"annotate", false, true, ""},
		{"variable", false, false, "$c$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			h := h
			h.Variable = tc.variable
			w := &Text{W: &b, H: h, Stmts: stmts, Source: tc.source, Annotate: tc.annotate}
			if err := w.Trace(tr); err != nil {
				t.Fatal(err)
			}
			if err := w.Stats(Stats{Entries: 10, ExitHit: 1, ExitMiss: 9, Statements: 30, RingbufDrops: 2, Truncations: 3}); err != nil {
				t.Fatal(err)
			}
			fixture.Golden(t, "testdata/text-"+tc.name+".golden", b.Bytes())
		})
	}
}

// TestTextElision places the line for dropped statements: between the
// first statements and the latest ones, before all of them when no first
// statement is kept, and after all of them when the dropped ones ran last.
func TestTextElision(t *testing.T) {
	stmts := map[uint32]Stmt{1: {File: "f.c", Line: 1}, 2: {File: "f.c", Line: 2}}
	recs := []Record{{StmtID: 1}, {StmtID: 2}}
	for at, want := range []string{
		"\nx[2] process(\"f\") function(f) $return: -2\nx[2] ... 9 statements not recorded here (the trace buffer keeps the first 0 and the last 2) ...\nx[2] f.c:1 $$vars:\nx[2] f.c:2 $$vars:\n",
		"\nx[2] process(\"f\") function(f) $return: -2\nx[2] f.c:1 $$vars:\nx[2] ... 9 statements not recorded here (the trace buffer keeps the first 1 and the last 1) ...\nx[2] f.c:2 $$vars:\n",
		"\nx[2] process(\"f\") function(f) $return: -2\nx[2] f.c:1 $$vars:\nx[2] f.c:2 $$vars:\nx[2] ... 9 statements not recorded here (the trace buffer keeps the first 2 and the last 0) ...\n",
	} {
		var b bytes.Buffer
		w := &Text{W: &b, H: Header{Target: `process("f")`, Function: "f"}, Stmts: stmts}
		if err := w.Trace(&Trace{Comm: "x", TID: 2, Return: -2, Records: recs, Truncated: 9, TruncatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("dropped before record %d:\n%s\nwant\n%s", at, b.String(), want)
		}
	}
}

func TestJSON(t *testing.T) {
	h, stmts, tr := sample()
	var b bytes.Buffer
	w := &JSON{W: &b, H: h, Stmts: stmts}
	if err := w.Trace(tr); err != nil {
		t.Fatal(err)
	}
	if err := w.Stats(Stats{Entries: 10, ExitHit: 1, ExitMiss: 9, Statements: 30}); err != nil {
		t.Fatal(err)
	}
	fixture.Golden(t, "testdata/json.golden", b.Bytes())
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    Var
		val  Value
		want string
	}{
		{Var{Format: "int", Size: 4}, Value{U64: 0xffffff9c, OK: true}, "0xffffffffffffff9c"},
		{Var{Format: "int", Size: 8}, Value{U64: 0, OK: true}, "0x0"},
		{Var{Format: "uint", Size: 1}, Value{U64: 0x1ff, OK: true}, "0xff"},
		{Var{Format: "dec", Size: 2}, Value{U64: 0xffff, OK: true}, "-1"},
		{Var{Format: "udec", Size: 2}, Value{U64: 0xffff, OK: true}, "65535"},
		{Var{Format: "ptr", Size: 8}, Value{}, "?"},
		{Var{Format: "string"}, Value{Bytes: []byte("a\\b\x01"), OK: true}, `"a\\b\x01"`},
		{Var{Format: "string", Max: 5}, Value{Bytes: []byte("abcdefg"), OK: true}, `"abcde"...`},
		{Var{Format: "string", Max: 5}, Value{Bytes: []byte("abc"), OK: true}, `"abc"`},
		{Var{Format: "string"}, Value{OK: true, Unreadable: true}, "NULL"},
		{Var{Format: "string"}, Value{U64: 0x7ffd1000, OK: true, Unreadable: true}, "0x7ffd1000"},
		{Var{Format: "string"}, Value{}, "?"},
		{Var{Format: "struct"}, Value{}, "{...}"},
		{Var{Format: "array"}, Value{}, "[...]"},
		{Var{Format: "const", Const: "7"}, Value{}, "7"},
	} {
		if got := FormatValue(tc.v, tc.val); got != tc.want {
			t.Errorf("FormatValue(%+v, %+v) = %s, want %s", tc.v, tc.val, got, tc.want)
		}
	}
}
