package probe

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/insn"
	"github.com/whythefail/whythefail/probe/listing"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// functions resolves a .function spec: DWARF functions (out-of-line and
// inlined instances) plus functions known only from the symbol table.
func (r *Resolver) functions(prefix string, s *spec.Spec) ([]*Point, error) {
	var pts []*Point
	matched := make(map[string]bool) // names matched to DWARF functions
	probed := make(map[uint64]bool)
	fns, entries, err := r.statementFuncs(s)
	if err != nil {
		return nil, err
	}
	if err := r.policy.hideSymbols(r, entries, probed); err != nil {
		return nil, err
	}
	for i, fn := range fns {
		if i%scopeBatch == 0 {
			r.prefetchScopes(fns[i:min(i+scopeBatch, len(fns))])
		}
		// In the kernel and its modules a function inlined everywhere
		// but also compiled out of line without a concrete DIE
		// (__dev_fwnode) keeps its symbol row: stap's abstract inline
		// DIEs claim no symbol (update_symtab). User space keeps the
		// name-based rule its comparisons with stap were made with.
		if !fn.Inlined || r.Bin.Kind() == target.KindUser {
			matched[fn.Name] = true
			if fn.LinkageName != "" {
				matched[fn.LinkageName] = true
			}
		}
		// A symbol at a DWARF function's entry is that function, even
		// when the suffix leaves the function out (C1/C2 constructors).
		// Inlined instances do not hide symbols (a .cold symbol can sit
		// at an instance's entry).
		// In the kernel and its modules SystemTap's probe addresses
		// are relative (to _stext, to a section) and hide no symbol:
		// only the entries candidates noted do.
		if !fn.Inlined && r.Bin.Kind() == target.KindUser {
			probed[fn.Entry] = true
		}
		switch s.Suffix {
		case spec.Inline:
			if !fn.Inlined {
				continue
			}
		case spec.Call, spec.Return:
			if fn.Inlined {
				continue
			}
		}
		p, err := r.functionPoint(prefix, fn, s.Suffix)
		if err != nil {
			return nil, err
		}
		if r.blacklisted(p) {
			continue
		}
		if r.policy.pointHides() && r.Bin.Kind() == target.KindUser {
			// SystemTap keeps a kernel or module probe's address
			// relative to _stext or to its section, which no symbol
			// address equals.
			probed[p.Addr] = true
		}
		if _, listing := r.policy.(listingPolicy); listing {
			// Listed, never traced: keep the texts, not the scope.
			p.texts = p.varTexts() // never nil
			p.Vars, p.Scope = nil, nil
		}
		pts = append(pts, p)
	}
	if s.File == "" {
		syms := r.Bin.Symbols()
		r.policy.sortSymbols(r, syms)
		for _, sym := range syms {
			if matched[sym.Name] || probed[sym.Value] || sym.Value == 0 || !spec.MatchFunc(s.Func, sym.Name) {
				continue
			}
			if s.Suffix == spec.Return && sym.Name == "_start" {
				// stap 4.8 never lists _start.return (it does not return).
				continue
			}
			probed[sym.Value] = true
			p := &Point{Kind: spec.Function, Suffix: s.Suffix, Target: prefix, Name: sym.Name, Addr: sym.Value}
			if off, err := r.Bin.FileOffset(sym.Value); err == nil {
				p.FileOffset = off
			}
			pts = append(pts, p)
		}
	}
	return pts, nil
}

// scopeBatch is how many functions' scopes prefetchScopes reads at a
// time: enough to keep the cores busy, few enough that the scopes of a
// listing of every kernel function are never all held at once.
const scopeBatch = 1024

// prefetchScopes reads the scope trees of fns (Data.Scope, which reads
// DWARF only) on every core, for functionPoint, when there are enough of
// them to be worth it; reading them is most of the time of listing every
// function of a vmlinux. A scope that fails to read is left for
// functionPoint to read again and report.
func (r *Resolver) prefetchScopes(fns []*debuginfo.Function) {
	clear(r.scopes)
	workers := min(runtime.GOMAXPROCS(0), 4)
	if len(fns) < 64 || workers < 2 {
		return
	}
	if r.scopes == nil {
		r.scopes = make(map[*debuginfo.Function]*debuginfo.Scope, scopeBatch)
	}
	got := make([]*debuginfo.Scope, len(fns))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(fns) {
					return
				}
				got[i], _ = r.Data.Scope(fns[i])
			}
		})
	}
	wg.Wait()
	for i, fn := range fns {
		r.scopes[fn] = got[i]
	}
}

// functionPoint builds the point of one DWARF function instance. Its
// address is the end of the prologue (as stap places function probes), and
// its variables are those of the outermost scope that have a location there.
func (r *Resolver) functionPoint(prefix string, fn *debuginfo.Function, suffix spec.Suffix) (*Point, error) {
	sc, ok := r.scopes[fn]
	if !ok || sc == nil {
		var err error
		if sc, err = r.Data.Scope(fn); err != nil {
			return nil, err
		}
	}
	delete(r.scopes, fn)
	addr := fn.Entry
	// .return points list the variables at the entry pc; others after the
	// prologue in units that SystemTap takes for unoptimised code.
	if !fn.Inlined && !fn.CU.HasLocLists && suffix != spec.Return {
		addr = r.prologueEnd(fn)
	}
	p := &Point{
		Kind: spec.Function, Suffix: suffix, Target: prefix, Func: fn,
		Name: fn.Name, File: fn.DeclFile, Line: declLine(fn), Addr: addr, Scope: sc,
	}
	if p.File == "" {
		p.File = fn.CU.Name
	}
	for _, v := range sc.Vars {
		if r.listed(v, addr, fn) {
			p.Vars = append(p.Vars, v)
		}
	}
	if suffix == spec.Return {
		if name, ok := r.Data.ReturnTypeName(fn); ok {
			p.ReturnType = name
		}
	}
	if err := r.place(p); err != nil {
		return nil, err
	}
	return p, nil
}

// declLine returns the line SystemTap shows for fn (dwflpp::
// function_line): DW_AT_decl_line, else, for an out-of-line function
// (the DIEs of glibc's assembler units have no declaration attributes),
// the line of the row libdw's dwarf_getsrc_die gives for its low pc: a
// syscall stub is listed at syscall-template.S:117, its first
// instruction. An inlined instance asks its abstract function, which has
// no low pc, so it stays at 0 and is listed without a line.
func declLine(fn *debuginfo.Function) int {
	if fn.DeclLine != 0 || fn.Inlined {
		return fn.DeclLine
	}
	if row, ok := fn.CU.RowAt(fn.Low()); ok {
		return row.Line
	}
	return 0
}

// fentrySize is the size of the `call __fentry__` that begins every
// traceable kernel function (CONFIG_FTRACE on x86-64).
const fentrySize = 5

// listed reports whether stap lists v at pc: it has a name, a type it can
// name, and a constant value or a location there that libdw can read, in
// function instance fn. For the kernel and its modules, at the entry of
// the out-of-line function (that of fn, or the one fn is inlined in), a
// variable whose location list covers no entry at pc is looked up again
// at pc+5, past the `call __fentry__`, as SystemTap 4.8 does ("retrying
// variable location-list lookup at address pc+5"): gcc starts the
// locations of locals set before the first real instruction there.
func (r *Resolver) listed(v *debuginfo.Variable, pc uint64, fn *debuginfo.Function) bool {
	ok, noEntry := listedAt(v, pc)
	outer := fn
	if outer.Inlined && outer.Parent != nil {
		outer = outer.Parent
	}
	if !ok && noEntry && pc == outer.Entry && r.Bin.AddressSpace() == target.KernelSpace && r.fentryAt(pc) {
		ok, _ = listedAt(v, pc+fentrySize)
	}
	return ok
}

// fentryAt reports whether the instruction at pc is a 5-byte call (gcc's
// `call __fentry__`, its target unrelocated in a module) or the 5-byte nop
// it is patched into: only functions that begin with one get listed's
// retry (notrace functions such as __genradix_ptr do not).
func (r *Resolver) fentryAt(pc uint64) bool {
	code, err := r.Bin.Code(pc, fentrySize)
	if err != nil {
		return false
	}
	return code[0] == 0xe8 || string(code) == "\x0f\x1f\x44\x00\x00"
}

// listedAt is listed; noEntry says the variable was refused because its
// location list has no entry at pc.
func listedAt(v *debuginfo.Variable, pc uint64) (ok, noEntry bool) {
	if v.Name == "" {
		return false, false
	}
	if _, ok := v.TypeName(); !ok {
		return false, false
	}
	if v.Const != nil && !v.HasLocation() {
		return true, false
	}
	expr, ok, err := v.LocationAt(pc)
	if err == nil && !ok {
		return false, true
	}
	return ok && err == nil && listing.ExprParses(expr), false
}

// place computes the point's file offset and, when the policy says so
// (tracing), checks that its address is an instruction boundary of its
// function.
func (r *Resolver) place(p *Point) error {
	off, err := r.Bin.FileOffset(p.Addr)
	if err != nil {
		return fmt.Errorf("probe point %s: %w", p, err)
	}
	p.FileOffset = off
	if p.Func == nil || !r.policy.checksBoundaries() {
		return nil
	}
	fn := p.Func
	if fn.Inlined && fn.Parent != nil {
		fn = fn.Parent
	}
	bounds, err := r.boundaries(fn)
	if err != nil {
		return fmt.Errorf("probe point %s: %w", p, err)
	}
	if !insn.IsBoundary(bounds, p.Addr) {
		return fmt.Errorf("probe point %s: address %#x is not an instruction boundary", p, p.Addr)
	}
	return nil
}

// boundaries decodes the instruction starts of each range of fn.
func (r *Resolver) boundaries(fn *debuginfo.Function) ([]uint64, error) {
	if b, ok := r.bounds[fn]; ok {
		return b, nil
	}
	var all []uint64
	for _, rg := range fn.Ranges {
		code, err := r.Bin.Code(rg[0], int(rg[1]-rg[0]))
		if err != nil {
			return nil, err
		}
		b, err := insn.Boundaries(code, rg[0])
		if err != nil {
			return nil, err
		}
		all = append(all, b...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.bounds[fn] = all
	return all, nil
}

// prologueEnd returns where stap puts a function probe in code without
// location lists: the first line row after the entry row that changes line
// or file, or the entry itself.
func (r *Resolver) prologueEnd(fn *debuginfo.Function) uint64 {
	rows, err := fn.CU.Lines()
	if err != nil {
		return fn.Entry
	}
	entry := -1
	for i, row := range rows {
		if !row.EndSeq && row.Addr == fn.Entry {
			entry = i
			break
		}
	}
	if entry < 0 {
		return fn.Entry
	}
	for _, row := range rows[entry+1:] {
		if row.EndSeq || !fn.Contains(row.Addr) {
			break
		}
		if row.Line != rows[entry].Line || row.File != rows[entry].File || row.PrologueEnd {
			return row.Addr
		}
	}
	return fn.Entry
}
