package place

import (
	"fmt"
	"strings"

	"github.com/whythefail/whythefail/insn"
)

// Before decides whether the statement at pc, which neither Place nor
// Successor could move off its single-stepped first instruction, can be
// recorded earlier on the straight line that leads to it: by the probe
// of an earlier statement whose code always falls through to it, or on
// the emulated instructions that start that line (the jumps that enter
// it, the conditional jump or nop it follows). The statement is then
// recorded before the instructions between that point and pc run, so
// every one of them must be plain (no branch, call, return or trap, and
// no other way in), and none may write a register or memory the
// statement reads. With calls, the line may also start where a call
// returns: the statement is then recorded before the call when it reads
// only what every callee preserves (survivesCall), which the caller
// allows only when nothing else records during the call (no --follow).
// Control that reaches the point then reaches pc,
// unless one of those instructions faults and the signal handler never
// comes back to it; the invocation is then abandoned and never reported,
// unless the handler longjmps back into the function, so the caller must
// not use Before in a function that calls setjmp or vfork, or whose
// calls cannot all be named, or that has exception landing pads.
//
// earlier returns the decisions made for the statement that starts at
// an address (Place's, Successor's or Before's), ok false when no
// statement starts there: a statement on the line is observed where
// that one is, and recorded after it. Each decision has Succ set: Cond
// -1 records the statement whenever the probe fires, and the caller
// orders the records of one probe by their statements' addresses
// (statements on one straight line run in that order). It returns one
// Decision per point, or one that keeps pc and says why. The caller
// still builds the statement's program for each point's address (its
// CFA rule there must describe the same frame); the reads are the
// statement's own, which nothing in between changes.
func (f *Func) Before(pc uint64, need Needs, cfa CFA, emulated func(insn.Class) bool, earlier func(addr uint64) ([]Decision, bool), calls bool) []Decision {
	keep := func(format string, a ...any) []Decision {
		return []Decision{{Addr: pc, Why: "kept: " + fmt.Sprintf(format, a...)}}
	}
	i, why := f.observable(pc, need)
	switch {
	case why != "":
		return keep("%s", why)
	case f.insts[i].rep:
		// Its own probe records it at each iteration (the kernel
		// single-steps one at a time), as --placement=naive shows it.
		return keep("%s traps at each iteration", f.insts[i].text)
	}
	var out []Decision
	// add records the statement at the probe at index at, for control
	// that then runs insts[from:i] to reach pc.
	add := func(at, from int, cond int, taken bool, how string, call bool) string {
		if call {
			if why := survivesCall(need); why != "" {
				return why
			}
		}
		rsp, known, consts, why := f.unchanged(from, i, need, cfa)
		if why != "" {
			return why
		}
		p := f.insts[at]
		if p.addr == f.entry {
			return "the line starts at the function's entry"
		}
		for r := uint64(0); r < 17; r++ {
			if c, ok := consts[r]; ok {
				how += fmt.Sprintf(", reading %s as %#x", regName(r), c)
			}
		}
		out = append(out, Decision{Addr: p.addr, Moved: true, RSP: rsp, RSPKnown: known, Succ: true, Cond: cond, Taken: taken, From: f.insts[from].addr, Consts: consts, Call: call,
			Why: fmt.Sprintf("recorded earlier, at %s %s, %s", f.off(p.addr), p.text, how)})
		return ""
	}
	// entry reports whether control may come to insts[k] other than by
	// falling through from the instruction before it.
	entry := func(k int) bool {
		for _, r := range f.reasons[f.insts[k].addr] {
			if r != "statement" {
				return true
			}
		}
		return false
	}
	seg := i // insts[seg:i] run between the recording point and pc
	for {
		// Back to where control enters the straight line: another
		// statement, a jump target, or the instruction after a branch
		// or after an emulated one.
		for !entry(seg) && (seg == i || len(f.reasons[f.insts[seg].addr]) == 0) {
			if seg == 0 || f.insts[seg-1].addr+uint64(f.insts[seg-1].n) != f.insts[seg].addr {
				return keep("no instruction before %s in the function", f.off(f.insts[seg].addr))
			}
			prev := f.insts[seg-1]
			if prev.flow || prev.class != "" && emulated(prev.class) {
				break
			}
			seg--
		}
		head := f.insts[seg].addr
		if head == f.entry {
			return keep("the line starts at the function's entry")
		}
		if head != pc && has(f.reasons[head], "statement") {
			// Observed wherever that statement is, after it.
			ds, ok := earlier(head)
			if !ok || len(ds) == 0 {
				return keep("the statement at %s is not placed", f.off(head))
			}
			for _, d := range ds {
				cond, taken, from := d.Cond, d.Taken, d.From
				switch {
				case !d.Moved && d.Addr == head:
					cond, taken, from = -1, false, head
				case !d.Moved:
					return keep("the statement at %s is not at its address", f.off(head))
				case !d.Succ:
					return keep("the statement at %s is observed after its address", f.off(head))
				case from == 0:
					from = head // a Successor decision: the jump runs nothing
				}
				at, ok1 := f.index[d.Addr]
				k, ok2 := f.index[from]
				if !ok1 || !ok2 || k > seg {
					return keep("the statement at %s is observed at %#x", f.off(head), d.Addr)
				}
				how := howOf(cond, taken)
				if d.Call {
					how = "before the call"
				}
				if why := add(at, k, cond, taken, how+" (with the statement at "+f.off(head)+")", d.Call); why != "" {
					return keep("%s", why)
				}
			}
			return out
		}
		for _, r := range f.reasons[head] {
			if r != "statement" && r != "jump target" {
				return keep("%s at %s", r, f.off(head))
			}
		}
		for _, k := range f.jumpers[head] {
			j := f.insts[k]
			switch {
			case j.cc < 0 && j.class != insn.ClassJmp8 && j.class != insn.ClassJmp32:
				return keep("entered by %s %s", f.off(j.addr), j.text)
			case j.class == "" || !emulated(j.class):
				return keep("a jump that enters the line, %s %s, is not emulated", f.off(j.addr), j.text)
			}
			if why := add(k, seg, j.cc, true, howOf(j.cc, true), false); why != "" {
				return keep("%s", why)
			}
		}
		if seg == 0 || f.insts[seg-1].addr+uint64(f.insts[seg-1].n) != head {
			return keep("no instruction before %s in the function", f.off(head))
		}
		prev := f.insts[seg-1]
		switch {
		case prev.stops:
			if len(out) == 0 {
				return keep("no jump enters it")
			}
			return out
		case prev.class != "" && emulated(prev.class) && !prev.flow:
			// A nop or push: it always runs on to the line.
			if why := add(seg-1, seg-1, -1, false, "where it runs", false); why != "" {
				return keep("%s", why)
			}
			return out
		case prev.cc >= 0:
			switch {
			case prev.class == "" || !emulated(prev.class):
				return keep("entered from %s %s, not emulated", f.off(prev.addr), prev.text)
			case prev.target == head:
				return keep("both ways of %s %s lead to it", f.off(prev.addr), prev.text)
			}
			if why := add(seg-1, seg, prev.cc, false, howOf(prev.cc, false), false); why != "" {
				return keep("%s", why)
			}
			return out
		case prev.call && calls && prev.class != "" && emulated(prev.class):
			// The line starts where the call returns: recorded
			// before the call, when what the statement reads
			// survives any call.
			if why := add(seg-1, seg, -1, false, "before the call", true); why != "" {
				return keep("%s", why)
			}
			return out
		case prev.flow:
			return keep("entered from %s %s", f.off(prev.addr), prev.text)
		}
		// A plain instruction falls into the jump target: the line
		// goes on before it.
		seg--
	}
}

// callerSaved are the registers a call may change (System V x86-64:
// rax, rdx, rcx, rsi, rdi, r8-r11), as DWARF numbers.
const callerSaved regSet = 1<<0 | 1<<1 | 1<<2 | 1<<4 | 1<<5 | 1<<8 | 1<<9 | 1<<10 | 1<<11

// survivesCall says why the values a statement reads may differ after a
// call returns from what they were before it, "" when they cannot: it
// reads only registers the callee must preserve (rbx, rbp, r12-r15, and
// rsp, which the return restores), the CFA, constants and entry values,
// and no memory, which the callee may write.
func survivesCall(need Needs) string {
	switch {
	case need.Mem || len(need.Slots) > 0:
		return "it reads memory, which the call may write"
	case need.Regs&callerSaved != 0:
		for r := uint64(0); r < 17; r++ {
			if need.Regs.has(r) && callerSaved.has(r) {
				return fmt.Sprintf("it reads %s, which the call may change", regName(r))
			}
		}
	}
	return ""
}

// howOf says when a probe records a statement it observes (Decision.Cond
// and Taken), for -v.
func howOf(cond int, taken bool) string {
	switch {
	case cond < 0:
		return "whenever it runs"
	case taken:
		return "when it jumps"
	}
	return "when it falls through"
}

// maxBefore bounds how many instructions may run between the probe and
// the statement it records (Before): the checks along a line of
// statements recorded together cost the square of its length.
const maxBefore = 256

// unchanged checks that running insts[from:to] leaves every value the
// statement at insts[to] reads (need; cfa is its CFA rule) as it was,
// but for registers it reads whole (Needs.Whole) that an instruction
// sets to a constant, which it returns: the statement reads those
// constants instead. It also returns how far rsp moves from the
// statement back to the start of the run (Decision.RSP's sense: the
// run's pushes make it positive), and why not when something in
// between may change a read.
func (f *Func) unchanged(from, to int, need Needs, cfa CFA) (int64, bool, map[uint64]uint64, string) {
	total, known := int64(0), true
	for _, in := range f.insts[from:to] {
		if in.flow {
			return 0, false, nil, fmt.Sprintf("%s %s can leave the line", f.off(in.addr), in.text)
		}
		if in.writes.has(7) {
			if in.rspKnown {
				total += in.rsp
			} else {
				known = false
			}
		}
	}
	if to-from > maxBefore {
		return 0, false, nil, fmt.Sprintf("more than %d instructions between", maxBefore)
	}
	// rbpLater[k]: an instruction from insts[from+k] on writes rbp.
	rbpLater := make([]bool, to-from+1)
	for k := to - from - 1; k >= 0; k-- {
		rbpLater[k] = rbpLater[k+1] || f.insts[from+k].writes.has(6)
	}
	var consts map[uint64]uint64
	rsp := -total // rsp before each instruction, from its value at the statement
	for k, in := range f.insts[from:to] {
		w := in.writes & need.Regs
		for r := uint64(0); r < 17; r++ {
			if !w.has(r) {
				continue
			}
			if in.konst && need.Whole.has(r) && r != 6 && r != 7 && !(need.CFA && r == cfa.Reg) {
				if consts == nil {
					consts = map[uint64]uint64{}
				}
				consts[r] = in.kval
				continue
			}
			return 0, false, nil, fmt.Sprintf("%s written between (%s %s)", regName(r), f.off(in.addr), in.text)
		}
		switch {
		case need.CFA && in.writes.has(cfa.Reg) && (cfa.Reg != 7 || !known):
			return 0, false, nil, fmt.Sprintf("the frame's register %s changes between (%s %s)", regName(cfa.Reg), f.off(in.addr), in.text)
		case need.Mem && in.mem:
			return 0, false, nil, fmt.Sprintf("memory written between (%s %s)", f.off(in.addr), in.text)
		}
		if len(need.Slots) > 0 {
			if in.mem && len(in.stores) == 0 {
				return 0, false, nil, fmt.Sprintf("a stack slot read may be written between (%s %s)", f.off(in.addr), in.text)
			}
			for _, st := range in.stores {
				// rbp counts as unchanged only when nothing from here to
				// the statement writes it (then its value is the
				// statement's), this instruction included.
				if !known && st.base == 7 || clobbers(st, rsp, !rbpLater[k], need.Slots, cfa) {
					return 0, false, nil, fmt.Sprintf("a stack slot read may be written between (%s %s)", f.off(in.addr), in.text)
				}
			}
		}
		if in.writes.has(7) && in.rspKnown {
			rsp += in.rsp
		}
	}
	return -total, known, consts, ""
}

// has reports whether list holds s.
func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CondUses returns the addresses of the conditional sets and moves
// (setcc, cmovcc), which the verdict probes like the jumps: a statement
// recorded across one would be recorded on the wrong side of its
// branch record, so the caller makes them barriers.
func (f *Func) CondUses() []uint64 {
	var out []uint64
	for _, in := range f.insts {
		if in.condUse {
			out = append(out, in.addr)
		}
	}
	return out
}

// Calls returns the targets of the function's direct calls.
func (f *Func) Calls() []uint64 {
	var out []uint64
	for _, in := range f.insts {
		if in.call && in.target != 0 {
			out = append(out, in.target)
		}
	}
	return out
}

// ReturnsTwice reports whether a function of this name may return twice
// (GCC's special_function_p: setjmp, sigsetjmp, savectx, vfork,
// getcontext, qsetjmp and setjmp_syscall, with leading underscores or
// any other prefix).
func ReturnsTwice(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"setjmp", "savectx", "vfork", "getcontext"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
