package verdict

import (
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/target/abi"
)

// The verdict names the last probed branch an invocation ran. A branch
// whose two sides return the same value (`if (strobj == NULL) return
// NULL;` followed by an error path that also returns NULL) did not decide
// what the function returned: whichever way it went, the return value is
// the same. Such a branch is "non-deciding" and gets no probe, so that the
// last branch recorded is the last one that could have sent the call to
// another return value.
//
// A branch B is non-deciding when, from the state at B, every path from
// either side of B
//   - runs no probed branch other than non-deciding ones (a kept branch
//     on the way could lead elsewhere, so B's direction matters), and not
//     B again (the region after B is acyclic),
//   - ends at a ret (any other exit, such as a tail call, an indirect
//     jump or a trap, gives up), or at a call that never returns (abort,
//     __stack_chk_fail, ...), which returns nothing,
//   - and every ret returns the same value: the same constant, or a value
//     B's state already held (a register copied before B and left
//     alone), compared in the return type's width.
//
// The set is grown from empty: a branch passes when its paths meet only
// non-probed and already non-deciding branches; since a passing branch's
// paths meet no kept branch, growing the set later never changes its
// answer, so every member holds for the final set. Then take an
// invocation and the last kept branch K it ran: every probed branch it
// ran after K is non-deciding, so none of them could have changed what it
// returned, and K is the last branch that could have. The rest of the
// verdict's pruning (superseded.go) then runs over the kept branches: its
// proof holds for any set of probed branches.
//
// Values are tracked by a small abstract interpretation: each general
// register and each stack slot ([rbp+d] or [rsp+d], the -O0 return value
// stored then loaded) holds a constant, a symbol, or nothing known. The
// straight-line block that ends at B is run first with a symbol for every
// register at its start and a fresh symbol for every result, so that
// copies made before B (mov %rax,%r15; test %rax,%rax) are known equal. On
// a side of a je or jne after test r,r or cmp $c,r (B's or any on the
// way), every location equal to r is that constant. Results computed after
// B get symbols of their own too (each instruction runs at most once on a
// path, as the region is acyclic), which such a test can turn into a
// constant; but a return value that is still one of them is not
// comparable across B's sides (a call made on both sides may return
// different values) and gives up. An instruction the model does not know
// forgets everything; calls forget the caller-saved registers and every
// stack slot (a callee may write the stack through a pointer), and any
// write through a pointer forgets the slots. Being conservative costs
// only a probe: the branch is kept, as before.

// vkind says what a location holds.
type vkind uint8

const (
	vTop   vkind = iota // not known
	vConst              // the constant c
	vSym                // symbol n (zero-extended from 32 bits when z)
)

// aval is an abstract value.
type aval struct {
	k vkind
	c uint64
	n int
	z bool // vSym: the low 32 bits of symbol n, zero-extended
	// local marks a symbol for a result computed after the branch: it may
	// be another value on the other side.
	local bool
}

var top = aval{}

func cnst(c uint64) aval { return aval{k: vConst, c: c} }

// zext32 is what a 32-bit register write leaves of v.
func zext32(v aval) aval {
	switch v.k {
	case vConst:
		return cnst(v.c & 0xffffffff)
	case vSym:
		v.z = true
		return v
	}
	return top
}

// slot is a stack location: size bytes at base+disp (base rbp or rsp,
// DWARF numbers).
type slot struct {
	base uint64
	disp int64
	size int
}

// zeroTest describes the flags: ZF is set exactly when v equals c, on
// width bytes (4 or 8).
type zeroTest struct {
	ok    bool
	v     aval
	c     uint64
	width int
}

// astate is the abstract state at an instruction.
type astate struct {
	regs  [16]aval // by DWARF number
	slots map[slot]aval
	flags zeroTest
}

func (s *astate) clone() *astate {
	c := *s
	c.slots = make(map[slot]aval, len(s.slots))
	for k, v := range s.slots {
		c.slots[k] = v
	}
	return &c
}

// join keeps what both states agree on.
func join(a, b *astate) *astate {
	out := &astate{slots: map[slot]aval{}}
	for i := range a.regs {
		if a.regs[i] == b.regs[i] {
			out.regs[i] = a.regs[i]
		}
	}
	for k, v := range a.slots {
		if w, ok := b.slots[k]; ok && w == v {
			out.slots[k] = v
		}
	}
	if a.flags == b.flags {
		out.flags = a.flags
	}
	return out
}

// forgetSlots drops the slots based on base (every slot when all).
func (s *astate) forgetSlots(base uint64, all bool) {
	for k := range s.slots {
		if all || k.base == base {
			delete(s.slots, k)
		}
	}
}

// havoc forgets everything.
func (s *astate) havoc() {
	s.regs = [16]aval{}
	s.forgetSlots(0, true)
	s.flags = zeroTest{}
}

// setReg writes v to the register r, as wide as r is.
func (s *astate) setReg(r x86asm.Reg, v aval) bool {
	d, size, ok := gpr(r)
	if !ok {
		return false
	}
	switch size {
	case 8:
		s.regs[d] = v
	case 4:
		s.regs[d] = zext32(v)
	default:
		s.regs[d] = top // a partial write keeps the upper bits
	}
	if d == abi.RSP || d == abi.RBP {
		s.forgetSlots(d, false)
	}
	return true
}

// slotOf is the stack slot a memory operand names, if it names one.
func slotOf(m x86asm.Mem, size int) (slot, bool) {
	if m.Segment != 0 || m.Index != 0 {
		return slot{}, false
	}
	d, bs, ok := gpr(m.Base)
	if !ok || bs != 8 || (d != abi.RBP && d != abi.RSP) {
		return slot{}, false
	}
	return slot{base: d, disp: m.Disp, size: size}, true
}

// global says a memory operand is a fixed address in the binary (rip
// relative or absolute), which no stack slot can be.
func global(m x86asm.Mem) bool {
	return m.Segment == 0 && m.Index == 0 && (m.Base == x86asm.RIP || m.Base == 0)
}

// store writes v to memory operand m of size bytes.
func (s *astate) store(m x86asm.Mem, size int, v aval) {
	sl, ok := slotOf(m, size)
	if !ok {
		if !global(m) {
			s.forgetSlots(0, true) // a pointer may point into the stack
		}
		return
	}
	for k := range s.slots {
		if k.base != sl.base || (k.disp < sl.disp+int64(size) && sl.disp < k.disp+int64(k.size)) {
			delete(s.slots, k)
		}
	}
	switch {
	case size == 8 && v.k != vTop:
		s.slots[sl] = v
	case size == 4 && v.k != vTop:
		s.slots[sl] = zext32(v)
	}
}

// read is the value of an argument of size bytes (4 or 8 for known
// values).
func (s *astate) read(a x86asm.Arg, size int) aval {
	switch a := a.(type) {
	case x86asm.Imm:
		c := uint64(int64(a))
		if size == 4 {
			c &= 0xffffffff
		}
		return cnst(c)
	case x86asm.Reg:
		d, rs, ok := gpr(a)
		if !ok || rs != size {
			return top
		}
		if rs == 4 {
			return zext32(s.regs[d])
		}
		if rs == 8 {
			return s.regs[d]
		}
	case x86asm.Mem:
		if sl, ok := slotOf(a, size); ok {
			return s.slots[sl]
		}
	}
	return top
}

// refine is the state on the side of a jump where the flags' zero test
// holds (eq) or fails; false when that side cannot be taken.
func (s *astate) refine(eq bool) (*astate, bool) {
	f := s.flags
	if !f.ok || f.v.k == vTop {
		return s, true
	}
	mask := ^uint64(0)
	if f.width == 4 {
		mask = 0xffffffff
	}
	if f.v.k == vConst {
		return s, (f.v.c&mask == f.c&mask) == eq
	}
	if !eq {
		return s, true
	}
	// The symbol's tested bits are f.c: every location holding the same
	// bits is that constant.
	if f.width == 4 && !f.v.z {
		return s, true // only the low half is known
	}
	out := s.clone()
	same := func(v aval) (aval, bool) {
		if v.k != vSym || v.n != f.v.n || v.local != f.v.local {
			return v, false
		}
		if v.z || f.width == 8 && !f.v.z {
			c := f.c & mask
			if v.z {
				c &= 0xffffffff
			}
			return cnst(c), true
		}
		return v, false
	}
	for i, v := range out.regs {
		if w, ok := same(v); ok {
			out.regs[i] = w
		}
	}
	for k, v := range out.slots {
		if w, ok := same(v); ok {
			out.slots[k] = w
		}
	}
	out.flags.v, _ = same(f.v)
	return out, true
}

// noReturn lists functions that never return to their caller; a path
// that calls one returns no value. Only names C or POSIX reserve, or that
// start with two underscores: a program's own function called err may
// well return.
var noReturn = map[string]bool{
	"abort": true, "exit": true, "_exit": true, "_Exit": true, "quick_exit": true,
	"__stack_chk_fail": true, "__stack_chk_fail_local": true, "__assert_fail": true, "__assert_perror_fail": true,
	"__chk_fail": true, "__fortify_fail": true, "longjmp": true, "_longjmp": true, "siglongjmp": true, "__longjmp_chk": true,
}

// writesFirst are the instructions (besides those of plan.go's preserving
// and resultKinds) that write their first operand only, given its width;
// the value they leave is not modelled.
var writesFirst = map[x86asm.Op]bool{
	x86asm.ADC: true, x86asm.SBB: true, x86asm.SHL: true, x86asm.SHR: true, x86asm.SAR: true,
	x86asm.ROL: true, x86asm.ROR: true, x86asm.BSWAP: true, x86asm.POPCNT: true, x86asm.LZCNT: true,
	x86asm.TZCNT: true, x86asm.BSF: true, x86asm.BSR: true, x86asm.MOVSS: true, x86asm.MOVSD_XMM: true,
	x86asm.PXOR: true, x86asm.XORPS: true, x86asm.XORPD: true, x86asm.MOVAPD: true, x86asm.MOVUPD: true,
}

// evaluator runs the abstract interpretation of one function.
type evaluator struct {
	ins      []instr
	at       map[uint64]int
	entry    uint64
	callName func(uint64) string
	// fresh numbers the symbols; local is set while after the branch.
	fresh int
	local bool
}

func (e *evaluator) sym(width int) aval {
	e.fresh++
	v := aval{k: vSym, n: e.fresh, local: e.local}
	if width == 4 {
		v.z = true
	}
	return v
}

// step runs ins[i] on s (changed in place) and says whether the path goes
// on (false: a call that never returns).
func (e *evaluator) step(i int, s *astate) bool {
	it := &e.ins[i]
	in := &it.inst
	op := in.Op
	width := in.DataSize / 8
	dest := func(v aval) {
		switch a := in.Args[0].(type) {
		case x86asm.Reg:
			if a >= x86asm.AH && a <= x86asm.BH {
				s.regs[intelToDWARF[a-x86asm.AH]] = top
				return
			}
			if _, size, ok := gpr(a); ok && size < 4 {
				v = top
			}
			s.setReg(a, v)
		case x86asm.Mem:
			s.store(a, in.MemBytes, v)
		}
	}
	unknown := func() aval {
		if a, ok := in.Args[0].(x86asm.Reg); ok {
			if _, size, ok := gpr(a); ok && size >= 4 {
				return e.sym(size)
			}
		}
		return top
	}
	switch {
	case op == x86asm.NOP || op == x86asm.JMP || isJcc(op):
		return true // jumps: edges follows them
	case op == x86asm.BT:
		s.flags = zeroTest{}
		return true
	case op == x86asm.CMP || op == x86asm.TEST:
		s.flags = zeroTest{}
		if width != 4 && width != 8 {
			return true
		}
		a, b := in.Args[0], in.Args[1]
		if op == x86asm.TEST && a == b {
			s.flags = zeroTest{ok: true, v: s.read(a, width), c: 0, width: width}
		} else if imm, ok := b.(x86asm.Imm); ok && op == x86asm.CMP {
			s.flags = zeroTest{ok: true, v: s.read(a, width), c: s.read(imm, width).c, width: width}
		}
		return true
	case op == x86asm.MOV:
		v := s.read(in.Args[1], width)
		if v.k == vTop {
			v = unknown() // a load: some value, that a test may learn
		}
		dest(v)
		return true
	case op == x86asm.CDQE:
		v := s.regs[abi.RAX]
		if v.k == vConst {
			s.regs[abi.RAX] = cnst(uint64(int64(int32(uint32(v.c)))))
		} else {
			s.regs[abi.RAX] = e.sym(8)
		}
		return true
	case (op == x86asm.XOR || op == x86asm.SUB) && in.Args[0] == in.Args[1]:
		dest(cnst(0))
		s.flags = zeroTest{ok: true, v: cnst(0), width: 8}
		return true
	case resultKinds[op]:
		v := unknown()
		dest(v)
		s.flags = zeroTest{}
		if w := width; (w == 4 || w == 8) && v.k != vTop {
			s.flags = zeroTest{ok: true, v: v, width: w}
		}
		return true
	case op == x86asm.PUSH:
		s.regs[abi.RSP] = top
		s.forgetSlots(0, true)
		return true
	case op == x86asm.POP:
		dest(unknown())
		s.regs[abi.RSP] = top
		s.forgetSlots(abi.RSP, false)
		return true
	case op == x86asm.LEAVE:
		s.regs[abi.RSP], s.regs[abi.RBP] = top, top
		s.forgetSlots(0, true)
		return true
	case op == x86asm.CALL:
		if t, ok := rel(it); ok && e.callName != nil {
			n, _, _ := strings.Cut(e.callName(t), "@")
			if noReturn[n] {
				return false
			}
		}
		for r := range callerSaved {
			s.regs[r] = top
		}
		s.regs[abi.RAX] = e.sym(8)
		s.forgetSlots(0, true)
		s.flags = zeroTest{}
		return true
	case preserving[op] || writesFirst[op] || op == x86asm.IMUL && len(in.Args) >= 2 && in.Args[1] != nil:
		// Flag-preserving moves keep the flags; the others compute them
		// from something not modelled.
		if !preserving[op] {
			s.flags = zeroTest{}
		}
		if len(in.Args) == 0 || in.Args[0] == nil {
			return true
		}
		if a, ok := in.Args[0].(x86asm.Reg); ok {
			if _, _, ok := gpr(a); !ok && (a < x86asm.AH || a > x86asm.BH) {
				return true // a vector register
			}
		}
		dest(unknown())
		return true
	}
	s.havoc()
	return true
}

// nonDeciding returns, of the probed instructions (indexes into ins),
// the conditional jumps that are non-deciding (see above) for a function
// whose return value is size bytes in rax (none when size is 0). leader marks the addresses
// where straight-line blocks start.
func nonDeciding(ins []instr, probed []int, leader map[uint64]bool, entry uint64, callName func(uint64) string, size int) map[int]bool {
	if size <= 0 {
		return nil
	}
	e := &evaluator{ins: ins, at: make(map[uint64]int, len(ins)), entry: entry, callName: callName}
	for i := range ins {
		e.at[ins[i].pc] = i
	}
	isProbed := make(map[int]bool, len(probed))
	for _, k := range probed {
		isProbed[k] = true
	}
	out := map[int]bool{}
	for changed := true; changed; {
		changed = false
		for _, k := range probed {
			if out[k] || !isJcc(ins[k].inst.Op) {
				continue
			}
			stop := func(i int) bool { return i == k || isProbed[i] && !out[i] }
			if e.returnsOneValue(k, leader, stop, size) {
				out[k] = true
				changed = true
			}
		}
	}
	return out
}

// maxRegion bounds the instructions a branch's region may hold: a longer
// one keeps its probe.
const maxRegion = 4096

// returnsOneValue reports whether every path from either side of the jump
// ins[k] meets no instruction stop names, has no cycle, and ends in a ret
// that leaves the same known value in the low size bytes of rax, or in a
// call that never returns.
func (e *evaluator) returnsOneValue(k int, leader map[uint64]bool, stop func(int) bool, size int) bool {
	ins := e.ins
	// The state at the jump: its block run from the block's start.
	start := k
	for start > 0 && !leader[ins[start].pc] && ins[start-1].ok && ins[start-1].end() == ins[start].pc &&
		!endsBlock(ins[start-1].inst.Op) {
		start--
	}
	e.local = false
	s := &astate{slots: map[slot]aval{}}
	for r := range s.regs {
		s.regs[r] = e.sym(8)
	}
	for i := start; i < k; i++ {
		if !e.step(i, s) {
			return true // the block never reaches the jump
		}
	}
	e.local = true

	// The region after the jump, in an order where every instruction
	// comes after those that lead to it (it must be acyclic).
	const (
		white = iota
		grey
		black
	)
	color := map[int]int{}
	var order []int // postorder
	ok := true
	var visit func(i int)
	visit = func(i int) {
		if !ok || len(color) > maxRegion {
			ok = false
			return
		}
		if i == exit || stop(i) || !ins[i].ok {
			ok = false
			return
		}
		switch color[i] {
		case grey:
			ok = false // a cycle
			return
		case black:
			return
		}
		color[i] = grey
		for _, n := range e.next(i) {
			visit(n)
		}
		color[i] = black
		order = append(order, i)
	}
	first := e.next(k)
	for _, n := range first {
		visit(n)
	}
	if !ok {
		return false
	}

	in := map[int]*astate{}
	feed := func(to int, st *astate) {
		if old, ok := in[to]; ok {
			in[to] = join(old, st)
		} else {
			in[to] = st
		}
	}
	e.edges(k, s, feed)
	var ret *aval
	for j := len(order) - 1; j >= 0; j-- {
		i := order[j]
		st, reached := in[i]
		if !reached {
			continue // only by an edge that cannot be taken
		}
		delete(in, i)
		if ins[i].inst.Op == x86asm.RET {
			v := normalize(st.regs[abi.RAX], size)
			if v.k == vTop || v.local || ret != nil && *ret != v {
				return false
			}
			ret = &v
			continue
		}
		st = st.clone()
		if !e.step(i, st) {
			continue // a call that never returns
		}
		e.edges(i, st, feed)
	}
	return true
}

// next are the instructions control may reach after ins[i] (exit for
// leaving the function); none after a ret or a call that never returns.
func (e *evaluator) next(i int) []int {
	it := &e.ins[i]
	if it.inst.Op == x86asm.RET {
		return nil
	}
	if it.inst.Op == x86asm.CALL && e.callName != nil {
		if t, ok := rel(it); ok {
			if n, _, _ := strings.Cut(e.callName(t), "@"); noReturn[n] {
				return nil
			}
		}
	}
	return successors(e.ins, i, e.at, e.entry)
}

// edges passes the state after ins[i] to its successors, refined on the
// two sides of a je or jne by the flags' zero test.
func (e *evaluator) edges(i int, st *astate, feed func(int, *astate)) {
	succ := e.next(i)
	op := e.ins[i].inst.Op
	if (op != x86asm.JE && op != x86asm.JNE) || len(succ) != 2 {
		for _, n := range succ {
			feed(n, st)
		}
		return
	}
	// succ[0] falls through, succ[1] jumps; je jumps on ZF.
	for j, n := range succ {
		eq := (j == 1) == (op == x86asm.JE)
		if r, ok := st.refine(eq); ok {
			feed(n, r)
		}
	}
}

// normalize keeps the low size bytes of a return value, which is all the
// caller sees of it.
func normalize(v aval, size int) aval {
	switch {
	case v.k == vConst && size < 8:
		v.c &= 1<<(8*size) - 1
	case v.k == vSym && size <= 4:
		v.z = false // the low half of a symbol and of its zero extension agree
	case v.k == vSym && v.z:
		// zero-extended: differs from the whole symbol in the upper half
	}
	return v
}
