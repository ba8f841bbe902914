package follow

import (
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/probe/place"
)

// placeReturns moves the return probes of the sites from index first on,
// all in the code of ranges (a function of b with that entry), off the
// instruction at the return address, which the kernel mostly
// single-steps (a mov, a test), to the first instruction the kernel
// emulates (in.Emulated) in the return address's straight-line run, as
// probe/place moves a statement's probe: no jump target, exception
// landing pad or other probe of the plan is in between or at it, nothing
// in between can leave the run, so the instruction runs exactly once each
// time the return address does; and nothing in between writes what the
// probe reads (rax, rsp, and memory when it reads errno), so it records
// the same values. Anything not shown keeps the return address: a
// function with indirect jumps (whose targets cannot be proven
// complete), one that jumps to code outside it that no function starts
// (a cold part without its symbol, which may jump back anywhere), one
// whose exception tables cannot be read, code without its ELF file. The kernel then emulates the probe's instruction
// instead of single-stepping it, which every caller of the function
// pays, traced or not.
func (p *Plan) placeReturns(in Input, b *Binary, entry uint64, ranges [][2]uint64, ins []instr, first int) {
	sites := p.Sites[first:]
	if len(sites) == 0 {
		return
	}
	keep := func(why string) {
		for _, s := range sites {
			s.ReturnWhy = "kept: " + why
		}
	}
	if b.File == nil || b.File.ELF == nil {
		keep("no ELF file to read jump tables and exception tables from")
		return
	}
	f, err := place.Decode(entry, ranges, b.Code, place.ELFData(b.File.ELF))
	if err != nil {
		keep(err.Error())
		return
	}
	if f.Indirect() {
		keep("the function jumps through a register or memory")
		return
	}
	if a, ok := leaves(ins, ranges, b); ok {
		// Code found only by that jump (a .cold part without its
		// symbol) may jump back into the middle of a run.
		keep(fmt.Sprintf("%#x jumps to %#x, outside the function and no function's entry", a[0], a[1]))
		return
	}
	pads, err := place.LandingPads(b.File.ELF, ranges)
	if err != nil {
		keep(fmt.Sprintf("exception tables: %v", err))
		return
	}
	barriers(f, pads, sites)
	for i, s := range sites {
		k := 2*(first+i) + 1
		st := &p.Stmts[k]
		if st.ID != s.ReturnID {
			panic(fmt.Sprintf("follow: return probe %d at index %d is statement %d", s.ReturnID, k, st.ID))
		}
		s.ReturnWhy = placeReturn(f, b, in, ranges, s, st.Vars)
		if s.ReturnProbe == s.Return {
			continue
		}
		off, err := b.FileOffset(s.ReturnProbe)
		if err != nil {
			s.ReturnProbe, s.ReturnWhy = s.Return, fmt.Sprintf("kept: %v", err)
			continue
		}
		st.PC, st.FileOffset = s.ReturnProbe, off
	}
}

// leaves finds a direct jump of ins (the code of ranges) to an address
// outside ranges that starts no function of b and is not in its PLT:
// code reached that way (a split-off cold part whose symbol is not known)
// may jump back
// anywhere into the function. It returns the jump and its target.
func leaves(ins []instr, ranges [][2]uint64, b *Binary) ([2]uint64, bool) {
	for _, it := range ins {
		if !it.ok || it.inst.Op == x86asm.CALL || !strings.HasPrefix(it.inst.Op.String(), "J") && it.inst.Op != x86asm.LOOP && it.inst.Op != x86asm.LOOPE && it.inst.Op != x86asm.LOOPNE {
			continue
		}
		rel, ok := it.inst.Args[0].(x86asm.Rel)
		if !ok {
			continue
		}
		t := uint64(int64(it.end()) + int64(rel))
		if inRanges(ranges, t) {
			continue
		}
		if s, ok := b.symbolAt(t); ok && s.Value == t {
			continue // a tail call
		}
		if inPLT(b, t) {
			continue // a tail call through the PLT
		}
		return [2]uint64{it.pc, t}, true
	}
	return [2]uint64{}, false
}

// inPLT reports whether va is in one of b's PLT sections (.plt,
// .plt.sec, .plt.got), whose entries jump through the GOT: a jump there
// is a tail call, named or not (glibc's IRELATIVE entries are not).
func inPLT(b *Binary, va uint64) bool {
	if _, ok := b.PLT[va]; ok {
		return true
	}
	if b.File == nil || b.File.ELF == nil {
		return false
	}
	for _, sec := range b.File.ELF.Sections {
		if strings.HasPrefix(sec.Name, ".plt") && va >= sec.Addr && va < sec.Addr+sec.Size {
			return true
		}
	}
	return false
}

// barriers marks the addresses no return probe's run may cross or end
// on, besides the jump targets Decode found: exception landing pads,
// which the unwinder enters, and the call instructions of sites, whose
// own probes would record in an order of their own at the same
// instruction.
func barriers(f *place.Func, pads []uint64, sites []*Site) {
	for _, a := range pads {
		f.Barrier(a, "landing pad")
	}
	for _, s := range sites {
		f.Barrier(s.PC, "call probe")
	}
}

// placeReturn decides where site s's return probe, which reads vars,
// goes (s.ReturnProbe) and says why.
func placeReturn(f *place.Func, b *Binary, in Input, ranges [][2]uint64, s *Site, vars []ir.Var) string {
	d := f.Place(s.Return, place.ReadsOf(vars), place.CFA{Reg: 7}, in.Emulated)
	switch {
	case !d.Moved:
		return d.Why
	case !d.RSPKnown || d.RSP != 0:
		return "kept: rsp moves between" // ReadsOf makes rsp a read: never here
	case in.Fn != nil && in.Fn.Contains(d.Addr):
		return "kept: the candidate is in the traced function"
	}
	_, class, ok := f.At(d.Addr)
	n := uint64(16) // the longest instruction, within its range
	for _, r := range ranges {
		if d.Addr >= r[0] && d.Addr < r[1] {
			n = min(n, r[1]-d.Addr)
		}
	}
	code, err := b.Code(d.Addr, int(n))
	switch {
	case !ok || class == "":
		return "kept: the candidate is not understood"
	case err != nil:
		return fmt.Sprintf("kept: %v", err)
	case !insn.Uprobeable(code):
		return "kept: the kernel takes no uprobe on the candidate"
	}
	s.ReturnProbe = d.Addr
	return d.Why
}
