package follow

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// CalleeInput is what NewAtCallees reads.
type CalleeInput struct {
	// Fn is the function whose calls are followed; its own code is
	// never probed.
	Fn *debuginfo.Function
	// Code returns n bytes of code at link-time address va.
	Code func(va uint64, n int) ([]byte, error)
	// Symbols are the binary's function symbols (target.Binary.Symbols).
	Symbols []target.Symbol
	// FirstID is the statement id of the first probe.
	FirstID uint32
	// RetSize and RetUnsigned are Fn's return type's size and
	// signedness, as for New.
	RetSize     int
	RetUnsigned bool
	// ReturnThunk is the address of the kernel's return thunk
	// (ReturnThunk), a jump to which returns; 0 when there is none.
	ReturnThunk uint64
	// ReturnOf gives the return type of the function named name; ok is
	// false when it is not known (nil: never known). A void callee's
	// return is not probed; a known type's value is read at its own size
	// (an int callee's -EINVAL is -22 in a long function too), an
	// unknown one's at Fn's, as New does.
	ReturnOf func(name string) (r Ret, ok bool)
	// Refused says why no probe may go into the function of symbol s
	// (the kernel refuses it); "" when probes may.
	Refused func(s target.Symbol) string
}

// Ret is a function's return type as far as its value goes: its size in
// bytes (0 for void) and whether it is signed.
type Ret struct {
	Size   int
	Signed bool
}

// norm is rax as a function returning r leaves it, truncated to r's size
// and extended as r is.
func (r Ret) norm(u uint64) int64 {
	return (&Plan{retSize: r.Size, retUnsigned: !r.Signed}).norm(u)
}

// calleeProbe is one probe of a plan at the callees: the entry of callee
// (ret false) or one of the instructions by which it returns, and the
// callee's return type when known (typed; untyped when CalleeInput.ReturnOf
// was asked and does not know it).
type calleeProbe struct {
	callee  string
	ret     bool
	typed   bool
	untyped bool
	rt      Ret
}

// Probe expressions: the return address at the top of the stack (at a
// function's entry and at its ret alike: DW_OP_breg7 0, the memory at
// rsp), and rax (DW_OP_reg0).
var (
	raVar  = ir.Var{Name: "ra", Expr: []byte{0x77, 0x00}, Size: 8}
	raxVar = ir.Var{Name: "rax", Expr: []byte{0x50}, Size: 8}
)

// ReturnThunk is the function the kernel's retbleed-safe code jumps to in
// place of ret: a jump to it is a return.
const ReturnThunk = "__x86_return_thunk"

// NewAtCallees plans --follow for a function whose own code cannot be
// probed (a notrace kernel function): its direct calls are found by
// decoding its code, and each function it calls gets a probe at its entry
// and, when Fn reads what it returns, one on each instruction by which it
// returns (ret, a jump to the return thunk, in it or in the functions it
// tail-jumps to). Both record the return address on the stack; Calls
// keeps only the records whose return address follows one of Fn's call
// instructions (bpfgen.Stmt.ReturnInto filters them in BPF; Calls checks
// again), so a callee's calls from elsewhere, deeper in the same
// invocation, are left out. Callees the kernel refuses to probe and
// indirect calls are listed in Plan.NotSeen.
func NewAtCallees(in CalleeInput) (*Plan, error) {
	p := &Plan{Func: in.Fn.Name, byID: map[uint32]*Site{}, probes: map[uint32]calleeProbe{}, byRA: map[uint64]*Site{},
		syms: sortSymbols(in.Symbols), retSize: in.RetSize, retUnsigned: in.RetUnsigned}
	ins, err := decode(in.Code, in.Fn.Ranges)
	if err != nil {
		return nil, fmt.Errorf("decoding %s for its calls: %w", in.Fn.Name, err)
	}
	type callee struct {
		sym  target.Symbol
		used bool
	}
	var order []string
	callees := map[string]*callee{}
	indirect := 0
	for k, it := range ins {
		if !it.ok || it.inst.Op != x86asm.CALL {
			continue
		}
		ret := it.end()
		if k+1 >= len(ins) || ins[k+1].pc != ret {
			continue // nothing after the call: a noreturn callee
		}
		rel, ok := it.inst.Args[0].(x86asm.Rel)
		if !ok {
			indirect++
			continue
		}
		t := uint64(int64(ret) + int64(rel))
		sym, ok := p.symbolAt(t)
		if !ok || sym.Value != t {
			continue // into the middle of a function: not a call of one
		}
		switch {
		case sym.Name == FentryName:
			continue // ftrace's call site: a nop until ftrace patches it
		case thunkReg(sym.Name) != 0:
			indirect++ // a retpoline: an indirect call
			continue
		}
		s := &Site{PC: it.pc, Return: ret, Callee: sym.Name, Used: usesRAX(ins, k+1), Depth: 1, Func: in.Fn.Name, Target: t, placed: true}
		if in.Fn.CU != nil {
			if row, ok := in.Fn.CU.RowAt(it.pc); ok {
				s.Line, s.File = row.Line, in.Fn.CU.File(row.File)
			}
		}
		c := callees[sym.Name]
		if c == nil {
			c = &callee{sym: sym}
			callees[sym.Name] = c
			order = append(order, sym.Name)
		}
		c.used = c.used || s.Used
		p.Sites = append(p.Sites, s)
		p.byRA[ret] = s
	}
	if indirect > 0 {
		p.NotSeen = append(p.NotSeen, fmt.Sprintf("%d indirect call(s) (their targets are known only when made)", indirect))
	}
	refused := map[string]bool{}
	id := in.FirstID
	for _, name := range order {
		c := callees[name]
		if why := in.Refused(c.sym); why != "" {
			p.NotSeen = append(p.NotSeen, fmt.Sprintf("%s (%s)", name, why))
			refused[name] = true
			continue
		}
		p.Stmts = append(p.Stmts, bpfgen.Stmt{ID: id, PC: c.sym.Value, FileOffset: c.sym.Value, Vars: []ir.Var{raVar}, ReturnInto: in.Fn.Ranges, Order: bpfgen.OrderArrival})
		p.probes[id] = calleeProbe{callee: name}
		id++
		var rt Ret
		typed := false
		if in.ReturnOf != nil {
			rt, typed = in.ReturnOf(name)
		}
		if !c.used || (typed && rt.Size == 0) {
			for _, s := range p.Sites {
				if s.Callee == name {
					s.Used = false // void: nothing to read
				}
			}
			continue
		}
		for _, pc := range p.returns(in, c.sym) {
			p.Stmts = append(p.Stmts, bpfgen.Stmt{ID: id, PC: pc, FileOffset: pc, Vars: []ir.Var{raVar, raxVar}, ReturnInto: in.Fn.Ranges, Order: bpfgen.OrderDeparture})
			p.probes[id] = calleeProbe{callee: name, ret: true, typed: typed, rt: rt, untyped: in.ReturnOf != nil && !typed}
			id++
		}
	}
	// Calls to refused callees are not followed.
	var sites []*Site
	for _, s := range p.Sites {
		if refused[s.Callee] {
			delete(p.byRA, s.Return)
			continue
		}
		sites = append(sites, s)
	}
	p.Sites = sites
	return p, nil
}

// returns lists the addresses of the instructions by which the function
// of sym returns: its ret instructions and jumps to the return thunk, and
// those of the functions it tail-jumps to (maxTail deep) that may be
// probed. A function that cannot be decoded contributes none: calls to it
// then come back unseen.
func (p *Plan) returns(in CalleeInput, sym target.Symbol) []uint64 {
	var out []uint64
	todo := []target.Symbol{sym}
	seen := map[uint64]bool{sym.Value: true}
	for n := 0; n < len(todo) && n <= maxTail; n++ {
		s := todo[n]
		if s.Size == 0 {
			continue
		}
		ins, err := decode(in.Code, [][2]uint64{{s.Value, s.Value + s.Size}})
		if err != nil {
			continue
		}
		for _, it := range ins {
			if !it.ok {
				continue
			}
			switch it.inst.Op {
			case x86asm.RET:
				out = append(out, it.pc)
			case x86asm.JMP:
				rel, ok := it.inst.Args[0].(x86asm.Rel)
				if !ok {
					continue
				}
				t := uint64(int64(it.end()) + int64(rel))
				if t >= s.Value && t < s.Value+s.Size {
					continue
				}
				if t == in.ReturnThunk && t != 0 {
					out = append(out, it.pc)
					continue
				}
				ts, ok := p.symbolAt(t)
				switch {
				case !ok || ts.Value != t:
				case ts.Name == ReturnThunk:
					out = append(out, it.pc)
				case !seen[t] && in.Refused(ts) == "":
					seen[t] = true
					todo = append(todo, ts)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// calleeCalls is Calls for a plan at the callees: an entry record whose
// return address follows one of the function's calls opens that call,
// the next return record with the same return address closes it.
func (p *Plan) calleeCalls(tr *session.Trace, stmt line) Result {
	var res Result
	open := map[uint64][]int{} // return address -> calls not back yet, innermost last
	after := map[int]int{}
	nth := map[*Site]int{}
	for i, r := range tr.Records {
		pr, ok := p.probes[r.StmtID]
		if !ok || len(r.Values) == 0 || !r.Values[0].OK {
			continue
		}
		ra := r.Values[0].U64 - tr.Bias
		s := p.byRA[ra]
		if s == nil {
			continue // a call made elsewhere
		}
		if !pr.ret {
			nth[s]++
			c := Call{Site: s, Callee: pr.callee, Parent: -1, Depth: 1, Target: s.Target, Nth: nth[s], At: i, BackAt: -1}
			open[ra] = append(open[ra], len(res.Calls))
			res.Calls = append(res.Calls, c)
			continue
		}
		ks := open[ra]
		if len(ks) == 0 {
			continue
		}
		k := ks[len(ks)-1]
		open[ra] = ks[:len(ks)-1]
		after[k] = i
		c := &res.Calls[k]
		c.Back, c.BackAt = true, i
		if s.Used && len(r.Values) > 1 && r.Values[1].OK {
			u := r.Values[1].U64
			c.Returned = true
			c.Value, c.Raw, c.Wide = p.norm(u), u, p.wide(u)
			if pr.typed {
				c.Value, c.Wide = pr.rt.norm(u), false
			} else if pr.untyped {
				c.Wide = p.ambiguous(u)
			}
		}
	}
	// A trace is committed when the function returns, and its calls are
	// made one after another: every call it made came back. One whose
	// value it reads but whose return was not seen is Unseen.
	for k := range res.Calls {
		c := &res.Calls[k]
		if !c.Back {
			c.Back, c.Unseen = true, c.Site.Used
		}
	}
	// (A plan at the callees keeps its chain one level deep; a call
	// the dropped records held is not told apart here.)
	res.Origin, res.Unknown = p.origin(res, tr, stmt, after, -1)
	return res
}

// sortSymbols returns syms sorted by address, the best name first at an
// address (better).
func sortSymbols(in []target.Symbol) []target.Symbol {
	syms := append([]target.Symbol(nil), in...)
	sort.Slice(syms, func(i, j int) bool {
		if syms[i].Value != syms[j].Value {
			return syms[i].Value < syms[j].Value
		}
		return better(syms[i].Name, syms[j].Name)
	})
	return syms
}

// FentryName is the function every ftrace-able kernel function calls
// first; the call is a nop at run time until ftrace patches it in.
const FentryName = "__fentry__"

// thunkRegs are the registers the kernel's retpoline thunks
// (__x86_indirect_thunk_REG) call through.
var thunkRegs = map[string]x86asm.Reg{
	"rax": x86asm.RAX, "rbx": x86asm.RBX, "rcx": x86asm.RCX, "rdx": x86asm.RDX, "rsi": x86asm.RSI, "rdi": x86asm.RDI, "rbp": x86asm.RBP,
	"r8": x86asm.R8, "r9": x86asm.R9, "r10": x86asm.R10, "r11": x86asm.R11, "r12": x86asm.R12, "r13": x86asm.R13, "r14": x86asm.R14, "r15": x86asm.R15,
}

// thunkReg is the register a call of the retpoline thunk name goes
// through; 0 when name is no such thunk.
func thunkReg(name string) x86asm.Reg {
	if reg, ok := strings.CutPrefix(name, "__x86_indirect_thunk_"); ok {
		return thunkRegs[reg]
	}
	return 0
}
