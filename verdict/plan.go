package verdict

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
)

// Input is what Plan reads: the traced function, its debug info and its
// code, with the target's address and frame lookups.
type Input struct {
	Fn    *debuginfo.Function
	Scope *debuginfo.Scope
	// Code returns n bytes of code at link-time address va.
	Code func(va uint64, n int) ([]byte, error)
	// FileOffset converts a link-time address to the probe's file offset.
	FileOffset func(va uint64) (uint64, error)
	// CFA is the canonical frame address rule at pc (DWARF register, offset).
	CFA func(pc uint64) (reg uint64, off int64, err error)
	// Source returns the text of a line, when the source was found; nil
	// when there is no source.
	Source func(file string, line int) (string, bool)
	// FirstID is the statement id of the first branch probe.
	FirstID uint32
	// CallName names the function at a call's target address ("" when
	// no symbol does). With it, a C function's branches that cannot
	// decide its return value (nondeciding.go) and those that another
	// probed branch always follows before any return (superseded.go) get
	// no probe; nil probes every branch, as the kernel needs (its
	// exception-table fixups enter code where no jump shows).
	CallName func(va uint64) string
	// ProbeSuperseded keeps the probes of the branches another probed
	// branch always follows (--placement=naive, which compares with
	// automatic placement); those that cannot decide the return value
	// (nondeciding.go) are left out all the same, as the why: line would
	// change without them.
	ProbeSuperseded bool
}

// Kind says what the flag-setting instruction computed.
type Kind int

// The kinds of flag-setting instruction.
const (
	KindNone    Kind = iota // no flag writer found in the jump's block: only the direction is known
	KindCmp                 // cmp a, b: flags of a - b
	KindTest                // test a, b: flags of a & b
	KindResult              // arithmetic (sub, and, add, ...): flags of the result, recorded in the destination
	KindUnknown             // another instruction: only the direction is known
)

// Operand is one value a branch compared.
type Operand struct {
	// Name is the source name (a variable or member access) or, when
	// nothing names it, the register (%r14d); empty for an immediate.
	Name string
	// Named says Name comes from DWARF (or from the source line), not
	// the register.
	Named bool
	// Imm is set for an immediate operand, whose value is Value.
	Imm   bool
	Value int64
	// Var is the index of the recorded value in the branch statement's
	// variables; -1 when it is not recorded (an immediate, or a value an
	// instruction between the flag writer and the jump overwrites).
	Var  int
	Size int // bytes
	// Text is the instruction's operand as written (AT&T), for messages.
	Text string
}

// Branch is one conditional jump of the traced function.
type Branch struct {
	ID   uint32
	PC   uint64
	File string
	Line int // the jump's own line-table row
	// Text is the source text of Line, when found.
	Text    string
	HasText bool
	Jcc     x86asm.Op // JE, JG, ...: the jump, or the condition of a cmov or setcc
	// Insn is the instruction probed when it is not a jump: a
	// conditional move or set (CMOVL, SETG) that compilers use instead
	// of branching.
	Insn   x86asm.Op
	Setter string // the flag writer's mnemonic (cmp), "" for KindNone
	Kind   Kind
	Ops    []Operand // Intel order: for cmp a, b the flags are a - b
	// FlagsVar is the index of the recorded flags register.
	FlagsVar int
	// Canary marks the stack protector's check (its flag writer reads
	// %fs:), which every return passes: it never decides, and New plans
	// no probe for it.
	Canary bool
}

// Plan is the branches of the traced function and the probes that record
// them.
type Plan struct {
	Func     string
	Branches map[uint32]*Branch
	// Stmts are the branch probes, to append to the statements.
	Stmts []bpfgen.Stmt
	// LastLine is the function's last line with code (its closing brace),
	// which epilogues are attributed to.
	LastLine int
	// source is Input.Source, for the text of the return line.
	source func(file string, line int) (string, bool)
	// stmtPC is where each statement's probe is (ProbePC).
	stmtPC map[uint32]uint64
	// undecided are the lines of the non-deciding branches, which ran
	// after the recorded branch but are not where the return came from.
	undecided map[fileLine]bool
	// Superseded counts the branches left unprobed because another probed
	// branch always follows them before any return (superseded.go).
	Superseded int
	// NonDeciding counts the branches left unprobed because both their
	// sides return the same value (nondeciding.go).
	NonDeciding int
}

// ProbePC says that statement id's probe is at pc, a link-time address.
// Probe placement (package probe/place) may put a statement's probe on a
// conditional jump that a branch probe watches too; both programs then
// run in one trap, in an order the kernel does not promise, and Explain
// uses these addresses to count that statement before the branch, where
// its source is.
func (p *Plan) ProbePC(id uint32, pc uint64) {
	if p.stmtPC == nil {
		p.stmtPC = map[uint32]uint64{}
	}
	p.stmtPC[id] = pc
}

// fileLine is a source line.
type fileLine struct {
	file string
	line int
}

// instr is one decoded instruction.
type instr struct {
	pc   uint64
	inst x86asm.Inst
	ok   bool // decoded (insn.Inst.OK)
}

func (i *instr) end() uint64 { return i.pc + uint64(i.inst.Len) }

// decode decodes every instruction of the function's ranges
// (insn.Decode).
func decode(in Input) ([]instr, error) {
	var out []instr
	for _, r := range in.Fn.Ranges {
		code, err := in.Code(r[0], int(r[1]-r[0]))
		if err != nil {
			return nil, err
		}
		ds, err := insn.Decode(code, r[0])
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out = append(out, instr{pc: d.PC, inst: d.Inst, ok: d.OK})
		}
	}
	return out, nil
}

// isJcc reports whether op is a conditional jump on the flags.
func isJcc(op x86asm.Op) bool {
	switch op {
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JNE, x86asm.JG, x86asm.JGE,
		x86asm.JL, x86asm.JLE, x86asm.JO, x86asm.JNO, x86asm.JP, x86asm.JNP, x86asm.JS, x86asm.JNS:
		return true
	}
	return false
}

// condOf maps the conditional moves and sets to the jump on the same
// condition.
var condOf = map[x86asm.Op]x86asm.Op{
	x86asm.CMOVA: x86asm.JA, x86asm.CMOVAE: x86asm.JAE, x86asm.CMOVB: x86asm.JB, x86asm.CMOVBE: x86asm.JBE,
	x86asm.CMOVE: x86asm.JE, x86asm.CMOVNE: x86asm.JNE, x86asm.CMOVG: x86asm.JG, x86asm.CMOVGE: x86asm.JGE,
	x86asm.CMOVL: x86asm.JL, x86asm.CMOVLE: x86asm.JLE, x86asm.CMOVS: x86asm.JS, x86asm.CMOVNS: x86asm.JNS,
	x86asm.SETA: x86asm.JA, x86asm.SETAE: x86asm.JAE, x86asm.SETB: x86asm.JB, x86asm.SETBE: x86asm.JBE,
	x86asm.SETE: x86asm.JE, x86asm.SETNE: x86asm.JNE, x86asm.SETG: x86asm.JG, x86asm.SETGE: x86asm.JGE,
	x86asm.SETL: x86asm.JL, x86asm.SETLE: x86asm.JLE, x86asm.SETS: x86asm.JS, x86asm.SETNS: x86asm.JNS,
}

// endsBlock reports whether control does not simply fall through op.
func endsBlock(op x86asm.Op) bool {
	switch op {
	case x86asm.JMP, x86asm.RET, x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE, x86asm.UD2, x86asm.HLT:
		return true
	}
	return isJcc(op)
}

// preserving lists instructions that leave the flags alone, and write only
// their first operand (push and pop also rsp and the stack).
var preserving = map[x86asm.Op]bool{
	x86asm.MOV: true, x86asm.MOVZX: true, x86asm.MOVSX: true, x86asm.MOVSXD: true, x86asm.LEA: true,
	x86asm.NOP: true, x86asm.PUSH: true, x86asm.POP: true, x86asm.NOT: true,
	x86asm.SETA: true, x86asm.SETAE: true, x86asm.SETB: true, x86asm.SETBE: true, x86asm.SETE: true, x86asm.SETNE: true,
	x86asm.SETG: true, x86asm.SETGE: true, x86asm.SETL: true, x86asm.SETLE: true, x86asm.SETS: true, x86asm.SETNS: true,
	x86asm.SETO: true, x86asm.SETNO: true, x86asm.SETP: true, x86asm.SETNP: true,
	x86asm.CMOVA: true, x86asm.CMOVAE: true, x86asm.CMOVB: true, x86asm.CMOVBE: true, x86asm.CMOVE: true, x86asm.CMOVNE: true,
	x86asm.CMOVG: true, x86asm.CMOVGE: true, x86asm.CMOVL: true, x86asm.CMOVLE: true, x86asm.CMOVS: true, x86asm.CMOVNS: true,
	x86asm.MOVAPS: true, x86asm.MOVUPS: true, x86asm.MOVDQA: true, x86asm.MOVDQU: true, x86asm.MOVQ: true, x86asm.MOVD: true,
}

// resultKinds are arithmetic flag writers whose flags describe the value
// left in their first operand.
var resultKinds = map[x86asm.Op]bool{
	x86asm.SUB: true, x86asm.ADD: true, x86asm.AND: true, x86asm.OR: true, x86asm.XOR: true,
	x86asm.INC: true, x86asm.DEC: true, x86asm.NEG: true,
}

// written returns the general registers (DWARF numbers) an instruction
// writes and whether it writes memory. Only called for preserving ones.
func written(in *x86asm.Inst) (regs map[uint64]bool, mem bool) {
	regs = map[uint64]bool{}
	switch a := in.Args[0].(type) {
	case x86asm.Reg:
		if d, _, ok := gpr(a); ok {
			regs[d] = true
		}
	case x86asm.Mem:
		mem = true
	}
	if in.Op == x86asm.PUSH || in.Op == x86asm.POP {
		regs[intelToDWARF[4]] = true
		mem = mem || in.Op == x86asm.PUSH
	}
	return regs, mem
}

// New plans the branch probes of in.Fn. Errors are for functions whose
// code cannot be decoded; the caller goes on without a verdict.
func New(in Input) (*Plan, error) {
	ins, err := decode(in)
	if err != nil {
		return nil, fmt.Errorf("decoding %s for the verdict: %w", in.Fn.Name, err)
	}
	leader := leaders(ins)
	p := &Plan{Func: in.Fn.Name, Branches: map[uint32]*Branch{}, source: in.Source}
	if rows, err := in.Fn.CU.Lines(); err == nil {
		for _, r := range rows {
			if !r.EndSeq && in.Fn.Contains(r.Addr) && in.Fn.CU.File(r.File) == in.Fn.DeclFile {
				p.LastLine = max(p.LastLine, r.Line)
			}
		}
	}
	id := in.FirstID
	graph := newCFG(ins)
	var at []int // each probe's instruction (index into ins), in p.Stmts order
	for k := range ins {
		it := &ins[k]
		if !it.ok || (!isJcc(it.inst.Op) && condOf[it.inst.Op] == 0) {
			continue
		}
		off, err := in.FileOffset(it.pc)
		if err != nil {
			continue
		}
		b := &Branch{ID: id, PC: it.pc, Jcc: it.inst.Op, File: in.Fn.DeclFile}
		if c, ok := condOf[it.inst.Op]; ok {
			b.Jcc, b.Insn = c, it.inst.Op
		}
		st := bpfgen.Stmt{ID: id, PC: it.pc, FileOffset: off, Branch: true}
		if reg, off, err := in.CFA(it.pc); err == nil {
			st.CFA = bpfgen.CFARule{Reg: reg, Offset: off}
		}
		n := &namer{in: in, ins: ins, cfg: graph}
		setter := planOperands(b, &st, ins, k, leader, n)
		// The jump's own row; clang gives compiler-made instructions
		// line 0, so then the flag writer's row, or the row before.
		for _, pc := range []uint64{it.pc, setter} {
			if row, ok := in.Fn.CU.RowAt(pc); ok && row.Line != 0 && b.Line == 0 {
				b.Line = row.Line
				if f := in.Fn.CU.File(row.File); f != "" {
					b.File = f
				}
			}
		}
		for j := k - 1; j >= 0 && b.Line == 0; j-- {
			if row, ok := in.Fn.CU.RowAt(ins[j].pc); ok && row.Line != 0 {
				b.Line = row.Line
				if f := in.Fn.CU.File(row.File); f != "" {
					b.File = f
				}
			}
		}
		if in.Source != nil && b.Line > 0 {
			b.Text, b.HasText = in.Source(b.File, b.Line)
		}
		if b.Canary {
			continue // every return passes it: never probed
		}
		b.FlagsVar = len(st.Vars)
		st.Vars = append(st.Vars, ir.Var{Name: "rflags", Expr: flagsExpr, Size: 8})
		p.Branches[id] = b
		p.Stmts = append(p.Stmts, st)
		at = append(at, k)
		id++
	}
	if prunable(ins, in.CallName, in.Fn.CU.Language) {
		keep, nd := keptProbes(ins, at, leader, in.Fn.Entry, in.CallName, returnSize(in.Fn.ReturnInfo()), !in.ProbeSuperseded)
		p.NonDeciding, p.Superseded = len(nd), len(at)-len(nd)-len(keep)
		for i, st := range p.Stmts {
			if b := p.Branches[st.ID]; nd[at[i]] && b.Line > 0 {
				if p.undecided == nil {
					p.undecided = map[fileLine]bool{}
				}
				p.undecided[fileLine{b.File, b.Line}] = true
			}
		}
		p.prune(keep, at, in.FirstID)
	}
	return p, nil
}

// keptProbes returns, of the probed instructions at, those that keep
// their probe, and those of the others that are non-deciding: first the
// branches that cannot decide a return value of size bytes (0: none,
// nondeciding.go) are left out, then, with superseded, of the others
// those another probed branch always follows (superseded.go).
func keptProbes(ins []instr, at []int, leader map[uint64]bool, entry uint64, callName func(uint64) string, size int, superseded bool) (keep, undecided map[int]bool) {
	nd := nonDeciding(ins, at, leader, entry, callName, size)
	rest := map[int]bool{}
	var list []int
	for _, k := range at {
		if !nd[k] {
			rest[k] = true
			list = append(list, k)
		}
	}
	if superseded {
		rest = kept(ins, list, entry)
	}
	return rest, nd
}

// returnSize is the width in bytes of a return value that rax carries
// whole (an integer or a pointer); 0 for any other (void, floating point,
// a structure), whose branches are never judged non-deciding.
func returnSize(t debuginfo.TypeInfo) int {
	if (t.Kind == debuginfo.KindInt || t.Kind == debuginfo.KindPointer) && t.Size >= 1 && t.Size <= 8 {
		return t.Size
	}
	return 0
}

// leaders are the addresses where straight-line blocks start: after an
// instruction that ends one, and at a jump's target.
func leaders(ins []instr) map[uint64]bool {
	leader := map[uint64]bool{}
	for i := range ins {
		it := &ins[i]
		if !it.ok {
			continue
		}
		if endsBlock(it.inst.Op) {
			leader[it.end()] = true
			if rel, ok := it.inst.Args[0].(x86asm.Rel); ok {
				leader[uint64(int64(it.end())+int64(rel))] = true
			}
		}
	}
	return leader
}

// prune leaves out the probes whose instruction (at[i] for p.Stmts[i]) is
// not in keep, and numbers the others' ids again from first.
func (p *Plan) prune(keep map[int]bool, at []int, first uint32) {
	stmts, branches := p.Stmts[:0], map[uint32]*Branch{}
	for i, st := range p.Stmts {
		if !keep[at[i]] {
			continue
		}
		b := p.Branches[st.ID]
		st.ID, b.ID = first, first
		branches[first] = b
		stmts = append(stmts, st)
		first++
	}
	p.Stmts, p.Branches = stmts, branches
}

// planOperands finds the flag writer of the jump ins[k] and the operands to
// record at the jump, and returns the flag writer's address (the jump's
// when there is none).
func planOperands(b *Branch, st *bpfgen.Stmt, ins []instr, k int, leader map[uint64]bool, n *namer) uint64 {
	if leader[ins[k].pc] {
		return ins[k].pc // the flags come from several places
	}
	clobbered := map[uint64]bool{}
	memWritten := false
	for i := k - 1; i >= 0; i-- {
		it := &ins[i]
		if !it.ok || endsBlock(it.inst.Op) || ins[i+1].pc != it.end() {
			return ins[k].pc
		}
		op := it.inst.Op
		if preserving[op] {
			regs, mem := written(&it.inst)
			for r := range regs {
				clobbered[r] = true
			}
			memWritten = memWritten || mem
			if leader[it.pc] {
				return ins[k].pc
			}
			continue
		}
		b.Setter = lower(op.String())
		for _, a := range it.inst.Args {
			if m, ok := a.(x86asm.Mem); ok && m.Segment != 0 {
				b.Canary = true
			}
		}
		var args []x86asm.Arg
		switch {
		case op == x86asm.CMP:
			b.Kind, args = KindCmp, []x86asm.Arg{it.inst.Args[0], it.inst.Args[1]}
		case op == x86asm.TEST:
			b.Kind, args = KindTest, []x86asm.Arg{it.inst.Args[0], it.inst.Args[1]}
		case resultKinds[op]:
			b.Kind, args = KindResult, []x86asm.Arg{it.inst.Args[0]}
		default:
			b.Kind = KindUnknown
			return it.pc
		}
		for j, a := range args {
			if j == 1 && b.Kind == KindTest && sameArg(args[0], a) {
				break // test %eax,%eax: one value
			}
			b.Ops = append(b.Ops, operand(st, it, a, clobbered, memWritten, n, b.Kind == KindResult))
		}
		return it.pc
	}
	return ins[k].pc
}

func sameArg(a, b x86asm.Arg) bool { return a == b }

// operand describes one argument of the flag writer it and, when it can be
// read unchanged at the jump, adds the variable that records it.
//
// With result, the operand is the flag writer's destination, recorded
// after it wrote it: it is named by what it wrote (x-1 for sub $1), never
// by the value it held before; a memory destination is not named.
func operand(st *bpfgen.Stmt, it *instr, a x86asm.Arg, clobbered map[uint64]bool, memWritten bool, n *namer, result bool) Operand {
	o := Operand{Var: -1}
	switch a := a.(type) {
	case x86asm.Imm:
		o.Imm, o.Value = true, int64(a)
		o.Size = it.inst.DataSize / 8
		o.Text = fmt.Sprintf("$%#x", int64(a))
		return o
	case x86asm.Reg:
		d, size, ok := gpr(a)
		o.Text, o.Name, o.Size = regName(a), regName(a), size
		if !ok || clobbered[d] {
			return o
		}
		if result {
			if name, ok := n.written(d, it, size); ok {
				o.Name, o.Named = name, true
			}
		} else if name, ok := n.reg(d, it, size); ok {
			o.Name, o.Named = name, true
		}
		o.Var = len(st.Vars)
		st.Vars = append(st.Vars, ir.Var{Name: o.Name, Expr: []byte{byte(opReg0 + d)}, Size: size})
		return o
	case x86asm.Mem:
		o.Size = it.inst.MemBytes
		o.Text = memText(a)
		o.Name = o.Text
		e, ok := memExpr(a, it)
		if !ok || memWritten || o.Size <= 0 || o.Size > 8 || o.Size&(o.Size-1) != 0 {
			return o
		}
		for _, r := range []x86asm.Reg{a.Base, a.Index} {
			if d, _, ok := gpr(r); ok && clobbered[d] {
				return o
			}
		}
		if name, ok := n.mem(a, it, o.Size); ok && !result {
			o.Name, o.Named = name, true
		}
		o.Var = len(st.Vars)
		st.Vars = append(st.Vars, ir.Var{Name: o.Name, Expr: e, Size: o.Size})
		return o
	}
	return o
}

// memExpr is a DWARF expression for a memory operand's address.
func memExpr(m x86asm.Mem, it *instr) ([]byte, bool) {
	if m.Segment != 0 {
		return nil, false // fs:/gs: (thread-local) are not read
	}
	if m.Base == x86asm.RIP {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(int64(it.end())+m.Disp))
		return append([]byte{opAddr}, b[:]...), true
	}
	var e []byte
	if m.Base != 0 {
		d, size, ok := gpr(m.Base)
		if !ok || size != 8 {
			return nil, false
		}
		e = sleb([]byte{byte(opBreg0 + d)}, m.Disp)
	} else {
		e = append([]byte{opConstu}, uleb(nil, uint64(m.Disp))...)
	}
	if m.Index != 0 {
		d, size, ok := gpr(m.Index)
		if !ok || size != 8 {
			return nil, false
		}
		e = append(e, byte(opBreg0+d), 0, opConstu)
		e = uleb(e, uint64(m.Scale))
		e = append(e, opMul, opPlus)
	}
	return e, true
}

// memText spells a memory operand in AT&T syntax.
func memText(m x86asm.Mem) string {
	var b bytes.Buffer
	if m.Disp != 0 || (m.Base == 0 && m.Index == 0) {
		if m.Disp < 0 {
			fmt.Fprintf(&b, "-%#x", -m.Disp)
		} else {
			fmt.Fprintf(&b, "%#x", m.Disp)
		}
	}
	if m.Base != 0 || m.Index != 0 {
		b.WriteString("(")
		if m.Base != 0 {
			b.WriteString(regName(m.Base))
		}
		if m.Index != 0 {
			fmt.Fprintf(&b, ",%s,%d", regName(m.Index), m.Scale)
		}
		b.WriteString(")")
	}
	return b.String()
}

// IDs returns the branch ids in order.
func (p *Plan) IDs() []uint32 {
	var ids []uint32
	for id := range p.Branches {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
