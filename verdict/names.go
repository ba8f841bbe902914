package verdict

import (
	"bytes"
	"debug/dwarf"
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/debuginfo"
)

// namer finds the source names of a branch's operands from DWARF: the
// variable whose location at the jump is that register or that memory, a
// member of it, a member reached through a pointer variable, or the variable
// an earlier load in the same block read the register from.
type namer struct {
	in  Input
	ins []instr
	cfg *cfg
}

// cfg holds each instruction's predecessors (by index).
type cfg struct {
	preds [][]int
}

// newCFG links the instructions: fall-through, direct jumps, and for a
// function with indirect jumps (switch tables) those jumps as possible
// predecessors of every instruction.
func newCFG(ins []instr) *cfg {
	c := &cfg{preds: make([][]int, len(ins))}
	at := map[uint64]int{}
	for i := range ins {
		at[ins[i].pc] = i
	}
	var indirect []int
	for i := range ins {
		p := &ins[i]
		if !p.ok {
			continue
		}
		op := p.inst.Op
		if i+1 < len(ins) && ins[i+1].pc == p.end() && op != x86asm.JMP && op != x86asm.RET && op != x86asm.UD2 && op != x86asm.HLT {
			c.preds[i+1] = append(c.preds[i+1], i)
		}
		if !endsBlock(op) && op != x86asm.CALL {
			continue
		}
		switch a := p.inst.Args[0].(type) {
		case x86asm.Rel:
			if op == x86asm.CALL {
				continue
			}
			if t, ok := at[uint64(int64(p.end())+int64(a))]; ok {
				c.preds[t] = append(c.preds[t], i)
			}
		case x86asm.Reg, x86asm.Mem:
			if op == x86asm.JMP {
				indirect = append(indirect, i)
			}
		}
	}
	if len(indirect) > 0 {
		for i := range c.preds {
			c.preds[i] = append(c.preds[i], indirect...)
		}
	}
	return c
}

// vars are the named variables in scope at pc, with their locations.
func (n *namer) vars(pc uint64) []located {
	var out []located
	for _, v := range n.in.Scope.VarsAt(pc) {
		if v.Name == "" {
			continue
		}
		e, ok, err := v.LocationAt(pc)
		if err != nil || !ok || len(e) == 0 {
			continue
		}
		out = append(out, located{v, e})
	}
	return out
}

type located struct {
	v *debuginfo.Variable
	e []byte
}

// inReg names the variable DWARF places in register d at pc.
func (n *namer) inReg(d uint64, pc uint64) (located, bool) {
	for _, l := range n.vars(pc) {
		if bytes.Equal(l.e, []byte{byte(opReg0 + d)}) {
			return l, true
		}
	}
	return located{}, false
}

// maxDepth bounds how many loads and copies a name is traced through.
const maxDepth = 4

// index returns the position of the instruction at pc.
func (n *namer) index(pc uint64) int {
	return sort.Search(len(n.ins), func(i int) bool { return n.ins[i].pc >= pc })
}

// named is a value's source name: size is the size of the named object
// (a register narrower or wider than it does not hold it), v the variable
// when the value is a variable's own (not a member of it).
type named struct {
	name string
	size int
	v    *debuginfo.Variable
}

func varNamed(v *debuginfo.Variable) named {
	return named{v.Name, int(v.VarType().Strip().Size()), v}
}

// reg names the value register d holds, read size bytes wide, as
// instruction it reads it.
func (n *namer) reg(d uint64, it *instr, size int) (string, bool) {
	nm, ok := n.regAt(d, n.index(it.pc), 0)
	return nm.name, ok && nm.size == size
}

// written names the value instruction it leaves in register d, read size
// bytes wide.
func (n *namer) written(d uint64, it *instr, size int) (string, bool) {
	k := n.index(it.pc)
	nm, ok := n.def(it, k, d, 0)
	return nm.name, ok && nm.size == size
}

// regAt names the value register d holds just before ins[k] runs, and
// gives its variable when it is a variable's value (not a member): the
// variable DWARF places there, else what every definition of d reaching k
// (through the function's control flow) put there: a copy of a named
// register, a load from named memory, a register DWARF names right after
// its definition, or at the entry a parameter's register. When two
// definitions disagree, or one is anything else, d is not named.
func (n *namer) regAt(d uint64, k int, depth int) (named, bool) {
	if depth > maxDepth || k < 0 || k >= len(n.ins) {
		return named{}, false
	}
	if l, ok := n.inReg(d, n.ins[k].pc); ok {
		return varNamed(l.v), true
	}
	var got named
	seen := map[int]bool{}
	work := append([]int(nil), n.cfg.preds[k]...)
	if k == 0 {
		return named{}, false
	}
	for len(work) > 0 && len(seen) < 4000 {
		j := work[len(work)-1]
		work = work[:len(work)-1]
		if seen[j] {
			continue
		}
		seen[j] = true
		p := &n.ins[j]
		w := writes(p, d)
		if w == writeNone {
			if len(n.cfg.preds[j]) == 0 {
				if j != 0 {
					return named{}, false // reached only by an unknown jump
				}
				l, ok := n.inReg(d, p.pc)
				if !ok || (got.name != "" && got != varNamed(l.v)) {
					return named{}, false
				}
				got = varNamed(l.v)
				continue
			}
			work = append(work, n.cfg.preds[j]...)
			continue
		}
		if w == writeUnknown {
			return named{}, false
		}
		nm, ok := n.def(p, j, d, depth)
		if !ok || (got.name != "" && got != nm) {
			return named{}, false
		}
		got = nm
	}
	if len(work) > 0 || got.name == "" {
		return named{}, false
	}
	return got, true
}

// def names what the instruction ins[j] writes into register d.
func (n *namer) def(p *instr, j int, d uint64, depth int) (named, bool) {
	if l, ok := n.inReg(d, p.end()); ok && j+1 < len(n.ins) && n.ins[j+1].pc == p.end() {
		return varNamed(l.v), true
	}
	_, dsz, _ := gpr(p.inst.Args[0].(x86asm.Reg))
	switch p.inst.Op {
	case x86asm.LEA:
		// lea d(%base),%reg: the base's value plus d.
		m, ok := p.inst.Args[1].(x86asm.Mem)
		if !ok || m.Index != 0 || m.Segment != 0 || m.Base == x86asm.RIP {
			return named{}, false
		}
		b, _, ok := gpr(m.Base)
		if !ok {
			return named{}, false
		}
		nm, ok := n.regAt(b, j, depth+1)
		if !ok || dsz > nm.size {
			return named{}, false
		}
		return named{name: offsetName(nm.name, m.Disp), size: dsz}, true
	case x86asm.ADD, x86asm.SUB:
		// add/sub $imm,%reg: the register's earlier value plus or
		// minus imm.
		imm, ok := p.inst.Args[1].(x86asm.Imm)
		if !ok {
			return named{}, false
		}
		nm, ok := n.regAt(d, j, depth+1)
		if !ok || nm.size != dsz {
			return named{}, false
		}
		delta := int64(imm)
		if p.inst.Op == x86asm.SUB {
			delta = -delta
		}
		return named{name: offsetName(nm.name, delta), size: dsz}, true
	case x86asm.MOV, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD:
		switch src := p.inst.Args[1].(type) {
		case x86asm.Mem:
			name, size, ok := n.memAt(src, j, depth+1)
			if !ok || size != p.inst.MemBytes {
				return named{}, false
			}
			// An extending load holds the same number, wider.
			return named{name: name, size: dsz}, true
		case x86asm.Reg:
			s, ssz, ok := gpr(src)
			if !ok || (p.inst.Op == x86asm.MOV && ssz != dsz) {
				return named{}, false
			}
			nm, ok := n.regAt(s, j, depth+1)
			if !ok || nm.size != ssz {
				return named{}, false
			}
			nm.size = dsz
			return nm, true
		}
	}
	return named{}, false
}

// Kinds of register writes.
const (
	writeNone = iota
	writeDef
	writeUnknown
)

// implicit lists instructions that write registers they do not name
// first (or several registers): a name never passes through them.
var implicit = map[x86asm.Op]bool{
	x86asm.MUL: true, x86asm.DIV: true, x86asm.IDIV: true, x86asm.CQO: true, x86asm.CDQ: true, x86asm.CWD: true,
	x86asm.CDQE: true, x86asm.CWDE: true, x86asm.CBW: true, x86asm.XCHG: true, x86asm.XADD: true, x86asm.CMPXCHG: true,
	x86asm.SYSCALL: true, x86asm.CPUID: true, x86asm.RDTSC: true, x86asm.RDTSCP: true,
	x86asm.MOVSB: true, x86asm.MOVSW: true, x86asm.MOVSD: true, x86asm.MOVSQ: true,
	x86asm.STOSB: true, x86asm.STOSW: true, x86asm.STOSD: true, x86asm.STOSQ: true,
	x86asm.LODSB: true, x86asm.LODSW: true, x86asm.LODSD: true, x86asm.LODSQ: true,
	x86asm.SCASB: true, x86asm.SCASW: true, x86asm.SCASD: true, x86asm.SCASQ: true,
	x86asm.CMPSB: true, x86asm.CMPSW: true, x86asm.CMPSD: true, x86asm.CMPSQ: true,
	x86asm.XGETBV: true, x86asm.RDRAND: true,
}

// callerSaved are the registers a call may change (System V x86-64).
var callerSaved = map[uint64]bool{0: true, 1: true, 2: true, 4: true, 5: true, 8: true, 9: true, 10: true, 11: true}

// writes says whether p writes register d.
func writes(p *instr, d uint64) int {
	if !p.ok {
		return writeUnknown
	}
	op := p.inst.Op
	switch {
	case op == x86asm.CALL:
		if callerSaved[d] {
			return writeUnknown
		}
		return writeNone
	case op == x86asm.CMP || op == x86asm.TEST || op == x86asm.PUSH || op == x86asm.NOP || op == x86asm.JMP || op == x86asm.RET || isJcc(op):
		return writeNone
	case implicit[op]:
		return writeUnknown
	case op == x86asm.IMUL && p.inst.Args[1] == nil:
		return writeUnknown
	}
	if r, ok := p.inst.Args[0].(x86asm.Reg); ok {
		if pd, _, ok := gpr(r); ok && pd == d {
			return writeDef
		}
		if _, _, ok := gpr(r); !ok && (r == x86asm.AH || r == x86asm.BH || r == x86asm.CH || r == x86asm.DH) && d < 4 {
			return writeUnknown
		}
	}
	return writeNone
}

// mem names a memory operand of size bytes as the flag writer it reads it.
func (n *namer) mem(m x86asm.Mem, it *instr, size int) (string, bool) {
	name, sz, ok := n.memAt(m, n.index(it.pc), 0)
	return name, ok && sz == size
}

// memAt names a memory operand of ins[k]: a variable in memory at that
// address (or a member of it), or a member of the struct a pointer in the
// base register points to.
func (n *namer) memAt(m x86asm.Mem, k int, depth int) (string, int, bool) {
	if m.Index != 0 || m.Segment != 0 || depth > maxDepth || k >= len(n.ins) {
		return "", 0, false
	}
	pc := n.ins[k].pc
	if m.Base == x86asm.RIP {
		return "", 0, false
	}
	base, size, ok := gpr(m.Base)
	if !ok || size != 8 {
		return "", 0, false
	}
	for _, l := range n.vars(pc) {
		off, ok := n.varOffset(l.e, base, m.Disp, pc)
		if !ok {
			continue
		}
		if name, size, ok := member(l.v.Name, ".", l.v.VarType(), off); ok {
			return name, size, true
		}
	}
	ptr, ok := n.regAt(base, k, depth+1)
	if !ok || ptr.v == nil {
		return "", 0, false
	}
	pt := ptr.v.VarType().Strip()
	if pt.Tag() != dwarf.TagPointerType {
		return "", 0, false
	}
	target, ok := pt.Target()
	if !ok {
		return "", 0, false
	}
	ts := target.Strip()
	if tag := ts.Tag(); tag == dwarf.TagStructType || tag == dwarf.TagUnionType {
		return member(ptr.name, "->", target, m.Disp)
	}
	// A scalar pointed to: *p, or p[i] at a multiple of its size.
	if size := ts.Size(); size > 0 && m.Disp%size == 0 {
		if m.Disp == 0 {
			return "*" + ptr.name, int(size), true
		}
		return fmt.Sprintf("%s[%d]", ptr.name, m.Disp/size), int(size), true
	}
	return "", 0, false
}

// varOffset returns how far into a variable located by e the address
// base+disp is, when e places the variable in memory relative to base.
func (n *namer) varOffset(e []byte, base uint64, disp int64, pc uint64) (int64, bool) {
	if len(e) < 2 {
		return 0, false
	}
	switch {
	case e[0] == byte(opBreg0+base):
		off, k := readSleb(e[1:])
		if k+1 != len(e) {
			return 0, false
		}
		return disp - off, true
	case e[0] == opFbreg:
		off, k := readSleb(e[1:])
		if k+1 != len(e) {
			return 0, false
		}
		fb := n.in.Fn.FrameBase
		switch {
		case len(fb) == 1 && fb[0] == opCFA:
			reg, cfa, err := n.in.CFA(pc)
			if err != nil || reg != base {
				return 0, false
			}
			return disp - (cfa + off), true
		case len(fb) == 1 && fb[0] == byte(opReg0+base):
			return disp - off, true
		case len(fb) >= 2 && fb[0] == byte(opBreg0+base):
			fo, k := readSleb(fb[1:])
			if k+1 != len(fb) {
				return 0, false
			}
			return disp - (fo + off), true
		}
	}
	return 0, false
}

// member names the object at byte off of an object of type t named name:
// the name itself at 0 for a scalar, else the member of a struct there.
func member(name, sep string, t debuginfo.Type, off int64) (string, int, bool) {
	s := t.Strip()
	if off == 0 && s.Tag() != dwarf.TagStructType && s.Tag() != dwarf.TagUnionType {
		return name, int(s.Size()), true
	}
	ms, err := s.Members()
	if err != nil {
		return "", 0, false
	}
	for _, m := range ms {
		if m.NoOffset || m.BitField || m.Name == "" {
			continue
		}
		if size := m.Type.Size(); off >= m.Offset && off < m.Offset+max(size, 1) {
			return member(name+sep+m.Name, ".", m.Type, off-m.Offset)
		}
	}
	return "", 0, false
}

// readSleb decodes a signed LEB128, returning it and its length.
func readSleb(b []byte) (int64, int) {
	var v int64
	var shift uint
	for i, c := range b {
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, len(b) + 1
}

// offsetName names a value plus d: (kind-1).
func offsetName(name string, d int64) string {
	switch {
	case d == 0:
		return name
	case d < 0:
		return fmt.Sprintf("(%s-%d)", name, -d)
	}
	return fmt.Sprintf("(%s+%d)", name, d)
}
