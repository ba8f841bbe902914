package follow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/backtrace"
	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr/ir"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/verdict"
)

// Binary is a file whose functions --follow decodes: the traced binary,
// or a shared library a call through the PLT goes to.
type Binary struct {
	// Path is the file's path; File, when set, names functions by their
	// DWARF (the name of the function at an address whose symbol is an
	// alias) and places calls in inlined instances.
	Path string
	File *target.File
	// Code returns n bytes of code at link-time address va.
	Code func(va uint64, n int) ([]byte, error)
	// FileOffset converts a link-time address to the probe's file offset.
	FileOffset func(va uint64) (uint64, error)
	// Symbols are the binary's function symbols (target.Binary.Symbols).
	Symbols []target.Symbol
	// PLT names the binary's PLT entries by address (PLTNames).
	PLT map[uint64]string
	// Slots are the GOT slots the PLT entries jump through, by entry
	// address (PLTSlots), and IfuncPLT the entries through IRELATIVE
	// slots, by the ifunc's name (IfuncPLT): a call through one of those,
	// or through an entry whose name Import finds to be an ifunc, is named
	// by the implementation its slot holds at run time.
	Slots    map[uint64]uint64
	IfuncPLT map[uint64]string
	// BindNow says the dynamic linker fills every GOT slot of the binary
	// at start-up (BindNow reads the flags): no slot is bound during a
	// call, so an ifunc's slot is read at the call only.
	BindNow bool
	// Branch, when set, says what the rel32 field at link-time address
	// at (a call's or jump's operand) is relocated against, for a
	// relocatable file whose code holds no targets yet (a kernel
	// module: target.Module.BranchTarget): the function's name and its
	// address, 0 when it is outside the file (the kernel's).
	Branch func(at uint64) (name string, va uint64, ok bool)
	// Import, when set, finds the function a call through this file's
	// PLT reaches, in place of Input.Import: for a file the traced binary
	// does not need (a plugin loaded with dlopen), whose calls the
	// dynamic linker binds in its own libraries too.
	Import func(name string) (*Binary, uint64, error)

	syms  []target.Symbol // by address, the best name first
	names map[string]target.Symbol
}

// prepare sorts the symbols once.
func (b *Binary) prepare() {
	if b.names != nil {
		return
	}
	b.syms = sortSymbols(b.Symbols)
	b.names = map[string]target.Symbol{}
	for _, s := range b.syms {
		if _, ok := b.names[s.Name]; !ok {
			b.names[s.Name] = s
		}
	}
}

// Input is what New reads.
type Input struct {
	Fn *debuginfo.Function
	// Code, FileOffset, Symbols and PLT describe the traced binary (see
	// Binary); File and Path, when set, name its functions by DWARF.
	Code       func(va uint64, n int) ([]byte, error)
	FileOffset func(va uint64) (uint64, error)
	Symbols    []target.Symbol
	PLT        map[uint64]string
	Slots      map[uint64]uint64
	IfuncPLT   map[uint64]string
	BindNow    bool
	File       *target.File
	Path       string
	// Branch is the traced binary's (Binary.Branch): a kernel module's.
	Branch func(at uint64) (name string, va uint64, ok bool)
	// Depth is how many call levels are recorded: 1 records the calls
	// FUNCTION makes, 2 also the calls those callees make, and so on;
	// 0 means 1.
	Depth int
	// MaxFuncs bounds the functions whose calls are probed, FUNCTION
	// included (0: DefaultMaxFuncs); MaxSites bounds the call sites
	// (0: DefaultMaxSites). Plan.Cut says when they cut the tree.
	MaxFuncs, MaxSites int
	// Import finds the function a call through a PLT entry named name
	// reaches: the library defining it and the function's link-time
	// address there. An error (its text says why) or a nil Import leaves
	// the callee's calls unfollowed; an *IfuncError makes the call an
	// ifunc's (Site.Ifunc).
	Import func(name string) (*Binary, uint64, error)
	// MappedAt, when set, opens the file at path, which the traced
	// process maps (an ifunc's implementation is in it), to name its
	// functions; nil when it cannot be opened.
	MappedAt func(path string) *Binary
	// FirstID is the statement id of the first call probe.
	FirstID uint32
	// RetSize and RetUnsigned are the traced function's return type's
	// size and signedness: callees' return values are compared with its
	// return at that size.
	RetSize     int
	RetUnsigned bool
	// RetPointer says FUNCTION returns a pointer: NULL is its failure.
	RetPointer bool
	// Errno makes the probes record the thread's errno too (the plan's
	// bpfgen.Spec.Errno must locate it), so that a call returning NULL or
	// -1 having set errno is seen to pass its failure up that way.
	Errno bool
	// ReturnOf, when set, gives a direct callee's return type by name
	// (as CalleeInput.ReturnOf): its value is then read at its own size.
	ReturnOf func(name string) (r Ret, ok bool)
	// Emulated, when set, says which instruction classes the kernel
	// emulates at a uprobe (the statements' placement): the return probe
	// of a call in code other than FUNCTION's own (a callee's, a
	// function it tail-jumps to), which every caller of that code pays
	// for, then goes on the first emulated instruction of the return
	// address's straight-line run where that provably records the same
	// (placeReturns). Nil keeps every return probe at its return address.
	Emulated func(insn.Class) bool
	// Stay, when set, names functions, by file and entry, whose return
	// probes stay at the return address: those whose statements are
	// traced too (the origin's, on a --follow -c re-run, and so those of
	// the functions it tail-jumps to), so that the records keep their
	// order with the statements'.
	Stay func(path string, entry uint64) bool
	// Refused, when set, says why no probe may go into the function of
	// symbol s ("" when probes may): the kernel refuses kprobes in it
	// (CalleeInput.Refused). Its calls are not followed (it is a leaf of
	// the call tree, its call and return still recorded where they are
	// made), and Plan.Refused names it; a function tail-jumped to is not
	// decoded.
	Refused func(s target.Symbol) string
	// Also are calls through a pointer (Site.Indirect) that an earlier run
	// recorded, whose target's own calls are followed as well, as a
	// direct callee's are: the function starting at Target in Binary (""
	// or Path: the traced binary; another file is found by BinaryAt), at
	// the call's Depth, when that is above the depth asked for. A call
	// made through a pointer to one of them is then Call.Followed. (A
	// --follow -c re-run's: the target is known once a call was made.)
	Also     []Blame
	BinaryAt func(path string) *Binary
	// Staged follows one level per run: the calls FUNCTION makes (and
	// those of the functions it tail-jumps to, which are its own) and
	// the calls of Also's functions, and no other: a callee whose calls
	// the depth asked for reaches is Site.Deferred instead, its calls
	// followed by a later run once a trace blamed it (Plan.Deferred).
	// So the probes are in FUNCTION's code and in the functions of a
	// chain an earlier run blamed only: a callee's other callers pay
	// nothing for them.
	Staged bool
	// SiteRefused, when set, says whether the kernel refuses a probe at
	// the instruction at pc (a kprobe at a static call site, say): a call
	// whose call or return instruction it refuses is left out, in
	// Plan.Unprobed, as one the uprobe rules refuse.
	SiteRefused func(pc uint64) bool
}

// Defaults of Input.MaxFuncs and Input.MaxSites.
const (
	DefaultMaxFuncs = 48
	DefaultMaxSites = 400
)

// Site is one call instruction of the traced function (or of a function
// it tail-jumps to), or of a function it calls, to the depth followed.
type Site struct {
	CallID, ReturnID uint32 // the probes' statement ids
	PC               uint64 // the call instruction
	Return           uint64 // the instruction after it
	// ReturnProbe is where the return probe is: Return, or the emulated
	// instruction after it that it was moved to (Input.Emulated).
	ReturnProbe uint64
	// ReturnWhy says why the return probe is where it is, for -v; empty
	// where placement was not tried (FUNCTION's own calls, Stay).
	ReturnWhy string
	// Callee names a direct call's target (name@plt through the PLT, the
	// DWARF name of the function there, else its symbol, or hex); empty
	// for an indirect call. The DWARF names (Callee, Func, In), a callee's
	// File and Line below FUNCTION and Inlined are filled in by
	// Plan.Calls for the sites a trace made calls at (symbol names and no
	// line before).
	Callee   string
	Indirect bool
	// Text is the call instruction's operand, for an indirect call.
	Text string
	// File and Line are the call's line-table row; Line is 0 for calls
	// in a tail-called function of FUNCTION, and where no line is known.
	File string
	Line int
	// In names the tail-called function holding the call; empty for
	// the traced function itself.
	In string
	// Used says the code after the call may read the value returned in
	// rax; a call whose value is never read (a void callee) is never the
	// origin, and its rax is not reported.
	Used bool

	// Depth is the call's level: 1 for FUNCTION's own calls, 2 for the
	// calls of the functions it calls, and so on.
	Depth int
	// Func names the function the call is in (FUNCTION's name at depth
	// 1) and Binary is the path of the file holding it (the probes are
	// placed there).
	Func   string
	Binary string
	// Inlined names the inlined functions the call instruction is in,
	// innermost first (DWARF inlined_subroutine at PC): empty when the
	// call is in the out-of-line code of Func.
	Inlined []string
	// Target is a direct call's callee: its link-time entry address in
	// TargetBinary (the library a PLT call reaches, when found); 0 when
	// unknown. Followed says the callee's own calls are probed too;
	// otherwise, at a depth below the one asked for, NotFollowed says
	// why ("called through a pointer", "an ifunc", ...).
	Target       uint64
	TargetBinary string
	Followed     bool
	NotFollowed  string
	// Deferred says the callee's own calls, which the depth asked for
	// reaches, are not probed in this run because it follows one level
	// per run (Input.Staged): a later run follows them (Input.Also)
	// when a trace blames this call.
	Deferred bool
	// Ifunc says the call goes through a PLT entry to an ifunc: its
	// probes read the entry's GOT slot, at Slot (a link-time address of
	// Binary), and Plan.Calls names the implementation the slot holds.
	Ifunc bool
	Slot  uint64

	callErrno, retErrno int     // the errno value's index in the records, -1: none
	retSlot             int     // an ifunc's slot's index in the return records, 0: not read there
	ifuncLib            string  // the path of the file defining the ifunc
	bin                 *Binary // the file holding the call
	funcEntry, inEntry  uint64  // Func's and In's entries, to name them by DWARF (0: keep)
	funcBin             *Binary // the file holding Func (bin, or the one tail-jumping through its PLT to bin)
	callee              *Binary // the callee's, when a direct call reaches a function's start
	placed              bool    // File and Line are final
	resolved            bool    // resolve ran
	// ret is the callee's return type when Input.ReturnOf knows it;
	// untyped says Input.ReturnOf was asked and does not know it.
	ret     *Ret
	untyped bool
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

	// Depth is the depth followed (Input.Depth); Cut, when set, is the
	// one line saying that the bounds on functions or call sites cut
	// the call tree.
	Depth int
	Cut   string
	// Unprobed are the calls not recorded because the kernel refuses a
	// uprobe on their call or return instruction (a lock prefix, say),
	// as function+offset.
	Unprobed []string
	// Refused are the callees whose own calls are not followed because
	// Input.Refused refused them: "name (why)", once each.
	Refused []string

	mu          sync.Mutex // resolve's
	byID        map[uint32]*Site
	bins        map[string]*Binary
	root        *Binary
	syms        []target.Symbol
	retSize     int
	retUnsigned bool
	retPointer  bool

	// probes and byRA are set by NewAtCallees: its probes by id, and
	// the call sites by return address.
	probes map[uint32]calleeProbe
	byRA   map[uint64]*Site

	refused map[string]bool // the names in Refused
	also    map[fkey]bool   // Input.Also's targets that were followed

	// Ifuncs counts the ifunc sites (Site.Ifunc): naming their
	// implementations needs the traced process's memory map
	// (session.Stack.Maps).
	Ifuncs       int
	mappedAt     func(string) *Binary
	mapped       map[string]*Binary // Input.MappedAt's, by path
	implNames    map[fkey]string    // ifunc implementations' names
	lastMaps     []backtrace.Mapping
	lastMapsText []byte
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

// maxTail bounds the chain of tail jumps New follows from one function.
const maxTail = 4

// Values the call and return probes record, by index.
const (
	callRSP    = 0 // rsp at the call instruction
	callTarget = 1 // an indirect call's target
	callRIP    = 2 // the call instruction's run-time address (indirect calls)
	retRAX     = 0 // rax at the return address
	retRSP     = 1 // rsp there: the call's rsp again, once it returned
)

// addrExpr is DW_OP_addr va: the memory at link-time address va of the
// probe's file (relocated by the probe's own load bias).
func addrExpr(va uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{0x03}, va)
}

// DWARF expressions of the registers the probes read.
var (
	exprRAX = []byte{0x50}       // DW_OP_reg0
	exprRSP = []byte{0x57}       // DW_OP_reg7
	exprRIP = []byte{0x90, 0x10} // DW_OP_regx 16
)

// fkey is a function: its file and link-time entry address.
type fkey struct {
	bin   string
	entry uint64
}

// body is a function whose calls New probes.
type body struct {
	bin    *Binary
	name   string      // its symbol's name (FUNCTION's DWARF name)
	entry  uint64      // its entry (0 for FUNCTION)
	ranges [][2]uint64 // its code, the .cold part included
	depth  int         // its level: 0 for FUNCTION
	root   bool
}

// New plans the call-site probes of in.Fn and, to in.Depth, of the
// functions it calls. An error means FUNCTION's code could not be decoded.
func New(in Input) (*Plan, error) {
	depth := max(in.Depth, 1)
	maxFuncs, maxSites := in.MaxFuncs, in.MaxSites
	if maxFuncs <= 0 {
		maxFuncs = DefaultMaxFuncs
	}
	if maxSites <= 0 {
		maxSites = DefaultMaxSites
	}
	rb := &Binary{Path: in.Path, File: in.File, Code: in.Code, FileOffset: in.FileOffset, Symbols: in.Symbols, PLT: in.PLT, Slots: in.Slots, IfuncPLT: in.IfuncPLT, BindNow: in.BindNow, Branch: in.Branch}
	rb.prepare()
	p := &Plan{Func: in.Fn.Name, Depth: depth, byID: map[uint32]*Site{}, bins: map[string]*Binary{in.Path: rb}, root: rb,
		syms: rb.syms, retSize: in.RetSize, retUnsigned: in.RetUnsigned, retPointer: in.RetPointer, mappedAt: in.MappedAt}
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
	queue := []body{{bin: rb, name: in.Fn.Name, ranges: in.Fn.Ranges, root: true}}
	queued := map[fkey]bool{}
	calls := map[fkey]bool{} // makesCalls, by callee: decoded once
	callsIn := func(b *Binary, fs target.Symbol) bool {
		k := fkey{b.Path, fs.Value}
		v, ok := calls[k]
		if !ok {
			v = makesCalls(b, b.codeOf(fs))
			calls[k] = v
		}
		return v
	}
	for _, r := range in.Fn.Ranges {
		queued[fkey{in.Path, r[0]}] = true
	}
	queued[fkey{in.Path, in.Fn.Entry}] = true
	for _, a := range in.Also {
		if b, fs, ok := p.also1(in, a, rb, depth); ok && !queued[fkey{b.Path, a.Target}] {
			queued[fkey{b.Path, a.Target}] = true
			p.bins[b.Path] = b
			queue = append(queue, body{bin: b, name: fs.Name, entry: a.Target, ranges: b.codeOf(fs), depth: a.Depth})
		}
	}
	var cutFuncs, cutSites bool
	for n := 0; n < len(queue); n++ {
		fb := queue[n]
		// The function's code, then the functions it tail-jumps to,
		// whose calls are its own (their return is its return).
		parts := []body{fb}
		for k := 0; k < len(parts) && k <= maxTail; k++ {
			part := parts[k]
			bin := part.bin // a tail jump through the PLT may reach another file
			ins, err := decode(bin.Code, part.ranges)
			if err != nil {
				if fb.root && k == 0 {
					return nil, fmt.Errorf("decoding %s for --follow: %w", in.Fn.Name, err)
				}
				continue // code we cannot decode: its calls are not followed
			}
			at := indexOf(ins)
			first := len(p.Sites)
			for j, it := range ins {
				if !it.ok {
					continue
				}
				switch it.inst.Op {
				case x86asm.JMP:
					rel, ok := it.inst.Args[0].(x86asm.Rel)
					if !ok {
						continue
					}
					t, _, extern := bin.branch(it, rel)
					if extern || inRanges(part.ranges, t) || queued[fkey{bin.Path, t}] {
						continue
					}
					if imp, ok := bin.PLT[t]; ok {
						if tb, fs, ok := p.tailImport(in, bin, rb, imp); ok && !queued[fkey{tb.Path, fs.Value}] {
							queued[fkey{tb.Path, fs.Value}] = true
							parts = append(parts, body{bin: tb, name: fs.Name, entry: fs.Value, ranges: tb.codeOf(fs)})
						}
						continue
					}
					if s, ok := bin.symbolAt(t); ok && s.Value == t && s.Size > 0 && thunkReg(s.Name) == 0 && p.allowed(in, s) {
						queued[fkey{bin.Path, t}] = true
						parts = append(parts, body{bin: bin, name: s.Name, entry: t, ranges: bin.codeOf(s)})
					}
					continue
				case x86asm.CALL:
				default:
					continue
				}
				ret := it.end()
				if j+1 >= len(ins) || ins[j+1].pc != ret {
					continue // nothing after the call in this body: a noreturn callee
				}
				if !bin.uprobeable(it) || !bin.uprobeable(ins[j+1]) || (in.SiteRefused != nil && (in.SiteRefused(it.pc) || in.SiteRefused(ret))) {
					// One refused probe fails the whole link.
					p.Unprobed = append(p.Unprobed, bin.name(it.pc, nil))
					continue
				}
				if len(p.Sites) >= maxSites {
					cutSites = true
					break
				}
				s := &Site{CallID: id, ReturnID: id + 1, PC: it.pc, Return: ret, ReturnProbe: ret, Used: usesRAXAt(ins, at, j+1),
					Depth: fb.depth + 1, Func: fb.name, Binary: bin.Path}
				if k > 0 {
					s.In, s.inEntry = part.name, part.entry
				}
				s.funcEntry, s.funcBin = fb.entry, fb.bin
				call := bpfgen.Stmt{ID: s.CallID, PC: it.pc, Order: bpfgen.OrderDeparture, Vars: []ir.Var{{Name: "rsp", Expr: exprRSP, Size: 8}}}
				var callee *Binary
				viaPLT, lazy := false, false
				arg := it.inst.Args[0]
				if a, ok := arg.(x86asm.Rel); ok {
					switch _, name, _ := bin.branch(it, a); {
					case name == FentryName:
						continue // the kernel's ftrace call: a nop at run time
					case thunkReg(name) != 0:
						arg = thunkReg(name) // a retpoline: an indirect call
					}
				}
				switch a := arg.(type) {
				case x86asm.Rel:
					t, name, extern := bin.branch(it, a)
					s.Callee = name
					if in.ReturnOf != nil {
						switch r, ok := in.ReturnOf(s.Callee); {
						case ok && r.Size > 0:
							s.ret = &r
						case ok:
							s.Used = false // void: rax after it is not its value
						default:
							s.untyped = true
						}
					}
					callee, s.Target = bin, t
					if extern {
						callee = nil
						s.NotFollowed = "the kernel's: in a module --follow follows the module's own"
					}
					if imp, ok := bin.PLT[t]; ok {
						viaPLT = true
						callee, s.Target = nil, 0
						s.NotFollowed = "not found in the libraries the binary needs"
						if find := bin.importer(in); find != nil {
							b, addr, err := find(imp)
							var ie *IfuncError
							switch {
							case err == nil:
								callee, s.Target = b, addr
							case errors.As(err, &ie):
								s.NotFollowed = err.Error()
								s.Ifunc, s.ifuncLib = true, ie.Path
							default:
								s.NotFollowed = err.Error()
							}
						}
						// A slot the dynamic linker may bind during
						// the call: read again at the return.
						lazy = !bin.BindNow
					} else if name, ok := bin.IfuncPLT[t]; ok {
						// The binary's own ifunc, through an IRELATIVE
						// slot (filled at start-up).
						viaPLT = true
						callee, s.Target = nil, 0
						s.Callee = name + "@plt"
						s.NotFollowed = (&IfuncError{Lib: filepath.Base(bin.Path), Path: bin.Path}).Error()
						s.Ifunc, s.ifuncLib = true, bin.Path
					}
					if slot, ok := bin.Slots[t]; s.Ifunc && ok {
						s.Slot = slot
						call.Vars = append(call.Vars, ir.Var{Name: "slot", Expr: addrExpr(slot), Size: 8})
					} else {
						s.Ifunc = false
					}
				default:
					e, ok := verdict.OperandExpr(a, ret)
					if !ok {
						continue
					}
					s.Indirect = true
					s.Text = x86asm.GNUSyntax(it.inst, it.pc, nil)
					s.NotFollowed = "called through a pointer"
					call.Vars = append(call.Vars, ir.Var{Name: "target", Expr: e, Size: 8}, ir.Var{Name: "rip", Expr: exprRIP, Size: 8})
				}
				back := bpfgen.Stmt{ID: s.ReturnID, PC: ret, Order: bpfgen.OrderArrival, Vars: []ir.Var{{Name: "rax", Expr: exprRAX, Size: 8}, {Name: "rsp", Expr: exprRSP, Size: 8}}}
				s.callErrno, s.retErrno = -1, -1
				if in.Errno {
					s.callErrno, s.retErrno = len(call.Vars), len(back.Vars)
					call.Vars = append(call.Vars, ir.Var{Name: "errno", Errno: true, Size: 4})
					back.Vars = append(back.Vars, ir.Var{Name: "errno", Errno: true, Size: 4})
				}
				if s.Ifunc && lazy {
					// A lazily bound slot is filled during the call:
					// read again once it returned.
					s.retSlot = len(back.Vars)
					back.Vars = append(back.Vars, ir.Var{Name: "slot", Expr: addrExpr(s.Slot), Size: 8})
				}
				var err1, err2 error
				call.FileOffset, err1 = bin.FileOffset(it.pc)
				back.FileOffset, err2 = bin.FileOffset(ret)
				if err1 != nil || err2 != nil {
					continue
				}
				if bin != rb {
					call.Binary, back.Binary = bin.Path, bin.Path
				}
				if fb.root && k == 0 && in.Fn.CU != nil {
					if row, ok := in.Fn.CU.RowAt(s.PC); ok {
						s.Line, s.File = row.Line, in.Fn.CU.File(row.File)
					}
				}
				s.bin, s.placed = bin, fb.root && k > 0 // a tail-called part of FUNCTION has no line
				if callee != nil && callee.Path == rb.Path {
					callee = rb // a PLT call back into the traced binary
				}
				if callee != nil && s.Target != 0 {
					s.TargetBinary = callee.Path
					callee.prepare()
					if fs, ok := callee.symbolAt(s.Target); ok && fs.Value == s.Target && !viaPLT {
						s.callee = callee // named by its DWARF when a call is made
					}
					switch fs, ok := callee.symbolAt(s.Target); {
					case s.Depth >= depth:
					case !ok || fs.Value != s.Target || fs.Size == 0:
						s.NotFollowed = "no function symbol there"
					case queued[fkey{callee.Path, s.Target}]:
						s.Followed, s.NotFollowed = true, ""
					case !p.allowed(in, fs):
						s.NotFollowed = "the kernel refuses probes in it"
					case in.Staged:
						// A leaf has no calls to follow later.
						s.Deferred, s.NotFollowed = callsIn(callee, fs), ""
					case len(queue) >= maxFuncs:
						cutFuncs = true
						s.NotFollowed = "the call tree's bound"
					default:
						queued[fkey{callee.Path, s.Target}] = true
						s.Followed, s.NotFollowed = true, ""
						p.bins[callee.Path] = callee
						queue = append(queue, body{bin: callee, name: fs.Name, entry: s.Target, ranges: callee.codeOf(fs), depth: s.Depth})
					}
				}
				if s.Depth >= depth {
					s.NotFollowed = ""
				}
				if s.Ifunc {
					p.Ifuncs++
				}
				p.Sites = append(p.Sites, s)
				p.byID[s.CallID], p.byID[s.ReturnID] = s, s
				p.Stmts = append(p.Stmts, call, back)
				id += 2
			}
			entry := part.entry
			if k == 0 {
				entry = fb.entry
			}
			// A function an origin tail-jumps to has its statements
			// traced too: its return probes stay as well.
			if in.Emulated != nil && !(fb.root && k == 0) && (in.Stay == nil || !in.Stay(bin.Path, entry) && !in.Stay(fb.bin.Path, fb.entry)) {
				p.placeReturns(in, bin, entry, part.ranges, ins, first)
			}
		}
	}
	// A callee queued after the bounds cut the tree has no probes:
	// the sites calling it say so.
	switch {
	case cutSites:
		p.Cut = fmt.Sprintf("--follow: the call tree was cut at %d call sites: deeper calls are not recorded", maxSites)
	case cutFuncs:
		p.Cut = fmt.Sprintf("--follow: the call tree was cut at %d functions: the calls of the others are not recorded", maxFuncs)
	}
	return p, nil
}

// also1 finds the function of a call through a pointer whose calls are
// followed too (Input.Also): its binary and symbol; not ok when it is
// below the depth, not a function's start, or refused. Ok marks it in
// p.also.
func (p *Plan) also1(in Input, a Blame, rb *Binary, depth int) (*Binary, target.Symbol, bool) {
	if a.Target == 0 || a.Depth < 1 || a.Depth >= depth {
		return nil, target.Symbol{}, false
	}
	b := rb
	if a.Binary != "" && a.Binary != rb.Path {
		if in.BinaryAt == nil {
			return nil, target.Symbol{}, false
		}
		if b = in.BinaryAt(a.Binary); b == nil {
			return nil, target.Symbol{}, false
		}
	}
	b.prepare()
	fs, ok := b.symbolAt(a.Target)
	if !ok || fs.Value != a.Target || fs.Size == 0 || !p.allowed(in, fs) {
		return nil, target.Symbol{}, false
	}
	if p.also == nil {
		p.also = map[fkey]bool{}
	}
	p.also[fkey{b.Path, a.Target}] = true
	return b, fs, true
}

// allowed says whether probes may go into the function of symbol s
// (Input.Refused); a refused one is named in p.Refused, once.
func (p *Plan) allowed(in Input, s target.Symbol) bool {
	if in.Refused == nil {
		return true
	}
	why := in.Refused(s)
	if why == "" {
		return true
	}
	if p.refused == nil {
		p.refused = map[string]bool{}
	}
	if !p.refused[s.Name] {
		p.refused[s.Name] = true
		p.Refused = append(p.Refused, fmt.Sprintf("%s (%s)", s.Name, why))
	}
	return false
}

// resolve names a site's callee by its DWARF and places the call (its
// line, the inlined functions holding it), once, when a trace holds a
// call made there: reading the DWARF at every site of a large tree
// would cost seconds before the probes go in. FUNCTION's own calls keep
// the line its unit's line table gave them; other calls take their
// binary's DWARF, when it has some.
func (p *Plan) resolve(s *Site) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.resolved {
		return
	}
	s.resolved = true
	if s.callee != nil {
		s.Callee = s.callee.funcName(s.Target)
	}
	if s.bin == nil || s.bin.File == nil {
		return
	}
	if s.funcEntry != 0 {
		fb := s.funcBin
		if fb == nil {
			fb = s.bin
		}
		s.Func = fb.funcName(s.funcEntry)
	}
	if s.inEntry != 0 {
		s.In = s.bin.funcName(s.inEntry)
	}
	frames := backtrace.Symbolize(s.bin.File, s.PC)
	for _, f := range frames {
		if f.Inlined {
			s.Inlined = append(s.Inlined, f.Function)
		}
	}
	if s.Depth > 1 && !s.placed && len(frames) > 0 && frames[0].Line > 0 {
		s.File, s.Line = frames[0].File, frames[0].Line
	}
}

// importer is how a call through b's PLT is resolved: b.Import, else
// in.Import.
func (b *Binary) importer(in Input) func(string) (*Binary, uint64, error) {
	if b.Import != nil {
		return b.Import
	}
	return in.Import
}

// uprobeable reports whether the kernel takes a uprobe on it.
func (b *Binary) uprobeable(it instr) bool {
	code, err := b.Code(it.pc, it.inst.Len)
	return err == nil && insn.Uprobeable(code)
}

// codeOf is a function's code: its symbol's range, and its .cold part
// (gcc's split of unlikely code) when a symbol names one.
func (b *Binary) codeOf(s target.Symbol) [][2]uint64 {
	rs := [][2]uint64{{s.Value, s.Value + s.Size}}
	if c, ok := b.names[s.Name+".cold"]; ok && c.Size > 0 {
		rs = append(rs, [2]uint64{c.Value, c.Value + c.Size})
	}
	return rs
}

// funcName names the function at link-time entry address va: its DWARF
// name (the function's own, where the symbol is an alias, as glibc's
// _IO_file_fopen is of _IO_new_file_fopen), else its symbol's.
func (b *Binary) funcName(va uint64) string {
	if b.File != nil {
		if fr := backtrace.Symbolize(b.File, va); len(fr) > 0 {
			if n := fr[len(fr)-1].Function; n != "" {
				return n
			}
		}
	}
	return b.name(va, nil)
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
func (p *Plan) symbolAt(va uint64) (target.Symbol, bool) { return symbolIn(p.syms, va) }

// symbolAt returns the function symbol covering link-time address va.
func (b *Binary) symbolAt(va uint64) (target.Symbol, bool) { return symbolIn(b.syms, va) }

func symbolIn(syms []target.Symbol, va uint64) (target.Symbol, bool) {
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Value >= va })
	if i < len(syms) && syms[i].Value == va {
		return syms[i], true // the best name at that address
	}
	for j := i - 1; j >= 0; j-- {
		s := syms[j]
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
func (b *Binary) name(va uint64, plt map[uint64]string) string {
	if n, ok := plt[va]; ok {
		return n + "@plt"
	}
	if s, ok := b.symbolAt(va); ok {
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

// tailImport finds the function a tail jump through bin's PLT entry
// named imp reaches, as a call through that entry is resolved
// (Binary.importer): its file and symbol. Not ok when the import is not
// found, is an ifunc (its implementation is chosen at run time), is not
// a function's start, or is refused: the jump is then not followed, as
// before, rather than followed into a guessed function.
func (p *Plan) tailImport(in Input, bin, rb *Binary, imp string) (*Binary, target.Symbol, bool) {
	find := bin.importer(in)
	if find == nil {
		return nil, target.Symbol{}, false
	}
	tb, addr, err := find(imp)
	if err != nil || tb == nil || addr == 0 {
		return nil, target.Symbol{}, false
	}
	if tb.Path == rb.Path {
		tb = rb // a jump back into the traced binary
	}
	tb.prepare()
	fs, ok := tb.symbolAt(addr)
	if !ok || fs.Value != addr || fs.Size == 0 || thunkReg(fs.Name) != 0 || !p.allowed(in, fs) {
		return nil, target.Symbol{}, false
	}
	if _, ok := p.bins[tb.Path]; !ok {
		p.bins[tb.Path] = tb
	}
	return tb, fs, true
}

// makesCalls reports whether the code in ranges of b holds a call, or a
// jump out of it (a tail call): whether a staged follow may find calls
// there (Site.Deferred). Code it cannot decode may.
func makesCalls(b *Binary, ranges [][2]uint64) bool {
	ins, err := decode(b.Code, ranges)
	if err != nil {
		return true
	}
	for _, it := range ins {
		if !it.ok {
			continue
		}
		switch it.inst.Op {
		case x86asm.CALL:
			if rel, ok := it.inst.Args[0].(x86asm.Rel); ok {
				if _, name, _ := b.branch(it, rel); name == FentryName {
					continue // the kernel's ftrace call
				}
			}
			return true
		case x86asm.JMP:
			rel, ok := it.inst.Args[0].(x86asm.Rel)
			if !ok {
				return true
			}
			if t, _, extern := b.branch(it, rel); !extern && !inRanges(ranges, t) {
				return true
			}
		}
	}
	return false
}

// branch is where the call or jump it, whose operand is rel, goes: its
// link-time target and the name there (a PLT entry's, name@plt). In a
// relocatable file (Branch) the operand's relocation says; extern says
// the target is outside the file (the kernel, for a module: t is 0).
func (b *Binary) branch(it instr, rel x86asm.Rel) (t uint64, name string, extern bool) {
	if b.Branch != nil && it.inst.Len >= 5 {
		if n, va, ok := b.Branch(it.end() - 4); ok {
			return va, n, va == 0
		}
	}
	t = uint64(int64(it.end()) + int64(rel))
	return t, b.name(t, b.PLT), false
}

// TailJumps returns the functions of b (by their entries) that the code
// in ranges jumps to from outside them: the functions it tail-calls in
// its own file (a jump through its PLT is not one), whose code runs as
// its own (their return is its return). Code it cannot decode has none.
func TailJumps(b *Binary, ranges [][2]uint64) []uint64 {
	b.prepare()
	ins, err := decode(b.Code, ranges)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, it := range ins {
		if !it.ok || it.inst.Op != x86asm.JMP {
			continue
		}
		rel, ok := it.inst.Args[0].(x86asm.Rel)
		if !ok {
			continue
		}
		t := uint64(int64(it.end()) + int64(rel))
		if inRanges(ranges, t) || slices.Contains(out, t) {
			continue
		}
		if _, plt := b.PLT[t]; plt {
			continue
		}
		if s, ok := b.symbolAt(t); ok && s.Value == t && s.Size > 0 && thunkReg(s.Name) == 0 {
			out = append(out, t)
		}
	}
	return out
}
