package follow

import (
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/session"
)

// TestCalleeCalls checks a plan at the callees on hand-made traces: entry
// and return records are kept only when their return address follows one
// of the function's calls (the load bias taken off), paired by it, and
// the origin is named as for call-site plans.
func TestCalleeCalls(t *testing.T) {
	const bias = 0x1000000
	a := &Site{PC: 0x100, Return: 0x105, Callee: "a", Used: true, File: "f.c", Line: 5}
	b := &Site{PC: 0x110, Return: 0x115, Callee: "b", Used: true, File: "f.c", Line: 6}
	v := &Site{PC: 0x120, Return: 0x125, Callee: "v", File: "f.c", Line: 7} // void
	p := &Plan{retSize: 8, byID: map[uint32]*Site{}, byRA: map[uint64]*Site{}, probes: map[uint32]calleeProbe{
		1: {callee: "a"}, 2: {callee: "a", ret: true}, 3: {callee: "b"}, 4: {callee: "b", ret: true}, 5: {callee: "v"},
		6: {callee: "i"}, 7: {callee: "i", ret: true, typed: true, rt: Ret{Size: 4, Signed: true}},
	}}
	i := &Site{PC: 0x130, Return: 0x135, Callee: "i", Used: true, File: "f.c", Line: 8} // returns int
	for _, s := range []*Site{a, b, v, i} {
		p.byRA[s.Return] = s
	}
	entry := func(id uint32, ra uint64) session.Record {
		return session.Record{StmtID: id, Values: []session.Value{{U64: ra + bias, OK: true}}}
	}
	ret := func(id uint32, ra, rax uint64) session.Record {
		return session.Record{StmtID: id, Values: []session.Value{{U64: ra + bias, OK: true}, {U64: rax, OK: true}}}
	}
	neg := func(n int64) uint64 { return uint64(n) }
	passed := &Origin{Call: 0, Chain: []int{0}, Links: []Link{{}}} // FUNCTION's first call passed its value up
	for _, c := range []struct {
		name    string
		ret     int64
		records []session.Record
		origin  *Origin
		calls   []Call
	}{
		{"passed up", -22, []session.Record{entry(1, 0x105), ret(2, 0x105, neg(-22))}, passed,
			[]Call{{Site: a, Callee: "a", Back: true, Returned: true, Value: -22, Raw: neg(-22), Parent: -1, Depth: 1, Nth: 1, At: 0, BackAt: 1}}},
		{"a deeper call of a callee is left out", -22, []session.Record{
			entry(1, 0x105), entry(3, 0x9999), ret(4, 0x9999, 0), ret(2, 0x105, neg(-22))}, passed,
			[]Call{{Site: a, Callee: "a", Back: true, Returned: true, Value: -22, Raw: neg(-22), Parent: -1, Depth: 1, Nth: 1, At: 0, BackAt: 3}}},
		{"recovered, then a void call", -1, []session.Record{
			entry(1, 0x105), ret(2, 0x105, neg(-2)), entry(3, 0x115), ret(4, 0x115, 0), entry(5, 0x125)}, nil,
			[]Call{{Site: a, Callee: "a", Back: true, Returned: true, Value: -2, Raw: neg(-2), Parent: -1, Depth: 1, Nth: 1, At: 0, BackAt: 1},
				{Site: b, Callee: "b", Back: true, Returned: true, Parent: -1, Depth: 1, Nth: 1, At: 2, BackAt: 3},
				{Site: v, Callee: "v", Back: true, Parent: -1, Depth: 1, Nth: 1, At: 4, BackAt: -1}}},
		{"an int callee's -EINVAL in a long function: read at its own size", -22, []session.Record{
			entry(6, 0x135), ret(7, 0x135, 0xffffffea)}, passed,
			[]Call{{Site: i, Callee: "i", Back: true, Returned: true, Value: -22, Raw: 0xffffffea, Parent: -1, Depth: 1, Nth: 1, At: 0, BackAt: 1}}},
		{"a return not seen", -5, []session.Record{entry(1, 0x105)}, nil,
			[]Call{{Site: a, Callee: "a", Back: true, Unseen: true, Parent: -1, Depth: 1, Nth: 1, At: 0, BackAt: -1}}},
		{"recursion: the inner return closes the inner call", -3, []session.Record{
			entry(1, 0x105), entry(1, 0x105), ret(2, 0x105, 0), ret(2, 0x105, neg(-3))}, passed,
			[]Call{{Site: a, Callee: "a", Back: true, Returned: true, Value: -3, Raw: neg(-3), Parent: -1, Depth: 1, Nth: 1, At: 0, BackAt: 3},
				{Site: a, Callee: "a", Back: true, Returned: true, Parent: -1, Depth: 1, Nth: 2, At: 1, BackAt: 2}}},
	} {
		res := p.Calls(&session.Trace{Return: c.ret, Bias: bias, Records: c.records}, nil)
		if len(res.Calls) != len(c.calls) {
			t.Errorf("%s: calls %+v, want %+v", c.name, res.Calls, c.calls)
			continue
		}
		for i := range res.Calls {
			if !reflect.DeepEqual(res.Calls[i], c.calls[i]) {
				t.Errorf("%s: call %d %+v, want %+v", c.name, i, res.Calls[i], c.calls[i])
			}
		}
		switch {
		case (res.Origin == nil) != (c.origin == nil):
			t.Errorf("%s: origin %+v, want %+v", c.name, res.Origin, c.origin)
		case res.Origin != nil && !reflect.DeepEqual(*res.Origin, *c.origin):
			t.Errorf("%s: origin %+v, want %+v", c.name, *res.Origin, *c.origin)
		}
		for id := range p.probes {
			if !p.Owns(id) {
				t.Errorf("probe %d not owned", id)
			}
		}
	}
}

// TestCallsTyped: at call sites too, a callee whose return type is known
// has its value read at that type's size: an int callee's -EMFILE in a
// long function is -24, and passed up.
func TestCallsTyped(t *testing.T) {
	s := &Site{CallID: 1, ReturnID: 2, Callee: "get_unused_fd_flags", Used: true, File: "f.c", Line: 3, ret: &Ret{Size: 4, Signed: true}}
	p := &Plan{retSize: 8, byID: map[uint32]*Site{1: s, 2: s}}
	res := p.Calls(&session.Trace{Return: -24, Records: []session.Record{{StmtID: 1}, {StmtID: 2, Values: []session.Value{{U64: 0xffffffe8, OK: true}}}}}, nil)
	if len(res.Calls) != 1 || res.Calls[0].Value != -24 || res.Calls[0].Wide || res.Origin == nil || res.Origin.Call != 0 || res.Origin.Translated {
		t.Errorf("calls %+v origin %+v: want -24, passed up", res.Calls, res.Origin)
	}
}
