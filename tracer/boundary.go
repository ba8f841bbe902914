package tracer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/expr"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/target"
)

// A kernel function the kernel refuses to probe (notrace: Debian builds
// SYSCALL_DEFINE's inner __do_sys_* functions notrace, since the kernel's
// inline implies notrace, and kprobe events refuse every address of a
// notrace function) can still be answered at its boundary when a
// function the kernel lets BPF probe calls it and returns what it
// returned, unchanged: its syscall wrappers (__x64_sys_*) do. Its
// invocations are then the wrapper's, its return value the wrapper's,
// and its calls are seen at the entries (and returns) of the functions it
// calls, kept where the return address is in it (follow.NewAtCallees).

// boundary is where a notrace function is traced.
type boundary struct {
	why     string        // why the function itself cannot be probed
	wrapper target.Symbol // the caller traced in its place
	others  []string      // other pass-through callers, not traced
}

// kernelSymbols indexes a kernel binary's function symbols by name, and
// its __fentry__'s address.
type kernelSymbols struct {
	byName map[string][]target.Symbol
	sorted []target.Symbol
	known  knownTargets
}

// knownTargets are the addresses of the functions passThrough knows by
// their role; 0 when the binary has none.
type knownTargets struct {
	fentry uint64 // __fentry__: ftrace's call at a function's start
	thunk  uint64 // __x86_return_thunk: a jump to it returns
}

func newKernelSymbols(kb kernelBinary) *kernelSymbols {
	ks := &kernelSymbols{byName: map[string][]target.Symbol{}}
	for _, s := range kb.Symbols() {
		ks.byName[s.Name] = append(ks.byName[s.Name], s)
		switch s.Name {
		case follow.FentryName:
			ks.known.fentry = s.Value
		case follow.ReturnThunk:
			ks.known.thunk = s.Value
		}
		if s.Size > 0 {
			ks.sorted = append(ks.sorted, s)
		}
	}
	sort.Slice(ks.sorted, func(i, j int) bool { return ks.sorted[i].Value < ks.sorted[j].Value })
	if k, ok := kb.(*target.Kernel); ok && ks.known.thunk == 0 {
		// An assembler label (STT_NOTYPE), not among the function symbols.
		if syms, err := k.ELF.Symbols(); err == nil {
			for _, s := range syms {
				if s.Name == follow.ReturnThunk {
					ks.known.thunk = s.Value
				}
			}
		}
	}
	return ks
}

// hasFentry says whether the code of a function starts (after endbr64)
// with a call of __fentry__, as every function ftrace can trace does in
// vmlinux; ok is false when that cannot be told (no __fentry__ symbol, or
// a module's code, whose calls are relocated only at load).
func (ks *kernelSymbols) hasFentry(kb kernelBinary, s target.Symbol) (has, ok bool) {
	if ks.known.fentry == 0 || kb.Kind() != target.KindKernel {
		return false, false
	}
	code, err := kb.Code(s.Value, int(s.Size))
	if err != nil {
		return false, false
	}
	ins, err := insn.Decode(code, s.Value)
	if err != nil {
		return false, false
	}
	for i, it := range ins {
		if i > 1 {
			break
		}
		if it.OK && it.Inst.Op == x86asm.NOP && it.Inst.Len == 4 && i == 0 {
			continue // endbr64
		}
		if rel, isRel := it.Inst.Args[0].(x86asm.Rel); it.OK && it.Inst.Op == x86asm.CALL && isRel {
			return uint64(int64(it.PC)+int64(it.Inst.Len)+int64(rel)) == ks.known.fentry, true
		}
		return false, true
	}
	return false, true
}

// refused says why the kernel would refuse kprobes in the function of
// symbol s, "" when it would not: refusedSite, a function without ftrace's
// call (notrace) when the kernel's lists cannot be read, and a name that
// several functions share (kprobes go by name).
func (ks *kernelSymbols) refused(kb kernelBinary, lists kernelLists, s target.Symbol) string {
	if why := refusedSite(kb, lists, s.Name, s.Value); why != "" {
		return why
	}
	if lists.ftrace == nil {
		if has, ok := ks.hasFentry(kb, s); ok && !has && !ks.partOfTraced(kb, s) {
			return s.Name + " is notrace (it has no call of " + follow.FentryName + "), and the kernel's kprobe events refuse notrace functions"
		}
	}
	seen := map[uint64]bool{}
	for _, o := range ks.byName[s.Name] {
		seen[o.Value] = true
	}
	if len(seen) > 1 {
		return fmt.Sprintf("%d functions are named %s, and kprobes go by name", len(seen), s.Name)
	}
	return ""
}

// partOfTraced says whether the symbol s without ftrace's call is a part
// of a function that has one, named by a suffix (f.cold, f.part.0): the
// kernel checks such a symbol by the function it is part of
// (within_notrace_func), and allows kprobes there when that function has
// one.
func (ks *kernelSymbols) partOfTraced(kb kernelBinary, s target.Symbol) bool {
	base, _, ok := strings.Cut(s.Name, ".")
	if !ok || len(ks.byName[base]) != 1 {
		return false
	}
	has, ok := ks.hasFentry(kb, ks.byName[base][0])
	return ok && has
}

// notraceWhy says why the kernel refuses kprobes in fn because it is
// notrace, "" when it does not (or refuses it for another reason, which
// kernelEntry reports).
func (ks *kernelSymbols) notraceWhy(kb kernelBinary, lists kernelLists, fn *debuginfo.Function) string {
	sym, off, err := kb.KprobeSite(fn.Entry)
	if err != nil || off != 0 {
		return ""
	}
	s := target.Symbol{Name: sym, Value: fn.Entry}
	for _, o := range ks.byName[sym] {
		if o.Value == fn.Entry {
			s = o
		}
	}
	why := ks.refused(kb, lists, s)
	if !strings.Contains(why, " is notrace ") {
		return ""
	}
	return why
}

// kernelBoundary finds where a notrace fn can be traced: a caller in its
// compile unit that passes its return value on unchanged (passThrough)
// and that the kernel lets kprobes into, __x64_ ones first. It returns
// nil when fn is not notrace, and an error when it is and no such caller
// exists.
func kernelBoundary(kb kernelBinary, ks *kernelSymbols, lists kernelLists, fn *debuginfo.Function) (*boundary, error) {
	why := ks.notraceWhy(kb, lists, fn)
	if why == "" {
		return nil, nil
	}
	refusal := fmt.Errorf("the kernel does not allow kprobes in %s: %s", fn.Name, why)
	var ok []target.Symbol
	for _, s := range passThroughCallers(kb, ks, fn) {
		if ks.refused(kb, lists, s) == "" {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return nil, refusal
	}
	sort.SliceStable(ok, func(i, j int) bool {
		xi, xj := strings.HasPrefix(ok[i].Name, "__x64_"), strings.HasPrefix(ok[j].Name, "__x64_")
		if xi != xj {
			return xi
		}
		return ok[i].Name < ok[j].Name
	})
	b := &boundary{why: why, wrapper: ok[0]}
	for _, s := range ok[1:] {
		b.others = append(b.others, s.Name)
	}
	return b, nil
}

// unitRanges are the address ranges of a compile unit's line-table
// sequences: its code.
func unitRanges(cu *debuginfo.CompUnit) [][2]uint64 {
	rows, err := cu.Lines()
	if err != nil {
		return nil
	}
	var out [][2]uint64
	start, open := uint64(0), false
	for _, r := range rows {
		switch {
		case r.EndSeq && open:
			out = append(out, [2]uint64{start, r.Addr})
			open = false
		case !r.EndSeq && !open:
			start, open = r.Addr, true
		}
	}
	return out
}

// passThroughCallers returns the functions of fn's compile unit (a static
// function is called from its own unit only) that call or jump to fn and
// return what it returned, unchanged, on every path (passThrough).
func passThroughCallers(kb kernelBinary, ks *kernelSymbols, fn *debuginfo.Function) []target.Symbol {
	if fn.CU == nil {
		return nil
	}
	var out []target.Symbol
	for _, r := range unitRanges(fn.CU) {
		i := sort.Search(len(ks.sorted), func(i int) bool { return ks.sorted[i].Value >= r[0] })
		for ; i < len(ks.sorted) && ks.sorted[i].Value < r[1]; i++ {
			s := ks.sorted[i]
			if s.Value == fn.Entry || (len(out) > 0 && out[len(out)-1].Value == s.Value) {
				continue
			}
			code, err := kb.Code(s.Value, int(s.Size))
			if err != nil || !refersTo(code, s.Value, fn.Entry) {
				continue
			}
			if passThrough(code, s.Value, fn.Entry, ks.known) {
				out = append(out, s)
			}
		}
	}
	return out
}

// refersTo is a quick byte scan: some e8/e9 rel32 in code (at addr) lands
// on target. Decoding confirms it.
func refersTo(code []byte, addr, target uint64) bool {
	for i := 0; i+5 <= len(code); i++ {
		if code[i] != 0xe8 && code[i] != 0xe9 {
			continue
		}
		rel := int32(binary.LittleEndian.Uint32(code[i+1:]))
		if uint64(int64(addr)+int64(i)+5+int64(rel)) == target {
			return true
		}
	}
	return false
}

// passThrough says whether the function whose code is code (at addr)
// calls (or tail-jumps to) callee exactly once on its one path, and
// returns what callee returned unchanged: before the transfer, straight
// code (ftrace's call of __fentry__ allowed); after a call, nothing that
// writes rax before the return (ret, or a jump to the return thunk, which
// ends with ret), only stack adjustments, pops into other registers and
// nops. A function with a branch, another call or another way out is not
// a pass-through: its invocations are not all callee's.
func passThrough(code []byte, addr, callee uint64, known knownTargets) bool {
	ins, err := insn.Decode(code, addr)
	if err != nil {
		return false
	}
	target := func(it insn.Inst) (uint64, bool) {
		rel, ok := it.Inst.Args[0].(x86asm.Rel)
		if !ok {
			return 0, false
		}
		return uint64(int64(it.PC) + int64(it.Inst.Len) + int64(rel)), true
	}
	k := 0
	for ; k < len(ins); k++ {
		it := ins[k]
		if !it.OK {
			return false
		}
		t, rel := target(it)
		switch it.Inst.Op {
		case x86asm.CALL:
			if rel && t == known.fentry && known.fentry != 0 {
				continue
			}
			if !rel || t != callee {
				return false
			}
		case x86asm.JMP:
			return rel && t == callee // a tail call: its return is the function's
		case x86asm.RET, x86asm.IRET, x86asm.IRETQ, x86asm.SYSRET:
			return false
		default:
			if isBranch(it.Inst.Op) {
				return false
			}
			continue
		}
		break // the call of callee
	}
	if k >= len(ins) {
		return false
	}
	for k++; k < len(ins); k++ {
		it := ins[k]
		if !it.OK {
			return false
		}
		switch it.Inst.Op {
		case x86asm.RET:
			return true
		case x86asm.JMP:
			t, rel := target(it)
			return rel && t == known.thunk && known.thunk != 0
		case x86asm.NOP, x86asm.LEAVE:
			continue
		case x86asm.POP:
			if r, ok := it.Inst.Args[0].(x86asm.Reg); ok && r != x86asm.RAX && r != x86asm.EAX {
				continue
			}
			return false
		case x86asm.ADD, x86asm.SUB, x86asm.LEA:
			if r, ok := it.Inst.Args[0].(x86asm.Reg); ok && r == x86asm.RSP {
				continue
			}
			return false
		}
		return false
	}
	return false
}

// isBranch says whether op transfers control conditionally (jcc, loop,
// jrcxz).
func isBranch(op x86asm.Op) bool {
	switch op {
	case x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE, x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ:
		return true
	}
	s := op.String()
	return len(s) > 1 && s[0] == 'J'
}

// planBoundary sets the job up to trace the notrace fn at b: the entry
// and return probes on the wrapper, fn's calls followed at its callees
// (always: they are the whole trace), and the notes that say so.
func planBoundary(job *Job, kb kernelBinary, ks *kernelSymbols, lists kernelLists, fn *debuginfo.Function, b *boundary) error {
	off, err := kb.FileOffset(b.wrapper.Value)
	if err != nil {
		return err
	}
	job.Plan.EntrySymbol, job.Plan.EntryPC, job.Plan.EntryOffset = b.wrapper.Name, b.wrapper.Value, off
	p, err := follow.NewAtCallees(follow.CalleeInput{
		Fn: fn, Code: kb.Code, Symbols: kb.Symbols(), FirstID: nextStmtID(job.Plan.Stmts),
		RetSize: job.Plan.RetSize, RetUnsigned: job.Plan.RetUnsigned, ReturnThunk: ks.known.thunk,
		Refused:  func(s target.Symbol) string { return ks.refused(kb, lists, s) },
		ReturnOf: kernelReturns(kb),
	})
	if err != nil {
		return err
	}
	job.Follow = p
	job.Plan.Stmts = append(job.Plan.Stmts, p.Stmts...)
	// The callees' probes fire for every caller in the system; those
	// outside an invocation are expected, not counted.
	job.Plan.QuietOrphans = true
	job.Notes = append(job.Notes, fmt.Sprintf("%s's statements cannot be shown: %s, so BPF kprobes refuse every address in it; it is traced at its boundary: its calls by %s (which returns its value unchanged), and the calls it makes at the entries and returns of the functions it calls",
		fn.Name, b.why, b.wrapper.Name))
	if len(b.others) > 0 {
		job.Notes = append(job.Notes, fmt.Sprintf("calls of %s through %s are not traced", fn.Name, strings.Join(b.others, ", ")))
	}
	if len(p.NotSeen) > 0 {
		job.Notes = append(job.Notes, fmt.Sprintf("calls %s makes that are not seen: %s", fn.Name, strings.Join(p.NotSeen, "; ")))
	}
	return nil
}

// boundaryEnv makes fn's parameters unreadable in the condition: its
// entry is not probed, and the wrapper's registers are not fn's
// arguments.
func boundaryEnv(env expr.Env, fn *debuginfo.Function, b *boundary) {
	for name := range env.Params {
		env.Unreadable[name] = fmt.Sprintf("%s is notrace: only its return value is seen, where %s returns it", fn.Name, b.wrapper.Name)
		delete(env.Params, name)
	}
}

// kernelReturns gives, from the vmlinux's own BTF (its .BTF section),
// the return types of its functions, and of those BTF does not know
// (pahole skips gcc clones and, often, their originals) from the DWARF
// (dwarfReturns); nil when it has no BTF (then every
// callee whose value its caller may read gets its return probed, and the
// value is read at the traced function's return size).
func kernelReturns(kb kernelBinary) func(string) (follow.Ret, bool) {
	f, _ := kernelReturnsDWARF(kb)
	return f
}

// kernelReturnsDWARF is kernelReturns, and the DWARF lookups it falls
// back on (nil with it).
func kernelReturnsDWARF(kb kernelBinary) (func(string) (follow.Ret, bool), *dwarfReturns) {
	k, ok := kb.(*target.Kernel)
	if !ok {
		return nil, nil
	}
	sec := k.ELF.Section(".BTF")
	if sec == nil {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, nil
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil
	}
	dw := newDWARFReturns(k)
	return func(name string) (follow.Ret, bool) {
		var fn *btf.Func
		if spec.TypeByName(cloneOf(name), &fn) != nil {
			// Unknown, or several: a gcc clone whose original BTF
			// skips is typed from the DWARF.
			return dw.of(name)
		}
		proto, ok := fn.Type.(*btf.FuncProto)
		if !ok {
			return follow.Ret{}, false
		}
		if _, void := proto.Return.(*btf.Void); void {
			return follow.Ret{}, true
		}
		size, signed, _, ok := btfScalar(proto.Return)
		if !ok {
			return follow.Ret{}, false
		}
		return follow.Ret{Size: size, Signed: signed}, true
	}, dw
}

// cloneOf is the function a gcc clone of it was made from, by the clone's
// name (link_path_walk.part.0.constprop.0 is link_path_walk's), when the
// clone returns what that function returns: a split part or constant
// propagation keeps the return; IPA-SRA (.isra) may drop it, and other
// suffixes are not known. Any other name is returned as it is.
func cloneOf(name string) string {
	base, rest, ok := strings.Cut(name, ".")
	if !ok {
		return name
	}
	for _, w := range strings.Split(rest, ".") {
		switch {
		case w == "part" || w == "constprop" || w == "cold":
		case w != "" && strings.Trim(w, "0123456789") == "":
		default:
			return name
		}
	}
	return base
}
