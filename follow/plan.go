package follow

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/verdict"
)

// Input is what New reads.
type Input struct {
	Fn *debuginfo.Function
	// Code returns n bytes of code at link-time address va.
	Code func(va uint64, n int) ([]byte, error)
	// FileOffset converts a link-time address to the probe's file offset.
	FileOffset func(va uint64) (uint64, error)
	// Symbols are the binary's function symbols (target.Binary.Symbols).
	Symbols []target.Symbol
	// PLT names the binary's PLT entries by address (PLTNames).
	PLT map[uint64]string
	// FirstID is the statement id of the first call probe.
	FirstID uint32
	// RetSize and RetUnsigned are the traced function's return type's
	// size and signedness: callees' return values are compared with its
	// return at that size.
	RetSize     int
	RetUnsigned bool
	// ReturnOf, when set, gives a direct callee's return type by name
	// (as CalleeInput.ReturnOf): its value is then read at its own size.
	ReturnOf func(name string) (r Ret, ok bool)
}

// Site is one call instruction of the traced function (or of a function
// it tail-jumps to).
type Site struct {
	CallID, ReturnID uint32 // the probes' statement ids
	PC               uint64 // the call instruction
	Return           uint64 // the instruction after it
	// Callee names a direct call's target (name@plt through the PLT, or
	// hex when no symbol covers it); empty for an indirect call.
	Callee   string
	Indirect bool
	// Text is the call instruction's operand, for an indirect call.
	Text string
	// File and Line are the call's line-table row in the traced
	// function; Line is 0 for calls in a tail-called function.
	File string
	Line int
	// In names the tail-called function holding the call; empty for
	// the traced function itself.
	In string
	// Used says the code after the call may read the value returned in
	// rax; a call whose value is never read (a void callee) is never the
	// origin, and its rax is not reported.
	Used bool
	// ret is the callee's return type when Input.ReturnOf knows it.
	ret *Ret
}

// Plan is the call sites of the traced function and their probes.
type Plan struct {
	Func  string
	Sites []*Site
	// Stmts are the call and return probes, to append to the statements.
	Stmts []bpfgen.Stmt

	// LastLine is the traced function's last line with code (its
	// closing brace, where epilogues are), which a translation is not
	// attributed to when another line ran after the call.
	LastLine int
	// NotSeen names the calls a plan at the callees (NewAtCallees)
	// cannot see, and why: callees the kernel refuses, indirect calls.
	NotSeen []string

	byID        map[uint32]*Site
	syms        []target.Symbol
	retSize     int
	retUnsigned bool

	// probes and byRA are set by NewAtCallees: its probes by id, and
	// the call sites by return address.
	probes map[uint32]calleeProbe
	byRA   map[uint64]*Site
}

// Owns reports whether statement id is a call or return probe of the plan.
func (p *Plan) Owns(id uint32) bool {
	if p == nil {
		return false
	}
	if _, ok := p.byID[id]; ok {
		return true
	}
	_, ok := p.probes[id]
	return ok
}

// maxTail bounds the chain of tail jumps New follows.
const maxTail = 4

// New plans the call-site probes of in.Fn. An error means the code could
// not be decoded.
func New(in Input) (*Plan, error) {
	syms := sortSymbols(in.Symbols)
	p := &Plan{Func: in.Fn.Name, byID: map[uint32]*Site{}, syms: syms, retSize: in.RetSize, retUnsigned: in.RetUnsigned}
	if in.Fn.CU != nil {
		if rows, err := in.Fn.CU.Lines(); err == nil {
			for _, r := range rows {
				if !r.EndSeq && in.Fn.Contains(r.Addr) && in.Fn.CU.File(r.File) == in.Fn.DeclFile {
					p.LastLine = max(p.LastLine, r.Line)
				}
			}
		}
	}
	id := in.FirstID
	type body struct {
		name   string
		ranges [][2]uint64
	}
	todo := []body{{"", in.Fn.Ranges}}
	seen := map[uint64]bool{}
	for _, r := range in.Fn.Ranges {
		seen[r[0]] = true
	}
	for n := 0; n < len(todo) && n <= maxTail; n++ {
		b := todo[n]
		ins, err := decode(in.Code, b.ranges)
		if err != nil {
			if b.name == "" {
				return nil, fmt.Errorf("decoding %s for --follow: %w", in.Fn.Name, err)
			}
			continue // a tail-called function we cannot decode: its calls are not followed
		}
		for k, it := range ins {
			if !it.ok {
				continue
			}
			switch it.inst.Op {
			case x86asm.JMP:
				rel, ok := it.inst.Args[0].(x86asm.Rel)
				if !ok {
					continue
				}
				t := uint64(int64(it.end()) + int64(rel))
				if inRanges(b.ranges, t) || seen[t] {
					continue
				}
				if s, ok := p.symbolAt(t); ok && s.Value == t && s.Size > 0 && thunkReg(s.Name) == 0 {
					seen[t] = true
					todo = append(todo, body{s.Name, [][2]uint64{{s.Value, s.Value + s.Size}}})
				}
				continue
			case x86asm.CALL:
			default:
				continue
			}
			ret := it.end()
			if k+1 >= len(ins) || ins[k+1].pc != ret {
				continue // nothing after the call in this body: a noreturn callee
			}
			s := &Site{CallID: id, ReturnID: id + 1, PC: it.pc, Return: ret, In: b.name, Used: usesRAX(ins, k+1)}
			call := bpfgen.Stmt{ID: s.CallID, PC: it.pc}
			arg := it.inst.Args[0]
			if a, ok := arg.(x86asm.Rel); ok {
				switch name := p.name(uint64(int64(ret)+int64(a)), in.PLT); {
				case name == FentryName:
					continue // the kernel's ftrace call: a nop at run time
				case thunkReg(name) != 0:
					arg = thunkReg(name) // a retpoline: an indirect call
				}
			}
			switch a := arg.(type) {
			case x86asm.Rel:
				t := uint64(int64(ret) + int64(a))
				s.Callee = p.name(t, in.PLT)
				if in.ReturnOf != nil {
					if r, ok := in.ReturnOf(s.Callee); ok && r.Size > 0 {
						s.ret = &r
					}
				}
			default:
				e, ok := verdict.OperandExpr(a, ret)
				if !ok {
					continue
				}
				s.Indirect = true
				s.Text = x86asm.GNUSyntax(it.inst, it.pc, nil)
				call.Vars = []ir.Var{{Name: "target", Expr: e, Size: 8}}
			}
			var err1, err2 error
			call.FileOffset, err1 = in.FileOffset(it.pc)
			back := bpfgen.Stmt{ID: s.ReturnID, PC: ret, Vars: []ir.Var{{Name: "rax", Expr: []byte{0x50}, Size: 8}}}
			back.FileOffset, err2 = in.FileOffset(ret)
			if err1 != nil || err2 != nil {
				continue
			}
			if b.name == "" && in.Fn.CU != nil {
				if row, ok := in.Fn.CU.RowAt(it.pc); ok {
					s.Line, s.File = row.Line, in.Fn.CU.File(row.File)
				}
			}
			p.Sites = append(p.Sites, s)
			p.byID[s.CallID], p.byID[s.ReturnID] = s, s
			p.Stmts = append(p.Stmts, call, back)
			id += 2
		}
	}
	return p, nil
}

// better orders the names of symbols at one address: glibc's internal
// __GI_ aliases last, then by name, so that a call is named by the
// public alias.
func better(a, b string) bool {
	ga, gb := strings.HasPrefix(a, "__GI_"), strings.HasPrefix(b, "__GI_")
	if ga != gb {
		return gb
	}
	return a < b
}

func inRanges(rs [][2]uint64, pc uint64) bool {
	for _, r := range rs {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

// symbolAt returns the function symbol covering link-time address va.
func (p *Plan) symbolAt(va uint64) (target.Symbol, bool) {
	i := sort.Search(len(p.syms), func(i int) bool { return p.syms[i].Value >= va })
	if i < len(p.syms) && p.syms[i].Value == va {
		return p.syms[i], true // the best name at that address
	}
	for j := i - 1; j >= 0; j-- {
		s := p.syms[j]
		if va == s.Value || va < s.Value+s.Size {
			return s, true
		}
		if s.Value+s.Size <= va && s.Size > 0 {
			break
		}
	}
	return target.Symbol{}, false
}

// name names a link-time code address: its PLT entry's symbol, the
// function symbol it starts (or +offset within), or hex.
func (p *Plan) name(va uint64, plt map[uint64]string) string {
	if n, ok := plt[va]; ok {
		return n + "@plt"
	}
	if s, ok := p.symbolAt(va); ok {
		if s.Value == va {
			return s.Name
		}
		return fmt.Sprintf("%s+%#x", s.Name, va-s.Value)
	}
	return fmt.Sprintf("%#x", va)
}

// instr is one decoded instruction.
type instr struct {
	pc   uint64
	inst x86asm.Inst
	ok   bool
}

func (i instr) end() uint64 { return i.pc + uint64(i.inst.Len) }

// decode decodes the instructions of ranges (insn.Decode).
func decode(code func(uint64, int) ([]byte, error), ranges [][2]uint64) ([]instr, error) {
	var out []instr
	for _, r := range ranges {
		c, err := code(r[0], int(r[1]-r[0]))
		if err != nil {
			return nil, err
		}
		ds, err := insn.Decode(c, r[0])
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out = append(out, instr{pc: d.PC, inst: d.Inst, ok: d.OK})
		}
	}
	return out, nil
}
