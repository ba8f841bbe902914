package verdict

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
)

// namer finds the source names of a branch's operands from DWARF: the
// variable whose location at the jump is that register or that memory, a
// member of it, a member reached through a pointer variable, or the variable
// an earlier load in the same block read the register from.
type namer struct {
	in  Input
	ins []instr
	pc  uint64 // the jump
	cfa bpfgen.CFARule
}

// vars are the named variables in scope at the jump, with their locations.
func (n *namer) vars() []located {
	var out []located
	for _, v := range n.in.Scope.VarsAt(n.pc) {
		if v.Name == "" {
			continue
		}
		e, ok, err := v.LocationAt(n.pc)
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

// reg names DWARF register d as the flag writer it reads it.
func (n *namer) reg(d uint64, it *instr) (string, bool) {
	for _, l := range n.vars() {
		if bytes.Equal(l.e, []byte{byte(opReg0 + d)}) {
			return l.v.Name, true
		}
	}
	return n.loaded(d, it, 0)
}

// loaded names register d by the last instruction before it (in the same
// block) that wrote it, when that was a load from named memory.
func (n *namer) loaded(d uint64, it *instr, depth int) (string, bool) {
	if depth > 1 {
		return "", false
	}
	k := -1
	for i := range n.ins {
		if n.ins[i].pc == it.pc {
			k = i
			break
		}
	}
	for i := k - 1; i >= 0; i-- {
		p := &n.ins[i]
		if !p.ok || endsBlock(p.inst.Op) || n.ins[i+1].pc != p.end() {
			return "", false
		}
		if r, ok := p.inst.Args[0].(x86asm.Reg); ok {
			if pd, _, ok := gpr(r); ok && pd == d {
				switch p.inst.Op {
				case x86asm.MOV, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD:
					if m, ok := p.inst.Args[1].(x86asm.Mem); ok {
						return n.mem(m, p, depth+1)
					}
				}
				return "", false
			}
		}
		if !preserving[p.inst.Op] && p.inst.Op != x86asm.CMP && p.inst.Op != x86asm.TEST {
			// Another writer may change d implicitly (calls, multiplies).
			if p.inst.Op == x86asm.CALL {
				return "", false
			}
		}
		if n.isLeader(i) {
			return "", false
		}
	}
	return "", false
}

// isLeader reports whether some jump in the function targets ins[i].
func (n *namer) isLeader(i int) bool {
	pc := n.ins[i].pc
	for j := range n.ins {
		p := &n.ins[j]
		if !p.ok || !endsBlock(p.inst.Op) {
			continue
		}
		if rel, ok := p.inst.Args[0].(x86asm.Rel); ok && uint64(int64(p.end())+int64(rel)) == pc {
			return true
		}
	}
	return false
}

// mem names a memory operand: a variable in memory at that address (or a
// member of it), or a member of the struct a named pointer register points
// to.
func (n *namer) mem(m x86asm.Mem, it *instr, depth int) (string, bool) {
	if m.Index != 0 || m.Segment != 0 {
		return "", false
	}
	base, _, ok := gpr(m.Base)
	if !ok {
		return "", false
	}
	for _, l := range n.vars() {
		off, ok := n.varOffset(l.e, base, m.Disp)
		if !ok {
			continue
		}
		if name, ok := member(l.v.Name, ".", l.v.VarType(), off); ok {
			return name, true
		}
	}
	// A member through a pointer: the base register holds a pointer
	// variable.
	var ptr string
	var pt debuginfo.Type
	for _, l := range n.vars() {
		if bytes.Equal(l.e, []byte{byte(opReg0 + base)}) {
			ptr, pt = l.v.Name, l.v.VarType()
			break
		}
	}
	if ptr == "" {
		return "", false
	}
	target, ok := pt.Strip().Target()
	if !ok {
		return "", false
	}
	return member(ptr, "->", target, m.Disp)
}

// varOffset returns how far into a variable located by e the address
// base+disp is, when e places the variable in memory relative to base.
func (n *namer) varOffset(e []byte, base uint64, disp int64) (int64, bool) {
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
			if n.cfa.Reg != base || n.cfa == (bpfgen.CFARule{}) {
				return 0, false
			}
			return disp - (n.cfa.Offset + off), true
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
func member(name, sep string, t debuginfo.Type, off int64) (string, bool) {
	s := t.Strip()
	if off == 0 && s.Tag() != 0x13 && s.Tag() != 0x17 { // neither struct nor union
		return name, true
	}
	ms, err := s.Members()
	if err != nil {
		return "", false
	}
	for _, m := range ms {
		if m.NoOffset || m.BitField || m.Name == "" {
			continue
		}
		if size := m.Type.Size(); off >= m.Offset && off < m.Offset+max(size, 1) {
			return member(name+sep+m.Name, ".", m.Type, off-m.Offset)
		}
	}
	return "", false
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
