package report

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/follow"
)

// TestWriteCalls prints a hand-made call tree: FUNCTION's calls, the calls
// made in each call of the chain indented below it (not those of a call
// off the chain), a pointer call whose own calls are not followed, then
// the origin and the chain through a tail call and an inlined function.
func TestWriteCalls(t *testing.T) {
	site := func(s follow.Site) *follow.Site { return &s }
	top := site(follow.Site{Callee: "mid", File: "f.c", Line: 10, Used: true, Depth: 1, Followed: true})
	off := site(follow.Site{Callee: "other", File: "f.c", Line: 11, Used: true, Depth: 1, Followed: true})
	ptr := site(follow.Site{File: "f.c", Line: 12, Used: true, Depth: 1, Indirect: true, NotFollowed: "called through a pointer"})
	in := site(follow.Site{Callee: "leaf", In: "mid_tail", Func: "mid", Used: true, Depth: 2, Inlined: []string{"inner", "outer"}})
	hidden := site(follow.Site{Callee: "deep", File: "g.c", Line: 3, Used: true, Depth: 2})
	res := follow.Result{Calls: []follow.Call{
		{Site: off, Callee: "other", Back: true, Returned: true, Value: 0, Parent: -1, Depth: 1},
		{Site: hidden, Callee: "deep", Back: true, Returned: true, Value: 1, Parent: 0, Depth: 2},
		{Site: ptr, Callee: "cb", Back: true, Returned: true, Value: 0, Parent: -1, Depth: 1},
		{Site: top, Callee: "mid", Back: true, Returned: true, Value: -22, Parent: -1, Depth: 1},
		{Site: in, Callee: "leaf", Back: true, Returned: true, Value: -2, Parent: 3, Depth: 2},
	}, Origin: &follow.Origin{Call: 4, Chain: []int{3, 4}, Links: []follow.Link{{}, {Translated: true}}}}
	var b strings.Builder
	writeCalls(&b, &follow.Plan{Depth: 3}, res, &Trace{Return: -22}, "fn", "int")
	want := `call: other (f.c:11) returned 0
call: cb (f.c:12) returned 0, its own calls not followed (called through a pointer)
call: mid (f.c:10) returned -22
call:   leaf (in mid_tail) returned -2
origin: leaf (in mid_tail) returned -2, translated in mid
chain: fn → mid (f.c:10) returned -22 → mid_tail (tail call) → outer (inlined) → inner (inlined) → leaf returned -2
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
