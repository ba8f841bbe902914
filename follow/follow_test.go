package follow

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// decodeBytes decodes code placed at 0x1000 as one range.
func decodeBytes(t *testing.T, code []byte) []instr {
	t.Helper()
	ins, err := decode(func(va uint64, n int) ([]byte, error) { return code[va-0x1000:][:n], nil }, [][2]uint64{{0x1000, 0x1000 + uint64(len(code))}})
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// TestUsesRAX: the code after a call reads the callee's rax, or
// overwrites it first (then the value cannot be the one passed up).
func TestUsesRAX(t *testing.T) {
	for _, c := range []struct {
		name string
		code []byte
		want bool
	}{
		{"test %rax,%rax", []byte{0x48, 0x85, 0xc0, 0xc3}, true},
		{"xor %eax,%eax; ret", []byte{0x31, 0xc0, 0xc3}, false},
		{"mov %rbx,%rdi; call", []byte{0x48, 0x89, 0xdf, 0xe8, 0, 0, 0, 0, 0xc3}, false},
		{"mov %eax,%edi", []byte{0x89, 0xc7, 0xc3}, true},
		{"mov -0x8(%rbp),%rax", []byte{0x48, 0x8b, 0x45, 0xf8, 0xc3}, false},
		{"mov %eax,-0x4(%rbp)", []byte{0x89, 0x45, 0xfc, 0xc3}, true},
		{"ret: the value is returned", []byte{0xc3}, true},
		{"jmp to xor %eax,%eax", []byte{0xeb, 0x01, 0xcc, 0x31, 0xc0, 0xc3}, false},
		{"pop %rbx; ret", []byte{0x5b, 0xc3}, true},
		{"mov (%rax),%edx", []byte{0x8b, 0x10, 0xc3}, true},
		{"add %eax,%ebx", []byte{0x01, 0xc3, 0xc3}, true},
		{"add $1,%eax", []byte{0x83, 0xc0, 0x01, 0xc3}, true},
		{"endbr64 then xor", []byte{0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0xc0, 0xc3}, false},
		{"movl $2,(%rax): a store through it", []byte{0xc7, 0x00, 0x02, 0, 0, 0, 0xc3}, true},
	} {
		if got := usesRAX(decodeBytes(t, c.code), 0); got != c.want {
			t.Errorf("%s: usesRAX = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCalls checks the pairing of call and return records and the origin
// rules on hand-made traces.
func TestCalls(t *testing.T) {
	a := &Site{CallID: 10, ReturnID: 11, Callee: "a", Used: true, File: "f.c", Line: 5}
	b := &Site{CallID: 12, ReturnID: 13, Callee: "b", Used: true, File: "f.c", Line: 6}
	v := &Site{CallID: 14, ReturnID: 15, Callee: "v", File: "f.c", Line: 7} // value never read
	ind := &Site{CallID: 16, ReturnID: 17, Indirect: true, Used: true, File: "f.c", Line: 8}
	p := &Plan{retSize: 4, LastLine: 9, byID: map[uint32]*Site{}, syms: nil}
	for _, s := range []*Site{a, b, v, ind} {
		p.byID[s.CallID], p.byID[s.ReturnID] = s, s
	}
	val := func(u uint64) []session.Value { return []session.Value{{U64: u, OK: true}} }
	call := func(s *Site) session.Record { return session.Record{StmtID: s.CallID} }
	ret := func(s *Site, u uint64) session.Record { return session.Record{StmtID: s.ReturnID, Values: val(u)} }
	stmt := func(line int) session.Record { return session.Record{StmtID: uint32(100 + line)} }
	lines := func(id uint32) (string, int, bool) {
		if id >= 100 {
			return "f.c", int(id - 100), true
		}
		return "", 0, false
	}
	neg := func(n int64) uint64 { return uint64(n) & 0xffffffff } // an int in eax
	for _, c := range []struct {
		name    string
		ret     int64
		records []session.Record
		origin  *Origin
		values  []int64
	}{
		{"passed up", -2, []session.Record{call(a), ret(a, neg(-2)), stmt(6)}, &Origin{Call: 0, Chain: []int{0}}, []int64{-2}},
		{"translated at the last line before the brace", -22, []session.Record{call(a), ret(a, neg(-2)), stmt(6), stmt(9)},
			&Origin{Call: 0, Translated: true, File: "f.c", Line: 6, Chain: []int{0}}, []int64{-2}},
		{"recovered: a later call succeeded", -1, []session.Record{call(a), ret(a, neg(-2)), call(b), ret(b, 8), stmt(7)}, nil, []int64{-2, 8}},
		{"the last call read, in a loop", -22, []session.Record{call(a), ret(a, 0), call(a), ret(a, neg(-22)), call(v), ret(v, 0)},
			&Origin{Call: 1, Chain: []int{1}}, []int64{0, -22, 0}},
		{"an unused value is never blamed", 0, []session.Record{call(a), ret(a, 5), call(v), ret(v, 0)}, nil, []int64{5, 0}},
		{"a jump to a return address is no return", -2, []session.Record{ret(a, neg(-2)), call(b), ret(b, neg(-2))}, &Origin{Call: 0, Chain: []int{0}}, []int64{-2}},
	} {
		res := p.Calls(&session.Trace{Return: c.ret, Records: c.records}, lines)
		var got []int64
		for _, k := range res.Calls {
			got = append(got, k.Value)
		}
		if len(got) != len(c.values) {
			t.Errorf("%s: values %v, want %v", c.name, got, c.values)
			continue
		}
		for i := range got {
			if got[i] != c.values[i] {
				t.Errorf("%s: values %v, want %v", c.name, got, c.values)
			}
		}
		switch {
		case (res.Origin == nil) != (c.origin == nil):
			t.Errorf("%s: origin %+v, want %+v", c.name, res.Origin, c.origin)
		case res.Origin != nil && !sameOrigin(*res.Origin, *c.origin):
			t.Errorf("%s: origin %+v, want %+v", c.name, *res.Origin, *c.origin)
		}
	}
	// A pointer returned into an int function is wide: printed whole.
	res0 := p.Calls(&session.Trace{Return: -1, Records: []session.Record{call(a), ret(a, 0x7ffe9a159995), call(b), ret(b, neg(-2))}}, lines)
	if c := res0.Calls; len(c) != 2 || !c[0].Wide || c[0].Raw != 0x7ffe9a159995 || c[1].Wide || c[1].Value != -2 {
		t.Errorf("calls %+v: want the first wide, the second -2", c)
	}
	// A callee of unknown type (the kernel's ReturnOf does not know it)
	// returning into a function of 8 bytes: eax's -2 with zero upper bits
	// reads differently at 4 and 8 bytes, so it is shown raw and never
	// blamed; a value that reads the same at both sizes is blamed.
	u := &Site{CallID: 18, ReturnID: 19, Callee: "link_path_walk.part.0.constprop.0", Used: true, File: "f.c", Line: 5, untyped: true}
	p8 := &Plan{retSize: 8, LastLine: 9, byID: map[uint32]*Site{18: u, 19: u}}
	for _, c := range []struct {
		rax    uint64
		wide   bool
		origin bool
	}{
		{neg(-2), true, false},
		{uint64(0xfffffffffffffffe), false, true},
		{5, false, false},
	} {
		r := p8.Calls(&session.Trace{Return: -2, Records: []session.Record{call(u), ret(u, c.rax)}}, lines)
		if len(r.Calls) != 1 || r.Calls[0].Wide != c.wide || (r.Origin != nil) != c.origin {
			t.Errorf("untyped callee returning %#x: calls %+v origin %+v, want wide %v, blamed %v", c.rax, r.Calls, r.Origin, c.wide, c.origin)
		}
	}
	// An indirect call is named by the binary's symbols, the load bias
	// taken off; outside them it is hex.
	p.syms = nil
	res := p.Calls(&session.Trace{Bias: 0x1000, Records: []session.Record{{StmtID: 16, Values: []session.Value{{U64: 0x7ffc0000, OK: true}, {U64: 0x7f0000, OK: true}}}}}, lines)
	if len(res.Calls) != 1 || res.Calls[0].Callee != "0x7f0000" {
		t.Errorf("indirect call %+v, want callee 0x7f0000", res.Calls)
	}
}

// TestPLTSlots: each 16-byte entry's jmp *disp(%rip) gives its slot.
func TestPLTSlots(t *testing.T) {
	entry := func(prefix []byte, disp int32) []byte {
		e := append(append([]byte{}, prefix...), 0xff, 0x25, 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(e[len(prefix)+2:], uint32(disp))
		for len(e) < 16 {
			e = append(e, 0x90)
		}
		return e
	}
	data := append(entry([]byte{0xf3, 0x0f, 0x1e, 0xfa, 0xf2}, 0x100), entry(nil, -0x10)...)
	data = append(data, make([]byte, 16)...) // no jmp: left out
	got := pltSlots(data, 0x2000, 16)
	want := map[uint64]uint64{0x2000: 0x200b + 0x100, 0x2010: 0x2016 - 0x10}
	if len(got) != len(want) || got[0x2000] != want[0x2000] || got[0x2010] != want[0x2010] {
		t.Errorf("slots %#x, want %#x", got, want)
	}
}

// FuzzPLTSlots: any section bytes give slots without panicking, one at
// most per entry.
func FuzzPLTSlots(f *testing.F) {
	f.Add([]byte{0xff, 0x25, 1, 2, 3, 4}, 16)
	f.Add([]byte{0xf3, 0x0f, 0x1e, 0xfa, 0xf2, 0xff, 0x25, 0, 0, 0, 0, 0x90, 0x90, 0x90, 0x90, 0x90}, 8)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		if size != 8 && size != 16 {
			return
		}
		if got := pltSlots(data, 0x1000, size); len(got) > len(data)/size {
			t.Errorf("%d slots from %d entries", len(got), len(data)/size)
		}
	})
}

// TestPLTNamesLibc: every PLT entry objdump names in glibc's libc.so.6
// (name@plt labels, from the same relocations) has that name.
func TestPLTNamesLibc(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	fixture.NeedTool(t, "objdump")
	f, err := elf.Open(libc)
	if err != nil {
		fixture.Missing(t, "%v", err)
		return
	}
	defer f.Close()
	out, err := exec.Command("objdump", "-d", "-j", ".plt", "-j", ".plt.got", "-j", ".plt.sec", libc).Output()
	if err != nil {
		t.Fatal(err)
	}
	names := PLTNames(f)
	re := regexp.MustCompile(`(?m)^([0-9a-f]+) <([^@>*]+)@plt>:$`)
	ms := re.FindAllStringSubmatch(string(out), -1)
	if len(ms) == 0 {
		t.Fatalf("objdump named no PLT entries of %s", libc)
	}
	for _, m := range ms {
		addr, _ := strconv.ParseUint(m[1], 16, 64)
		if names[addr] != m[2] {
			t.Errorf("PLT entry %#x: named %q, objdump says %q", addr, names[addr], m[2])
		}
	}
}

// TestBlame: the origin's call is named by its site, its count among
// that site's calls and its callee, and found again only when a trace
// blames that same call.
func TestBlame(t *testing.T) {
	s := &Site{CallID: 10, ReturnID: 11, Callee: "check", Target: 0x1130, PC: 0x1200, Used: true}
	p := &Plan{retSize: 4, byID: map[uint32]*Site{10: s, 11: s}}
	val := func(u uint64) []session.Value { return []session.Value{{U64: u, OK: true}} }
	tr := func(fail int) *session.Trace {
		var rs []session.Record
		for i := 1; i <= 3; i++ {
			v := uint64(0)
			if i == fail {
				v = uint64(0xffffffea)
			}
			rs = append(rs, session.Record{StmtID: 10}, session.Record{StmtID: 99}, session.Record{StmtID: 11, Values: val(v)})
			if i == fail {
				break
			}
		}
		return &session.Trace{Return: -22, Records: rs}
	}
	res := p.Calls(tr(2), nil)
	b, ok := res.Blame()
	want := Blame{Callee: "check", Target: 0x1130, Site: 0x1200, Nth: 2, Depth: 1}
	if !ok || b != want {
		t.Fatalf("Blame() = %+v, %v; want %+v", b, ok, want)
	}
	if c := res.Calls[1]; c.At != 3 || c.BackAt != 5 {
		t.Errorf("the second call's records at %d..%d, want 3..5", c.At, c.BackAt)
	}
	if c, ok := res.Find(want); !ok || c.Nth != 2 {
		t.Errorf("Find in the same trace: %+v, %v", c, ok)
	}
	if _, ok := p.Calls(tr(3), nil).Find(want); ok {
		t.Error("Find: a trace blaming the third call found the second")
	}

	// Depth 2: FUNCTION calls mid twice (site m), each mid calls leaf
	// once (site l, in mid); the second leaf's failure is passed up.
	// The deepest call is blamed, its site in mid, its count among all
	// the calls made from l in the invocation.
	m := &Site{CallID: 20, ReturnID: 21, Callee: "mid", Target: 0x1300, PC: 0x1210, Used: true, Depth: 1, Binary: "/bin/f", TargetBinary: "/bin/f"}
	l := &Site{CallID: 22, ReturnID: 23, Callee: "leaf", Target: 0x1400, PC: 0x1310, Used: true, Depth: 2, Binary: "/bin/f", TargetBinary: "/bin/f"}
	p2 := &Plan{retSize: 4, Depth: 3, byID: map[uint32]*Site{20: m, 21: m, 22: l, 23: l}}
	v := func(rax, rsp uint64) []session.Value {
		return []session.Value{{U64: rax, OK: true}, {U64: rsp, OK: true}}
	}
	rsp := func(u uint64) []session.Value { return []session.Value{{U64: u, OK: true}} }
	neg2 := uint64(0xfffffffe)
	res = p2.Calls(&session.Trace{Return: -2, Records: []session.Record{
		{StmtID: 20, Values: rsp(1000)}, {StmtID: 22, Values: rsp(900)}, {StmtID: 23, Values: v(0, 900)}, {StmtID: 21, Values: v(0, 1000)},
		{StmtID: 20, Values: rsp(1000)}, {StmtID: 22, Values: rsp(900)}, {StmtID: 23, Values: v(neg2, 900)}, {StmtID: 21, Values: v(neg2, 1000)},
	}}, nil)
	b, ok = res.Blame()
	want2 := Blame{Callee: "leaf", Binary: "/bin/f", Target: 0x1400, SiteBinary: "/bin/f", Site: 0x1310, Nth: 2, Depth: 2}
	if !ok || b != want2 {
		t.Fatalf("depth 2: Blame() = %+v, %v; want %+v", b, ok, want2)
	}
	if c, ok := res.Find(want2); !ok || c.At != 5 || c.BackAt != 6 {
		t.Errorf("depth 2: Find: %+v, %v; want the records 5..6", c, ok)
	}
}

// sameOrigin compares origins, chains included.
func sameOrigin(a, b Origin) bool {
	if a.Call != b.Call || a.Translated != b.Translated || a.Line != b.Line || a.File != b.File || len(a.Chain) != len(b.Chain) {
		return false
	}
	for i := range a.Chain {
		if a.Chain[i] != b.Chain[i] {
			return false
		}
	}
	return true
}

// TestCallTree builds call trees from hand-made records carrying rsp, as
// the probes record it, and checks each call's parent and value and the
// chain to the origin.
func TestCallTree(t *testing.T) {
	// FUNCTION calls mid (site m) and other (site o); mid calls leaf
	// (site l); rec calls itself (site r).
	m := &Site{CallID: 10, ReturnID: 11, Callee: "mid", Used: true, Depth: 1}
	o := &Site{CallID: 12, ReturnID: 13, Callee: "other", Used: true, Depth: 1}
	l := &Site{CallID: 14, ReturnID: 15, Callee: "leaf", Used: true, Depth: 2}
	r := &Site{CallID: 16, ReturnID: 17, Callee: "rec", Used: true, Depth: 2}
	p := &Plan{retSize: 4, Depth: 3, byID: map[uint32]*Site{}}
	for _, s := range []*Site{m, o, l, r} {
		p.byID[s.CallID], p.byID[s.ReturnID] = s, s
	}
	v := func(u ...uint64) []session.Value {
		var out []session.Value
		for _, x := range u {
			out = append(out, session.Value{U64: x, OK: true})
		}
		return out
	}
	neg := func(n int64) uint64 { return uint64(n) & 0xffffffff }
	call := func(s *Site, rsp uint64) session.Record { return session.Record{StmtID: s.CallID, Values: v(rsp)} }
	ret := func(s *Site, rax, rsp uint64) session.Record {
		return session.Record{StmtID: s.ReturnID, Values: v(rax, rsp)}
	}
	type want struct {
		callee string
		parent int
		value  int64
		back   bool
	}
	for _, c := range []struct {
		name    string
		ret     int64
		records []session.Record
		calls   []want
		chain   []int
	}{
		{"three levels, passed up", -2,
			[]session.Record{call(m, 1000), call(l, 900), ret(l, neg(-2), 900), ret(m, neg(-2), 1000)},
			[]want{{"mid", -1, -2, true}, {"leaf", 0, -2, true}}, []int{0, 1}},
		{"a recovering callee is the origin, its failing callee is not", -1,
			[]session.Record{call(m, 1000), call(l, 900), ret(l, neg(-2), 900), call(l, 900), ret(l, 8, 900), ret(m, neg(-1), 1000)},
			[]want{{"mid", -1, -1, true}, {"leaf", 0, -2, true}, {"leaf", 0, 8, true}}, []int{0}},
		{"translated one level down", -22,
			[]session.Record{call(m, 1000), call(l, 900), ret(l, neg(-2), 900), ret(m, neg(-22), 1000)},
			[]want{{"mid", -1, -22, true}, {"leaf", 0, -2, true}}, []int{0, 1}},
		// rec(2) -> rec(1) -> rec(0): one site, each return matched
		// to its own call by rsp; the fourth level is not kept.
		{"recursion", -5,
			[]session.Record{call(m, 1000), call(r, 900), call(r, 800), call(r, 700), ret(r, neg(-5), 700), ret(r, neg(-5), 800), ret(r, neg(-5), 900), ret(m, neg(-5), 1000)},
			[]want{{"mid", -1, -5, true}, {"rec", 0, -5, true}, {"rec", 1, -5, true}}, []int{0, 1, 2}},
		// An inner instance jumping to the return address of the
		// outer instance's call is no return of it (rsp differs).
		{"a jump to a return address in an inner instance", -5,
			[]session.Record{call(m, 1000), call(r, 900), ret(r, 7, 800), ret(r, neg(-5), 900), ret(m, neg(-5), 1000)},
			[]want{{"mid", -1, -5, true}, {"rec", 0, -5, true}}, []int{0, 1}},
		// leaf never returned (a longjmp out of it): the next call at
		// FUNCTION's level closes it, without a value.
		{"a call that never returned", -2,
			[]session.Record{call(m, 1000), call(l, 900), call(o, 1000), ret(o, neg(-2), 1000)},
			[]want{{"mid", -1, 0, false}, {"leaf", 0, 0, false}, {"other", -1, -2, true}}, []int{2}},
	} {
		res := p.Calls(&session.Trace{Return: c.ret, Records: c.records}, nil)
		var got []want
		for _, k := range res.Calls {
			got = append(got, want{k.Callee, k.Parent, k.Value, k.Back})
		}
		if fmt.Sprint(got) != fmt.Sprint(c.calls) {
			t.Errorf("%s: calls %v, want %v", c.name, got, c.calls)
		}
		var chain []int
		if res.Origin != nil {
			chain = res.Origin.Chain
			if res.Origin.Call != chain[len(chain)-1] {
				t.Errorf("%s: origin call %d, not the chain's last %v", c.name, res.Origin.Call, chain)
			}
		}
		if fmt.Sprint(chain) != fmt.Sprint(c.chain) {
			t.Errorf("%s: chain %v, want %v", c.name, chain, c.chain)
		}
	}
}

// TestCallErrno: a call that returned NULL having set errno is the origin
// of -1 (or of NULL from a pointer function); one that left errno as it
// was is not, nor one that returned another value.
func TestCallErrno(t *testing.T) {
	f := &Site{CallID: 10, ReturnID: 11, Callee: "find", Used: true, Depth: 1, callErrno: 1, retErrno: 2}
	v := func(u ...uint64) []session.Value {
		var out []session.Value
		for _, x := range u {
			out = append(out, session.Value{U64: x, OK: true})
		}
		return out
	}
	for _, c := range []struct {
		name                 string
		ptr                  bool
		ret                  int64
		rax, before, errnoAt uint64
		origin               bool
		errno                int64
	}{
		{"NULL with errno set, -1 returned", false, -1, 0, 0, 2, true, 2},
		{"NULL with errno set, NULL returned by a pointer function", true, 0, 0, 0, 2, true, 2},
		{"NULL with errno unchanged", false, -1, 0, 2, 2, false, 0},
		{"a pointer with errno set", false, -1, 0x7f0000001000, 0, 2, false, 2},
		{"NULL with errno set, 0 returned by an int function", false, 0, 0, 0, 2, true, 2}, // 0 == 0: the same value
	} {
		p := &Plan{retSize: 4, retPointer: c.ptr, Depth: 3, byID: map[uint32]*Site{10: f, 11: f}}
		if c.ptr {
			p.retSize = 8
		}
		recs := []session.Record{{StmtID: 10, Values: v(1000, c.before)}, {StmtID: 11, Values: v(c.rax, 1000, c.errnoAt)}}
		res := p.Calls(&session.Trace{Return: c.ret, Records: recs}, nil)
		if len(res.Calls) != 1 || res.Calls[0].Errno != c.errno || (res.Origin != nil) != c.origin {
			t.Errorf("%s: calls %+v origin %+v; want errno %d, origin %v", c.name, res.Calls, res.Origin, c.errno, c.origin)
		}
	}
}

// TestAlso: a call through a pointer whose target an earlier run recorded
// (Input.Also) has that target's calls followed, as a direct callee's,
// at the call's depth: f calls g through %rax, g calls h. The call of g is
// Followed, the chain goes through it down to h (Result.Through), and
// Plan.Indirect names the call. Without Also, or with the pointer's call
// at the depth asked, g's calls are not probed.
func TestAlso(t *testing.T) {
	code := map[uint64][]byte{
		0x1000: {0xff, 0xd0, 0x85, 0xc0, 0xc3},             // f: call *%rax; test %eax,%eax; ret
		0x2000: {0xe8, 0xfb, 0x0f, 0, 0, 0x85, 0xc0, 0xc3}, // g: call h; test %eax,%eax; ret
		0x3000: {0xc3},                                     // h: ret
	}
	in := Input{
		Fn: &debuginfo.Function{Name: "f", Ranges: [][2]uint64{{0x1000, 0x1005}}, Entry: 0x1000},
		Code: func(va uint64, n int) ([]byte, error) {
			c := code[va&^0xfff]
			if c == nil || int(va&0xfff)+n > len(c) {
				return nil, fmt.Errorf("no code at %#x", va)
			}
			return c[va&0xfff:][:n], nil
		},
		FileOffset: func(va uint64) (uint64, error) { return va, nil },
		Symbols:    []target.Symbol{{Name: "f", Value: 0x1000, Size: 5}, {Name: "g", Value: 0x2000, Size: 8}, {Name: "h", Value: 0x3000, Size: 1}},
		Path:       "/bin/f", FirstID: 10, RetSize: 4, Depth: 3,
	}
	ptr := Blame{Callee: "g", Binary: "/bin/f", Target: 0x2000, SiteBinary: "/bin/f", Site: 0x1000, Nth: 1, Depth: 1}
	for _, c := range []struct {
		name  string
		also  []Blame
		depth int
		sites int
	}{{"without", nil, 3, 1}, {"at the depth asked", []Blame{ptr}, 1, 1}, {"with", []Blame{ptr}, 3, 2}} {
		in := in
		in.Also, in.Depth = c.also, c.depth
		p, err := New(in)
		if err != nil || len(p.Sites) != c.sites {
			t.Fatalf("%s: New: %v, %d sites; want %d", c.name, err, len(p.Sites), c.sites)
		}
		if !p.Sites[0].Indirect || p.Deferred(ptr) != (c.depth > 1) {
			t.Errorf("%s: site %+v, Indirect %v", c.name, p.Sites[0], p.Deferred(ptr))
		}
	}
	in.Also = []Blame{ptr}
	p, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Sites[1]; s.PC != 0x2000 || s.Depth != 2 || s.Func != "g" || s.Callee != "h" || s.CallID != 12 {
		t.Fatalf("g's call %+v, want h called at 0x2000, depth 2, ids 12 and 13", s)
	}
	vals := func(us ...uint64) []session.Value {
		var vs []session.Value
		for _, u := range us {
			vs = append(vs, session.Value{U64: u, OK: true})
		}
		return vs
	}
	res := p.Calls(&session.Trace{Return: -2, Records: []session.Record{
		{StmtID: 10, Values: vals(1000, 0x2000, 0x1000)}, {StmtID: 12, Values: vals(900)}, {StmtID: 13, Values: vals(0xfffffffe, 900)},
		{StmtID: 11, Values: vals(0xfffffffe, 1000)},
	}}, nil)
	if len(res.Calls) != 2 || res.Calls[0].Callee != "g" || !res.Calls[0].Followed || res.Calls[1].Parent != 0 || res.Calls[1].Callee != "h" || res.Calls[1].Followed {
		t.Fatalf("calls %+v: want g (followed), then h in it", res.Calls)
	}
	if res.Origin == nil || len(res.Origin.Chain) != 2 || res.Origin.Call != 1 {
		t.Fatalf("origin %+v, want h through g", res.Origin)
	}
	b, _ := res.Blame()
	if !res.Through(ptr) || res.Through(b) {
		t.Errorf("Through(g) %v, Through(h) %v; want true, false", res.Through(ptr), res.Through(b))
	}
}

// TestTailJumpThroughPLT: f's last instruction jumps to its PLT entry of
// g, which Import finds in /lib/g.so, where g calls h: g is a tail-called
// part of f, as a function f jumps to in its own file is (its call of h
// is f's own, at depth 1, in g, probed in /lib/g.so). An entry Import
// does not resolve (not found, an ifunc, an address inside a function)
// leaves the jump unfollowed: no call is planned, never a guessed one.
func TestTailJumpThroughPLT(t *testing.T) {
	codeOf := func(code map[uint64][]byte) func(uint64, int) ([]byte, error) {
		return func(va uint64, n int) ([]byte, error) {
			c := code[va&^0xfff]
			if c == nil || int(va&0xfff)+n > len(c) {
				return nil, fmt.Errorf("no code at %#x", va)
			}
			return c[va&0xfff:][:n], nil
		}
	}
	off := func(va uint64) (uint64, error) { return va, nil }
	lib := &Binary{
		Path: "/lib/g.so",
		Code: codeOf(map[uint64][]byte{
			0x2000: {0xe8, 0xfb, 0x0f, 0, 0, 0x85, 0xc0, 0xc3}, // g: call h; test %eax,%eax; ret
			0x3000: {0xc3},                                     // h: ret
		}),
		FileOffset: off,
		Symbols:    []target.Symbol{{Name: "g", Value: 0x2000, Size: 8}, {Name: "h", Value: 0x3000, Size: 1}},
	}
	in := Input{
		Fn:         &debuginfo.Function{Name: "f", Ranges: [][2]uint64{{0x1000, 0x1005}}, Entry: 0x1000},
		Code:       codeOf(map[uint64][]byte{0x1000: {0xe9, 0xfb, 0x07, 0, 0}}), // f: jmp g@plt (0x1800)
		FileOffset: off,
		Symbols:    []target.Symbol{{Name: "f", Value: 0x1000, Size: 5}},
		PLT:        map[uint64]string{0x1800: "g"},
		Path:       "/bin/f", FirstID: 10, RetSize: 4, Depth: 3,
	}
	for _, c := range []struct {
		name    string
		import_ func(string) (*Binary, uint64, error)
		sites   int
	}{
		{"resolved", func(string) (*Binary, uint64, error) { return lib, 0x2000, nil }, 1},
		{"not found", func(n string) (*Binary, uint64, error) { return nil, 0, fmt.Errorf("%s not found", n) }, 0},
		{"an ifunc", func(string) (*Binary, uint64, error) { return nil, 0, &IfuncError{Lib: "g.so", Path: "/lib/g.so"} }, 0},
		{"inside a function", func(string) (*Binary, uint64, error) { return lib, 0x2001, nil }, 0},
		{"no Import", nil, 0},
	} {
		in := in
		in.Import = c.import_
		p, err := New(in)
		if err != nil || len(p.Sites) != c.sites {
			t.Fatalf("%s: New: %v, %d sites; want %d", c.name, err, len(p.Sites), c.sites)
		}
		if c.sites == 0 {
			continue
		}
		s := p.Sites[0]
		if s.PC != 0x2000 || s.Depth != 1 || s.Func != "f" || s.In != "g" || s.Binary != "/lib/g.so" || s.Callee != "h" || s.Target != 0x3000 || s.TargetBinary != "/lib/g.so" {
			t.Errorf("%s: site %+v, want h called at 0x2000 of /lib/g.so, depth 1, in g", c.name, s)
		}
		if len(p.Stmts) != 2 || p.Stmts[0].Binary != "/lib/g.so" || p.Stmts[1].Binary != "/lib/g.so" {
			t.Errorf("%s: probes %+v, want two in /lib/g.so", c.name, p.Stmts)
		}
	}
}

// TestCallsGap: records the trace buffer dropped (session.Trace.Truncated,
// between TruncatedAt-1 and TruncatedAt) hide calls. A call recorded
// after them is kept only where the call it was made in is known (leaf's
// call of deep, whose own call was dropped, is not taken for mid's); a
// call open across them has its calls not all recorded, so the chain
// stops there (Origin.Cut) unless the call it read last came back after
// them (a later one would be recorded too); and when FUNCTION's last
// call read may be among them, no origin is named (Result.Unknown).
func TestCallsGap(t *testing.T) {
	bin := &Binary{Path: "/bin/f"}
	m := &Site{CallID: 20, ReturnID: 21, Callee: "mid", Target: 0x1300, TargetBinary: "/bin/f", Used: true, Depth: 1, funcBin: bin}
	l := &Site{CallID: 22, ReturnID: 23, Callee: "leaf", Target: 0x1400, TargetBinary: "/bin/f", Used: true, Depth: 2, funcEntry: 0x1300, funcBin: bin}
	d := &Site{CallID: 24, ReturnID: 25, Callee: "deep", Target: 0x1500, TargetBinary: "/bin/f", Used: true, Depth: 3, funcEntry: 0x1400, funcBin: bin}
	p := &Plan{Func: "top", retSize: 4, Depth: 3, byID: map[uint32]*Site{}}
	for _, s := range []*Site{m, l, d} {
		p.byID[s.CallID], p.byID[s.ReturnID] = s, s
	}
	call := func(s *Site, rsp uint64) session.Record {
		return session.Record{StmtID: s.CallID, Values: []session.Value{{U64: rsp, OK: true}}}
	}
	ret := func(s *Site, rax, rsp uint64) session.Record {
		return session.Record{StmtID: s.ReturnID, Values: []session.Value{{U64: rax, OK: true}, {U64: rsp, OK: true}}}
	}
	const neg2 = 0xfffffffe
	for _, c := range []struct {
		name    string
		records []session.Record
		at      int // TruncatedAt
		callees []string
		chain   []int
		cut     bool
		unknown bool
	}{
		{"leaf's call dropped: deep is not mid's", []session.Record{call(m, 1000), call(d, 800), ret(d, neg2, 800), ret(m, neg2, 1000)}, 1,
			[]string{"mid"}, []int{0}, true, false},
		{"mid and leaf open, deep made after: leaf's", []session.Record{call(m, 1000), call(l, 900), call(d, 800), ret(d, neg2, 800), ret(l, neg2, 900), ret(m, neg2, 1000)}, 2,
			[]string{"mid", "leaf", "deep"}, []int{0, 1, 2}, false, false},
		{"leaf came back before: a later call of mid may be among them", []session.Record{call(m, 1000), call(l, 900), ret(l, neg2, 900), call(d, 800), ret(d, 0, 800), ret(m, neg2, 1000)}, 3,
			[]string{"mid", "leaf"}, []int{0}, true, false},
		{"dropped before mid: it came back after them", []session.Record{call(m, 1000), call(l, 900), ret(l, neg2, 900), ret(m, neg2, 1000)}, 0,
			[]string{"mid", "leaf"}, []int{0, 1}, false, false},
		{"dropped after mid came back: a later call may be among them", []session.Record{call(m, 1000), ret(m, neg2, 1000), {StmtID: 99}}, 2,
			[]string{"mid"}, nil, false, true},
		{"dropped with no call kept", []session.Record{{StmtID: 99}, call(l, 900), ret(l, neg2, 900)}, 1,
			nil, nil, false, true},
	} {
		res := p.Calls(&session.Trace{Return: -2, Records: c.records, Truncated: 40, TruncatedAt: c.at}, nil)
		var callees []string
		for _, k := range res.Calls {
			callees = append(callees, k.Callee)
		}
		if fmt.Sprint(callees) != fmt.Sprint(c.callees) {
			t.Errorf("%s: calls %q, want %q", c.name, callees, c.callees)
		}
		if c.unknown != (res.Unknown != "") || (res.Origin == nil) != (c.chain == nil) {
			t.Errorf("%s: origin %+v, unknown %q; want chain %v, unknown %v", c.name, res.Origin, res.Unknown, c.chain, c.unknown)
			continue
		}
		if res.Origin != nil && (fmt.Sprint(res.Origin.Chain) != fmt.Sprint(c.chain) || res.Origin.Cut != c.cut) {
			t.Errorf("%s: chain %v cut %v, want %v cut %v", c.name, res.Origin.Chain, res.Origin.Cut, c.chain, c.cut)
		}
	}
}
