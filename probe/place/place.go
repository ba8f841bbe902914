package place

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/internal/dwop"
	"github.com/whythefail/whythefail/internal/leb128"
)

// Func is a decoded function: its instructions and the addresses a run
// must not cross (jump targets, other statements, line rows).
type Func struct {
	entry   uint64
	insts   []inst
	index   map[uint64]int
	barrier map[uint64]string
	// reasons are all the reasons an address is a barrier; jumpers are
	// the instructions (indexes in insts) whose direct target it is.
	reasons map[uint64][]string
	jumpers map[uint64][]int
}

// Decode decodes every range of a function (half-open link-time address
// ranges) and finds its jump targets: direct branches anywhere in the
// function, and the entries of the jump tables its code names. code reads
// machine code at a link-time address; data reads any loaded bytes (jump
// tables live in .rodata), ok false where there are none.
func Decode(entry uint64, ranges [][2]uint64, code func(va uint64, n int) ([]byte, error), data func(va uint64, n int) ([]byte, bool)) (*Func, error) {
	f := &Func{entry: entry, index: map[uint64]int{}, barrier: map[uint64]string{}, reasons: map[uint64][]string{}, jumpers: map[uint64][]int{}}
	for _, rg := range ranges {
		b, err := code(rg[0], int(rg[1]-rg[0]))
		if err != nil {
			return nil, err
		}
		insts, err := decodeRange(b, rg[0])
		if err != nil {
			return nil, err
		}
		f.insts = append(f.insts, insts...)
	}
	sort.Slice(f.insts, func(i, j int) bool { return f.insts[i].addr < f.insts[j].addr })
	for i, in := range f.insts {
		f.index[in.addr] = i
	}
	inFunc := func(a uint64) bool {
		for _, rg := range ranges {
			if a >= rg[0] && a < rg[1] {
				return true
			}
		}
		return false
	}
	for i, in := range f.insts {
		if in.target != 0 && inFunc(in.target) {
			f.Barrier(in.target, "jump target")
			f.jumpers[in.target] = append(f.jumpers[in.target], i)
		}
	}
	if data != nil {
		for _, t := range jumpTables(f.insts, inFunc, data) {
			f.Barrier(t, "jump-table target")
		}
	}
	return f, nil
}

// Indirect reports whether the function jumps through a register or
// memory: its jump-table targets are then found by reading tables
// (Decode), which cannot be proven complete, so callers add every line
// row as a barrier too.
func (f *Func) Indirect() bool {
	for _, in := range f.insts {
		if in.indirect {
			return true
		}
	}
	return false
}

// At describes the instruction at addr: its text and class, ok false when
// no instruction starts there.
func (f *Func) At(addr uint64) (text string, class insn.Class, ok bool) {
	i, ok := f.index[addr]
	if !ok {
		return "", "", false
	}
	return f.insts[i].text, f.insts[i].class, true
}

// Barrier marks an address a run must not cross, with why (a statement,
// a line row).
func (f *Func) Barrier(addr uint64, why string) {
	if _, ok := f.barrier[addr]; !ok {
		f.barrier[addr] = why
	}
	for _, r := range f.reasons[addr] {
		if r == why {
			return
		}
	}
	f.reasons[addr] = append(f.reasons[addr], why)
}

// ELFData reads loaded bytes of an ELF file at a link-time address, for
// Decode's jump tables.
func ELFData(ef *elf.File) func(va uint64, n int) ([]byte, bool) {
	return func(va uint64, n int) ([]byte, bool) {
		for _, s := range ef.Sections {
			if s.Flags&elf.SHF_ALLOC == 0 || s.Type != elf.SHT_PROGBITS || va < s.Addr || va+uint64(n) > s.Addr+s.Size {
				continue
			}
			b := make([]byte, n)
			if _, err := s.ReadAt(b, int64(va-s.Addr)); err != nil {
				return nil, false
			}
			return b, true
		}
		return nil, false
	}
}

// Needs is what a statement's reads depend on at its probe.
type Needs struct {
	Regs regSet // general registers read, DWARF numbers
	// Whole are the registers of Regs that are only ever read as a
	// variable's whole location (DW_OP_regN alone, with nothing applied
	// to the value): Before may read a constant loaded into one of them
	// instead.
	Whole regSet
	CFA   bool // reads relative to the canonical frame address
	Mem   bool // reads memory other than the stack slots in Slots
	// Slots are the stack slots read: size bytes at the CFA (base 99
	// here) or at rsp or rbp plus off. Writes to the stack elsewhere
	// leave them alone.
	Slots []Slot
	// Unknown says why the reads could not be analysed; such a statement
	// keeps its address.
	Unknown string
}

// Slot is a stack slot a statement reads: Size bytes at Base+Off, Base
// the DWARF number of rsp or rbp, or SlotCFA for the canonical frame
// address.
type Slot struct {
	Base uint64
	Off  int64
	Size int64
}

// SlotCFA is Slot.Base for slots relative to the canonical frame address.
const SlotCFA = 99

// ReadsOf analyses the values a statement's probe reads.
func ReadsOf(vars []ir.Var) Needs {
	var n Needs
	var whole, other regSet
	for _, v := range vars {
		if v.Size == 0 && v.Str == 0 && !v.Errno {
			continue // an aggregate: printed without reading it (bpfgen)
		}
		var m Needs
		if s, ok := slotOf(v); ok {
			n.Slots = append(n.Slots, s)
			if s.Base == SlotCFA {
				n.CFA = true
			} else {
				m.Regs |= 1 << s.Base
			}
		} else {
			readsOf(v, &m)
			n.Mem = n.Mem || m.Mem
			n.CFA = n.CFA || m.CFA
			if n.Unknown == "" {
				n.Unknown = m.Unknown
			}
		}
		n.Regs |= m.Regs
		if r, ok := WholeReg(v); ok {
			whole |= 1 << r
		} else {
			other |= m.Regs
		}
	}
	// A register some variable reads otherwise is not whole.
	n.Whole = whole &^ other
	return n
}

// wholeReg recognises a variable read as the whole of one general
// register, DW_OP_reg0-16 with no access path: its value is whatever
// the register holds.
func WholeReg(v ir.Var) (uint64, bool) {
	if len(v.Expr) != 1 || v.Expr[0] < 0x50 || v.Expr[0] > 0x60 || len(v.Steps) > 0 || v.Errno || v.Str > 0 {
		return 0, false
	}
	return uint64(v.Expr[0] - 0x50), true
}

// slotOf recognises a variable read as one stack slot: DW_OP_fbreg with a
// frame base of DW_OP_call_frame_cfa, DW_OP_breg6/7 or DW_OP_reg6/7, or
// DW_OP_breg6/7 itself; at most member offsets added, nothing followed.
func slotOf(v ir.Var) (Slot, bool) {
	if v.Errno || v.Str > 0 || v.Size <= 0 {
		return Slot{}, false
	}
	var add int64
	for _, st := range v.Steps {
		a, ok := st.(ir.StepAdd)
		if !ok {
			return Slot{}, false
		}
		add += a.Off
	}
	e := v.Expr
	if len(e) < 2 {
		return Slot{}, false
	}
	off, k := leb128.Int(e[1:])
	if k <= 0 || 1+k != len(e) {
		return Slot{}, false
	}
	switch op := e[0]; {
	case op == 0x76 || op == 0x77: // breg6, breg7
		return Slot{Base: uint64(op - 0x70), Off: off + add, Size: int64(v.Size)}, true
	case op != 0x91: // fbreg
		return Slot{}, false
	}
	fb := v.FrameBase
	switch {
	case len(fb) == 1 && fb[0] == 0x9c:
		return Slot{Base: SlotCFA, Off: off + add, Size: int64(v.Size)}, true
	case len(fb) == 1 && (fb[0] == 0x56 || fb[0] == 0x57):
		return Slot{Base: uint64(fb[0] - 0x50), Off: off + add, Size: int64(v.Size)}, true
	case len(fb) >= 2 && (fb[0] == 0x76 || fb[0] == 0x77):
		o, k := leb128.Int(fb[1:])
		if k > 0 && 1+k == len(fb) {
			return Slot{Base: uint64(fb[0] - 0x70), Off: off + o + add, Size: int64(v.Size)}, true
		}
	}
	return Slot{}, false
}

// clobbers reports whether a store by an instruction run when rsp was
// rspAt from its value at the statement (rbpSame: rbp not written yet)
// may overlap one of the slots; cfa is the CFA rule at the statement.
func clobbers(st store, rspAt int64, rbpSame bool, slots []Slot, cfa CFA) bool {
	var lo int64
	switch {
	case st.base == 16:
		return false // a global: not the stack
	case st.base == 7:
		lo = rspAt + st.disp
	case st.base == 6 && rbpSame:
		lo = st.disp
	default:
		return true
	}
	for _, s := range slots {
		base, off := s.Base, s.Off
		if base == SlotCFA {
			if cfa.Reg != 6 && cfa.Reg != 7 {
				return true
			}
			base, off = cfa.Reg, off+cfa.Off
		}
		if base != st.base {
			return true // rsp against rbp: unknown distance
		}
		if lo < off+s.Size && off < lo+st.size {
			return true
		}
	}
	return false
}

// CFA is the canonical frame address rule at a statement: Reg + Off.
type CFA struct {
	Reg uint64
	Off int64
}

func readsOf(v ir.Var, n *Needs) {
	fb, err := exprNeeds(v.Expr, n)
	if err != nil && n.Unknown == "" {
		n.Unknown = fmt.Sprintf("location of %s: %v", v.Name, err)
	}
	if fb {
		if _, err := exprNeeds(v.FrameBase, n); err != nil && n.Unknown == "" {
			n.Unknown = fmt.Sprintf("frame base of %s: %v", v.Name, err)
		}
	}
	if v.Errno || v.Str > 0 {
		n.Mem = true
	}
	for _, s := range v.Steps {
		switch s := s.(type) {
		case ir.StepDeref:
			n.Mem = true
		case ir.StepIndex:
			n.Mem = true
			readsOf(s.Index, n)
		}
	}
}

// Decision is where a statement's probe goes.
type Decision struct {
	Addr  uint64 // the probe's address
	Moved bool   // Addr is not the statement's own address
	// RSP is how far rsp moves between the statement and Addr
	// (negative: pushed); RSPKnown is false when something in between
	// sets rsp to an unknown value.
	RSP      int64
	RSPKnown bool
	// Succ says that Addr is the jump that leads to the statement
	// (Successor): the probe there records it only when the jump goes
	// its way. Cond is the jcc's condition code (the low nibble of its
	// opcode), -1 for a jmp, which always goes; Taken says the
	// statement is the jump's target, not its fall-through.
	Succ  bool
	Cond  int
	Taken bool
	// From is, for a statement recorded before it runs (Before), the
	// first instruction that runs after the probe on the straight line
	// to the statement; 0 otherwise.
	From uint64
	// Consts are, for such a statement, registers it reads whole
	// (Needs.Whole) that the instructions between the probe and the
	// statement set to a constant: its reads of them are these values.
	Consts map[uint64]uint64
	// Copies are registers the statement reads whole that are written
	// between the statement and a probe placed after it (Place), each
	// with a register that held the same value at the statement and
	// still holds it at the probe (a copy made just before the
	// statement): its reads of them read the copy.
	Copies map[uint64]uint64
	// Call says that such a statement's line starts where a call
	// returns and the probe is on the call: a statement that follows it
	// on the line must read only what survives the call too.
	Call bool
	Why  string // for -v: "moved to +0x1c jne (2 instructions later)", "kept: ..."
}

// Rewrite returns the statement's reads at the probe: vars, with the
// whole-register reads of Consts and Copies replaced by the constant or
// the copy. Without either, vars itself.
func (d Decision) Rewrite(vars []ir.Var) []ir.Var {
	if len(d.Consts) == 0 && len(d.Copies) == 0 {
		return vars
	}
	out := slices.Clone(vars)
	for i, v := range out {
		r, ok := WholeReg(v)
		if !ok {
			continue
		}
		if c, ok := d.Consts[r]; ok {
			out[i].Expr = append(binary.AppendUvarint([]byte{dwop.Constu}, c), dwop.StackValue)
		} else if a, ok := d.Copies[r]; ok {
			out[i].Expr = []byte{dwop.Reg0 + byte(a)}
		}
	}
	return out
}

// Place decides where the probe of the statement at pc goes, given what
// its reads need (cfaReg is the CFA rule's register at pc) and which
// instruction classes the kernel emulates. The caller must still check
// that the reads' locations and the CFA rule at the new address describe
// the same values (location lists, scopes): Place knows only instructions.
func (f *Func) Place(pc uint64, need Needs, cfa CFA, emulated func(insn.Class) bool) Decision {
	cfaReg := cfa.Reg
	keep := func(format string, a ...any) Decision {
		return Decision{Addr: pc, Why: "kept: " + fmt.Sprintf(format, a...)}
	}
	i, ok := f.index[pc]
	if !ok {
		return keep("not an instruction start")
	}
	first := f.insts[i]
	if first.class != "" && emulated(first.class) {
		return Decision{Addr: pc, Why: fmt.Sprintf("kept: %s is emulated", first.text)}
	}
	var written regSet
	writer := map[uint64]inst{}
	var memWriter, slotWriter *inst
	rsp, rspKnown := int64(0), true
	for j := i; j < len(f.insts); j++ {
		in := f.insts[j]
		if j > i {
			prev := f.insts[j-1]
			if in.addr != prev.addr+uint64(prev.n) {
				return keep("the range ends at %s", f.off(prev.addr+uint64(prev.n)))
			}
			if why, ok := f.barrier[in.addr]; ok {
				return keep("%s at %s", why, f.off(in.addr))
			}
			if in.class != "" && emulated(in.class) {
				if need.Unknown != "" {
					return keep("%s", need.Unknown)
				}
				// A register read whole that is written between may be
				// read from a copy made just before the statement.
				var copies map[uint64]uint64
				var via string
				if written&need.Regs != 0 {
					al := f.aliases(i)
					for r := uint64(0); r < 17; r++ {
						if !written.has(r) || !need.Regs.has(r) {
							continue
						}
						if a, ok := al[r]; ok && need.Whole.has(r) && !written.has(a) {
							if copies == nil {
								copies = map[uint64]uint64{}
							}
							copies[r] = a
							via += fmt.Sprintf(", reading %s from %s, its copy", regName(r), regName(a))
							continue
						}
						w := writer[r]
						return keep("%s written between (%s %s)", regName(r), f.off(w.addr), w.text)
					}
				}
				switch {
				case need.CFA && written.has(cfaReg) && (cfaReg != 7 || !rspKnown):
					w := writer[cfaReg]
					return keep("the frame's register %s changes between (%s %s)", regName(cfaReg), f.off(w.addr), w.text)
				case need.Mem && memWriter != nil:
					return keep("memory written between (%s %s)", f.off(memWriter.addr), memWriter.text)
				case slotWriter != nil:
					return keep("a stack slot read may be written between (%s %s)", f.off(slotWriter.addr), slotWriter.text)
				}
				return Decision{Addr: in.addr, Moved: true, RSP: rsp, RSPKnown: rspKnown, Copies: copies,
					Why: fmt.Sprintf("moved to %s %s (%d instructions later)%s", f.off(in.addr), in.text, j-i, via)}
			}
		}
		if in.flow {
			if j == i {
				return keep("%s is not emulated and ends the run", in.text)
			}
			return keep("%s %s can leave the run", f.off(in.addr), in.text)
		}
		for r := uint64(0); r < 17; r++ {
			if in.writes.has(r) && !written.has(r) {
				writer[r] = in
			}
		}
		written |= in.writes
		if in.mem && memWriter == nil {
			memWriter = &f.insts[j]
		}
		if slotWriter == nil && len(need.Slots) > 0 {
			if in.mem && len(in.stores) == 0 {
				slotWriter = &f.insts[j]
			}
			for _, st := range in.stores {
				if !rspKnown && st.base == 7 || clobbers(st, rsp, !written.has(6), need.Slots, cfa) {
					slotWriter = &f.insts[j]
				}
			}
		}
		if in.writes.has(7) {
			if in.rspKnown {
				rsp += in.rsp
			} else {
				rspKnown = false
			}
		}
	}
	return keep("no emulated instruction follows")
}

// aliases returns, for the statement at insts[i], the registers known
// to hold the same 64-bit value as another when it starts: a copy (mov
// r64, r64) on the straight line right before it, with neither register
// written after the copy. Only when nothing but that line can reach the
// statement (no jump target or other way in from the copy on, the entry
// excluded).
func (f *Func) aliases(i int) map[uint64]uint64 {
	out := map[uint64]uint64{}
	var written regSet
	for j := i - 1; j >= 0; j-- {
		in, next := f.insts[j], f.insts[j+1]
		if in.addr+uint64(in.n) != next.addr || in.flow || next.addr == f.entry {
			break
		}
		entry := false
		for _, r := range f.reasons[next.addr] {
			entry = entry || r != "statement"
		}
		if entry {
			break
		}
		if in.copy && !written.has(in.dst) && !written.has(in.src) {
			if _, ok := out[in.dst]; !ok {
				out[in.dst] = in.src
			}
			if _, ok := out[in.src]; !ok {
				out[in.src] = in.dst
			}
		}
		written |= in.writes
	}
	return out
}

// off formats an address as an offset from the function's entry.
func (f *Func) off(a uint64) string {
	if a >= f.entry {
		return fmt.Sprintf("+%#x", a-f.entry)
	}
	return fmt.Sprintf("-%#x", f.entry-a)
}

// Successor decides whether the statement at pc, whose probe Place kept at
// pc, can be observed on the jumps that lead to it instead: when every
// entry of the statement is an emulated jump, either the fall-through of a
// conditional jump (or of a nop, padding before a loop head) right before
// it or the target of a conditional or unconditional jump (no table,
// landing pad or other fall-through enters it). Each visit of the statement comes through exactly one of them. A
// jump writes nothing but rip, so every register and memory value the
// statement reads is the same at the jump as at pc; the probe there
// evaluates the jump's condition from rflags to know whether the statement
// runs (Decision.Succ). It returns one moved Decision per entry, or one
// Decision that keeps the probe at pc and says why. The caller must still
// rebuild the statement at each jump's address and require identical
// reads (location lists and the CFA rule are per address), as for Place.
func (f *Func) Successor(pc uint64, need Needs, emulated func(insn.Class) bool) []Decision {
	keep := func(format string, a ...any) []Decision {
		return []Decision{{Addr: pc, Why: "kept: " + fmt.Sprintf(format, a...)}}
	}
	i, why := f.observable(pc, need)
	if why != "" {
		return keep("%s", why)
	}
	for _, r := range f.reasons[pc] {
		if r != "statement" && r != "jump target" {
			return keep("%s at the statement", r)
		}
	}
	// prev falls through to pc unless it stops; with no instruction
	// right before pc (the start of a range) the entries are unknown.
	if i == 0 || f.insts[i-1].addr+uint64(f.insts[i-1].n) != pc {
		return keep("no instruction right before it in the function")
	}
	prev := f.insts[i-1]
	type entry struct {
		j     inst
		taken bool
	}
	var entries []entry
	if !prev.stops {
		switch {
		case isNop(prev.class):
			// Padding before a loop head: it always falls
			// through, and writes nothing.
		case prev.cc < 0:
			return keep("entered from %s %s, not a conditional jump", f.off(prev.addr), prev.text)
		case prev.target == pc:
			return keep("both ways of %s %s lead to it", f.off(prev.addr), prev.text)
		}
		entries = append(entries, entry{prev, false})
	}
	for _, k := range f.jumpers[pc] {
		j := f.insts[k]
		if j.cc < 0 && j.class != insn.ClassJmp8 && j.class != insn.ClassJmp32 {
			return keep("entered by %s %s", f.off(j.addr), j.text)
		}
		entries = append(entries, entry{j, true})
	}
	if len(entries) == 0 {
		return keep("no jump enters it")
	}
	var out []Decision
	for _, e := range entries {
		j := e.j
		switch {
		case j.class == "" || !emulated(j.class):
			return keep("a jump that enters it, %s %s, is not emulated", f.off(j.addr), j.text)
		case j.addr == f.entry:
			return keep("a jump that enters it is at the entry")
		}
		how := "falls through"
		switch {
		case isNop(j.class):
			how = "runs"
		case j.cc < 0:
			how = "always jumps"
		case e.taken:
			how = "jumps"
		}
		which := "its only entry"
		if len(entries) > 1 {
			which = fmt.Sprintf("one of its %d entries", len(entries))
		}
		out = append(out, Decision{Addr: j.addr, Moved: true, RSPKnown: true, Succ: true, Cond: j.cc, Taken: e.taken,
			Why: fmt.Sprintf("moved to %s %s, %s, when it %s", f.off(j.addr), j.text, which, how)})
	}
	return out
}

// observable returns the index of the instruction at pc, and why a
// statement there, reading need, can be observed nowhere but at pc by
// Successor or Before ("" when it may be).
func (f *Func) observable(pc uint64, need Needs) (int, string) {
	i, ok := f.index[pc]
	switch {
	case !ok:
		return 0, "not an instruction start"
	case pc == f.entry:
		return i, "the function's entry"
	case f.Indirect():
		return i, "indirect jumps may enter it"
	case need.Unknown != "":
		return i, need.Unknown
	case need.Regs.has(16):
		return i, "it reads rip"
	}
	return i, ""
}

// isNop reports whether c is one of the nop classes.
func isNop(c insn.Class) bool {
	return c == insn.ClassNop || c == insn.ClassNop66 || c == insn.ClassNopL
}
