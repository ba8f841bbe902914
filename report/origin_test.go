package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/verdict"
)

// originPlan is --follow's plan for f at 0x1000: call lookup (0x2000),
// test %eax,%eax, ret. Its call and return probes are statements 10 and
// 11.
func originPlan(t *testing.T) *follow.Plan {
	t.Helper()
	code := []byte{0xe8, 0xfb, 0x0f, 0, 0, 0x85, 0xc0, 0xc3}
	p, err := follow.New(follow.Input{
		Fn:         &debuginfo.Function{Name: "f", Ranges: [][2]uint64{{0x1000, 0x1008}}, Entry: 0x1000},
		Code:       func(va uint64, n int) ([]byte, error) { return code[va-0x1000:][:n], nil },
		FileOffset: func(va uint64) (uint64, error) { return va, nil },
		Symbols:    []target.Symbol{{Name: "f", Value: 0x1000, Size: 8}, {Name: "lookup", Value: 0x2000, Size: 16}},
		FirstID:    10, RetSize: 4,
	})
	if err != nil || len(p.Sites) != 1 {
		t.Fatalf("follow.New: %v, %d sites", err, len(p.Sites))
	}
	return p
}

// TestOrigin: the origin's statements print after the calls, only those
// recorded between the blamed call and its return (lookup's statement
// recorded before the call, from another caller's call while f ran, is
// left out), never among f's; a trace blaming another call says they are
// not traced there; JSON puts them in the origin object.
func TestOrigin(t *testing.T) {
	p := originPlan(t)
	stmts := map[uint32]Stmt{0: {File: "f.c", Line: 2}, 1: {File: "f.c", Line: 4}}
	o := &Origin{Blame: follow.Blame{Callee: "lookup", Target: 0x2000, Site: 0x1000, Nth: 1, Depth: 1}, Function: "lookup",
		Stmts: map[uint32]Stmt{20: {File: "l.c", Line: 3, Vars: []Var{{Name: "key", Format: "int", Size: 4}}}, 21: {File: "l.c", Line: 5, Vars: []Var{{Name: "key", Format: "int", Size: 4}}}}}
	key := []Value{{U64: 7, OK: true}}
	tr := func(nth int) *Trace {
		rs := []Record{{StmtID: 0}, {StmtID: 20, Values: []Value{{U64: 1, OK: true}}}}
		for i := 1; i <= nth; i++ {
			rax := uint64(0)
			if i == nth {
				rax = 0xfffffffe
			}
			rs = append(rs, Record{StmtID: 10}, Record{StmtID: 20, Values: key}, Record{StmtID: 21, Values: key}, Record{StmtID: 11, Values: []Value{{U64: rax, OK: true}}})
		}
		return &Trace{Comm: "x", TID: 2, Return: -2, Records: append(rs, Record{StmtID: 1})}
	}
	h := Header{Target: `process("f")`, Function: "f", ReturnFormat: "int"}
	for _, c := range []struct {
		nth  int
		want string
	}{
		{1, `
x[2] process("f") function(f) $return: -2
x[2] f.c:2 $$vars:
x[2] f.c:4 $$vars:
call: lookup returned -2
origin: lookup returned -2, passed up
chain: f → lookup returned -2
origin's statements: lookup, in the call lookup, call 1 from that site:
x[2] l.c:3 $$vars: key=0x7
x[2] l.c:5 $$vars: key=0x7
`},
		{2, `
x[2] process("f") function(f) $return: -2
x[2] f.c:2 $$vars:
x[2] f.c:4 $$vars:
call: lookup returned 0
call: lookup returned -2
origin: lookup returned -2, passed up
chain: f → lookup returned -2
origin's statements: not traced here (they are traced for lookup, call 1 from its site)
`},
	} {
		var b bytes.Buffer
		w := &Text{W: &b, H: h, Stmts: stmts, Follow: p, Origin: o}
		if err := w.Trace(tr(c.nth)); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("blamed call %d:\n%s\nwant\n%s", c.nth, b.String(), c.want)
		}
	}
	var b bytes.Buffer
	if err := (&JSON{W: &b, H: h, Stmts: stmts, Follow: p, Origin: o}).Trace(tr(1)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Statements []jsonStmt  `json:"statements"`
		Origin     *jsonOrigin `json:"origin"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(got.Origin)
	if want := `{"call":0,"callee":"lookup","chain":[0],"function":"lookup","statements":[{"file":"l.c","line":3,"vars":[{"name":"key","value":7}]},{"file":"l.c","line":5,"vars":[{"name":"key","value":7}]}]}`; string(js) != want {
		t.Errorf("origin %s\nwant %s", js, want)
	}
	if len(got.Statements) != 2 || strings.Contains(b.String(), `"file":"l.c","line":3,"vars":[{"name":"key","value":1}]`) {
		t.Errorf("f's statements %+v: want its two, without lookup's", got.Statements)
	}
}

// TestCallTrace: the origin's "why:" line reads the blamed call's records
// (between its call and return records), its value, and the trace's branch
// only when that was recorded within the call.
func TestCallTrace(t *testing.T) {
	br := &Record{StmtID: 30}
	rs := []Record{{StmtID: 0}, {StmtID: 10}, {StmtID: 20}, {StmtID: 21}, {StmtID: 11}, {StmtID: 1}}
	c := follow.Call{At: 1, BackAt: 4, Returned: true, Value: -22}
	for _, k := range []struct {
		after      int
		wantBranch bool
		wantAfter  int
	}{{1, false, 0}, {2, true, 0}, {3, true, 1}, {4, true, 2}, {5, false, 0}} {
		sub, ok := callTrace(c, &Trace{Return: -2, Records: rs, Branch: br, BranchAfter: k.after})
		if !ok || sub.Return != -22 || len(sub.Records) != 2 || sub.Records[0].StmtID != 20 || sub.Records[1].StmtID != 21 {
			t.Fatalf("branch after %d: %v, %+v", k.after, ok, sub)
		}
		if (sub.Branch != nil) != k.wantBranch || sub.BranchAfter != k.wantAfter {
			t.Errorf("branch after %d record(s): branch %v after %d, want %v after %d", k.after, sub.Branch != nil, sub.BranchAfter, k.wantBranch, k.wantAfter)
		}
	}
	if _, ok := callTrace(follow.Call{At: 1, BackAt: 4}, &Trace{Records: rs}); ok {
		t.Error("a call whose value was not seen has a trace")
	}
	if _, ok := callTrace(c, &Trace{Records: rs, Truncated: 3}); ok {
		t.Error("a truncated trace has a call trace")
	}
}

// TestOriginWhy: an origin with a verdict of its own (a kernel function
// traced at its boundary, whose own verdict is off) has its why: line
// after its statements, read on the blamed call's records and value, and
// JSON carries the same as the origin object's "why".
func TestOriginWhy(t *testing.T) {
	p := originPlan(t)
	stmts := map[uint32]Stmt{0: {File: "f.c", Line: 2}, 1: {File: "f.c", Line: 4}}
	o := &Origin{Blame: follow.Blame{Callee: "lookup", Target: 0x2000, Site: 0x1000, Nth: 1, Depth: 1}, Function: "lookup",
		Stmts:   map[uint32]Stmt{20: {File: "l.c", Line: 3}, 21: {File: "l.c", Line: 5}},
		Verdict: &verdict.Plan{Func: "lookup"}}
	tr := &Trace{Comm: "x", TID: 2, Return: -2, Records: []Record{{StmtID: 0}, {StmtID: 10}, {StmtID: 20}, {StmtID: 21},
		{StmtID: 11, Values: []Value{{U64: 0xfffffffe, OK: true}}}, {StmtID: 1}}}
	h := Header{Target: `process("f")`, Function: "f", ReturnFormat: "int"}
	var b bytes.Buffer
	if err := (&Text{W: &b, H: h, Stmts: stmts, Follow: p, Origin: o}).Trace(tr); err != nil {
		t.Fatal(err)
	}
	const why = "why: lookup returned -2 (ENOENT) at l.c:5, and no conditional branch ran before it"
	want := `
x[2] process("f") function(f) $return: -2
x[2] f.c:2 $$vars:
x[2] f.c:4 $$vars:
call: lookup returned -2
origin: lookup returned -2, passed up
chain: f → lookup returned -2
origin's statements: lookup, in the call lookup, call 1 from that site:
x[2] l.c:3 $$vars:
x[2] l.c:5 $$vars:
` + why + "\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := (&JSON{W: &b, H: h, Stmts: stmts, Follow: p, Origin: o}).Trace(tr); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Why    *jsonWhy    `json:"why"`
		Origin *jsonOrigin `json:"origin"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(got.Origin.Why)
	if wantJS := `{"text":"` + why + `","return":-2,"errno":"ENOENT","return_file":"l.c","return_line":5,"values":[]}`; string(js) != wantJS || got.Why != nil {
		t.Errorf("origin why %s, trace why %+v; want %s and none (f has no verdict)", js, got.Why, wantJS)
	}
}

// TestOriginAlong: when the trace's failure came from below the call the
// origin's statements were traced for (leaf, which lookup called, is the
// origin), the statements of that call, on the chain, are printed under a
// heading that says the origin's are not traced.
func TestOriginAlong(t *testing.T) {
	// f: call lookup; test %eax,%eax; ret. lookup: call leaf; ret.
	code := map[uint64][]byte{0x1000: {0xe8, 0xfb, 0x0f, 0, 0, 0x85, 0xc0, 0xc3}, 0x2000: {0xe8, 0xfb, 0x0f, 0, 0, 0xc3}, 0x3000: {0xc3}}
	p, err := follow.New(follow.Input{
		Fn: &debuginfo.Function{Name: "f", Ranges: [][2]uint64{{0x1000, 0x1008}}, Entry: 0x1000},
		Code: func(va uint64, n int) ([]byte, error) {
			base := va &^ 0xfff
			return code[base][va-base:][:n], nil
		},
		FileOffset: func(va uint64) (uint64, error) { return va, nil },
		Symbols:    []target.Symbol{{Name: "f", Value: 0x1000, Size: 8}, {Name: "lookup", Value: 0x2000, Size: 6}, {Name: "leaf", Value: 0x3000, Size: 1}},
		FirstID:    10, RetSize: 4, Depth: 2,
	})
	if err != nil || len(p.Sites) != 2 {
		t.Fatalf("follow.New: %v, %d sites", err, len(p.Sites))
	}
	o := &Origin{Blame: follow.Blame{Callee: "lookup", Target: 0x2000, Site: 0x1000, Nth: 1, Depth: 1}, Function: "lookup",
		Stmts: map[uint32]Stmt{20: {File: "l.c", Line: 3}}}
	neg2 := []Value{{U64: 0xfffffffe, OK: true}}
	tr := &Trace{Comm: "x", TID: 2, Return: -2, Records: []Record{{StmtID: 10}, {StmtID: 20}, {StmtID: 12}, {StmtID: 13, Values: neg2}, {StmtID: 11, Values: neg2}}}
	var b bytes.Buffer
	w := &Text{W: &b, H: Header{Target: `process("f")`, Function: "f", ReturnFormat: "int"}, Stmts: map[uint32]Stmt{}, Follow: p, Origin: o}
	if err := w.Trace(tr); err != nil {
		t.Fatal(err)
	}
	want := `
x[2] process("f") function(f) $return: -2
call: lookup returned -2
call:   leaf (in lookup) returned -2
origin: leaf (in lookup) returned -2, passed up
chain: f → lookup returned -2 → leaf returned -2
origin's statements: not traced; those of lookup, which the chain passes through, in the call lookup, call 1 from that site:
x[2] l.c:3 $$vars:
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
