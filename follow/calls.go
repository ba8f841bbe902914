package follow

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/whythefail/whythefail/session"
)

// Call is one call the traced invocation made, at any depth.
type Call struct {
	Site *Site
	// Callee names the function called: the site's for a direct call,
	// the recorded target named by the symbols of the binary holding the
	// call (or hex) for an indirect one ("?" when the target could not
	// be read).
	Callee string
	// Returned says the return probe ran (the callee came back) and the
	// caller reads rax after it (Site.Used); Value is rax then, truncated
	// and extended as the traced function's return type is.
	Returned bool
	Value    int64
	// Back says the callee came back (its return probe ran).
	Back bool
	// Raw is the whole of rax; Wide says it does not fit the traced
	// function's return size (neither zero- nor sign-extended from it: a
	// pointer returned into an int function), so the report prints Raw.
	Raw  uint64
	Wide bool

	// Parent is the index of the call this one was made in, -1 for a
	// call FUNCTION made; Depth is 1 for those, Parent's Depth plus one
	// otherwise.
	Parent int
	Depth  int
	// Binary and Target are the callee: the path of the file holding it
	// and its link-time entry address there (for an indirect call, the
	// recorded target placed in the binary holding the call when it
	// falls in that binary's symbols); Target is 0 when unknown.
	Binary string
	Target uint64
	// Nth counts the calls made from this site in the invocation, this
	// one included (1 for the first), whatever their depth.
	Nth int
	// At and BackAt are the indices in the trace's records of the call
	// record and of its return record (BackAt is -1 when the callee did
	// not come back): the callee's own statements, when traced, are the
	// records between them.
	At, BackAt int

	// Errno is the errno the call set: the thread's errno when it
	// returned, when that differs from errno when it was made and is not
	// 0 (recorded only where the plan could locate errno); 0 otherwise.
	Errno int64

	// Followed says the callee, called through a pointer, had its own
	// calls followed (Input.Also).
	Followed bool
	// Lib is the file name of the file holding the callee when a call
	// through a pointer reached a function of another file than the one
	// making the call (a plugin loaded with dlopen, a library's callback
	// into the program): the report names it beside the callee.
	Lib string

	// Unseen says the callee came back but its return was not probed
	// where it happened (a plan at the callees whose return took a way
	// out of the callee that was not probed): its value is unknown.
	Unseen bool

	// Gap says the call was still open when the trace buffer dropped
	// records (session.Trace.Truncated): the calls made in it are not
	// all recorded, so the chain stops at it (Origin.Cut).
	Gap bool

	// NotFollowed, when set, says why this call's own calls were not
	// followed, in place of its site's (Site.NotFollowed): an ifunc's
	// implementation, chosen at run time. Note, when set, is what the
	// report adds to the call line at any depth: why an ifunc call
	// (Site.Ifunc) is named by its PLT entry rather than by the
	// implementation it reached.
	NotFollowed string
	Note        string
}

// Origin is the call the failure value came from: the deepest call of
// the chain along which it flowed up to FUNCTION's return.
type Origin struct {
	Call int // index in the calls of the origin, the last of Chain
	// Translated says the callee's error was replaced by another one
	// before FUNCTION returned it; Line is then the last line FUNCTION
	// ran (where the new value was chosen), 0 when none was recorded.
	// It is about FUNCTION's own call, Chain[0].
	Translated bool
	Line       int
	File       string
	// Chain is the calls from FUNCTION down to the origin, indexes in
	// the calls: Chain[0] is a call FUNCTION made, each next one a call
	// made in the previous one whose value that one passed up (or
	// translated: Links says which).
	Chain []int
	// Links[i] says how Chain[i]'s value became its caller's: passed up
	// unchanged, or translated (an errno replaced by another).
	Links []Link
	// Cut says the chain stops at Call because the calls made in it
	// were not all recorded (Call.Gap): the failure may come from
	// deeper.
	Cut bool
}

// Link is how a value went from a call in the chain to its caller.
type Link struct {
	Translated bool
	// Errno says the call failed by returning NULL or -1 with errno
	// set (Call.Errno) and its caller failed the same way (returning
	// -1, or NULL from a pointer function) after it.
	Errno bool
}

// Result is what a trace says about calls.
type Result struct {
	Calls  []Call
	Origin *Origin
	// Unknown, when set, says why no origin is named although calls
	// were made: the trace buffer dropped records while FUNCTION ran, and
	// the call its value came from may be among them.
	Unknown string
}

// Children returns the indexes of the calls made in call parent (-1:
// by FUNCTION), in order.
func (r Result) Children(parent int) []int {
	var out []int
	for i, c := range r.Calls {
		if c.Parent == parent {
			out = append(out, i)
		}
	}
	return out
}

// line is what Calls needs of a statement record: its line.
type line func(id uint32) (file string, n int, ok bool)

// open is a call whose return has not been seen yet.
type open struct {
	call     int
	site     *Site
	rsp      uint64
	hasRSP   bool
	errno    uint64 // errno when the call was made
	hasErrno bool
	ifunc    bool // an ifunc call whose slot was not bound yet: named at its return
}

// value returns a record's value i, if recorded.
func value(r session.Record, i int) (uint64, bool) {
	if i < len(r.Values) && r.Values[i].OK {
		return r.Values[i].U64, true
	}
	return 0, false
}

// Calls builds the tree of calls tr made from its call and return
// records, in the order they ran, and names the origin of tr.Return.
//
// A call's parent is the innermost call still open when it was made. An
// open call's frame is known by rsp at the call, which its return
// (the return address reached with rsp back at that value) must match:
// a jump to a return address is no return, an inner instance of a
// recursive function never closes an outer one, and calls left open
// when a later one is made outside their frame (a longjmp, records the
// buffer dropped) are closed without a value.
//
// The origin is found level by level, from FUNCTION down: among the calls
// made at a level, the last one whose value was read must have returned
// the level's value (the same value, at FUNCTION's return size), or NULL
// or -1 having set errno when the level's value is -1 (or NULL for a
// pointer function), or, when that value is a negative errno
// (-4095..-1), another one, translated.
// Its own calls are the next level, with its value. A call whose failure
// the caller recovered from (a later call's value was read) is never
// named. Calls of __errno_location (reading errno) do not count.
func (p *Plan) Calls(tr *session.Trace, stmt line) Result {
	var res Result
	if p == nil {
		return res
	}
	if p.probes != nil {
		return p.calleeCalls(tr, stmt)
	}
	var stack []open
	nth := map[*Site]int{}
	after := map[int]int{} // call index -> index of its return record
	// The records the buffer dropped, if any, were between gap-1 and
	// gap: the calls open then lose some of their calls, and a call
	// recorded after it is kept only where its caller is known.
	gap, gapOpen := -1, false
	if tr.Truncated > 0 {
		gap = tr.TruncatedAt
	}
	markGap := func() {
		gapOpen = true
		for _, o := range stack {
			if o.call >= 0 {
				res.Calls[o.call].Gap = true
			}
		}
	}
	for i, r := range tr.Records {
		if i == gap {
			markGap()
		}
		s, ok := p.byID[r.StmtID]
		if !ok {
			continue
		}
		if r.StmtID == s.CallID {
			nth[s]++
			rsp, hasRSP := value(r, callRSP)
			if s.Depth <= 1 {
				stack = stack[:0] // FUNCTION's own code runs: its calls are over
			}
			for len(stack) > 0 {
				top := stack[len(stack)-1]
				if !hasRSP || !top.hasRSP || rsp < top.rsp {
					break
				}
				stack = stack[:len(stack)-1] // outside top's frame: top is over
			}
			if gapOpen && !p.madeIn(s, res, stack) {
				// Its caller's call may have been dropped: a call
				// made deeper would be taken for its caller's.
				continue
			}
			p.resolve(s)
			c := Call{Site: s, Callee: s.Callee, Parent: -1, Depth: 1, Binary: s.TargetBinary, Target: s.Target, Nth: nth[s], At: i, BackAt: -1}
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				if top.call < 0 || res.Calls[top.call].Depth >= max(p.Depth, 1) {
					// Deeper than asked (a recursive callee's
					// probes fire at every level): matched, not kept.
					stack = append(stack, open{call: -1, site: s, rsp: rsp, hasRSP: hasRSP})
					continue
				}
				c.Parent = top.call
				c.Depth = res.Calls[c.Parent].Depth + 1
			}
			if s.Indirect {
				c.Callee = "?"
				if t, ok := value(r, callTarget); ok {
					c.Callee, c.Binary, c.Target = p.runtimeTarget(s, t, r, tr)
					c.Followed = c.Target != 0 && p.also[fkey{c.Binary, c.Target}]
					if c.Target != 0 && c.Binary != s.Binary {
						c.Lib = filepath.Base(c.Binary)
					}
				}
			}
			o := open{call: len(res.Calls), site: s, rsp: rsp, hasRSP: hasRSP}
			if s.Ifunc {
				a, ok := value(r, callTarget)
				o.ifunc = !p.nameIfunc(&c, s, a, ok, s.retSlot == 0, tr)
			}
			if s.callErrno > 0 {
				o.errno, o.hasErrno = value(r, s.callErrno)
			}
			stack = append(stack, o)
			res.Calls = append(res.Calls, c)
			continue
		}
		rsp, hasRSP := value(r, retRSP)
		j := len(stack) - 1
		for ; j >= 0; j-- {
			if o := stack[j]; o.site == s && (!hasRSP || !o.hasRSP || o.rsp == rsp) {
				break
			}
		}
		if j < 0 {
			continue // a jump to the return address, not a return
		}
		k, before := stack[j].call, stack[j]
		stack = stack[:j]
		if k < 0 {
			continue
		}
		after[k] = i
		res.Calls[k].BackAt = i
		if before.ifunc {
			a, ok := value(r, max(s.retSlot, 0))
			p.nameIfunc(&res.Calls[k], s, a, ok, true, tr)
		}
		if e, ok := value(r, max(s.retErrno, 0)); ok && s.retErrno > 0 && before.hasErrno && int32(e) != int32(before.errno) && int32(e) != 0 {
			res.Calls[k].Errno = int64(int32(e))
		}
		if u, ok := value(r, retRAX); ok && s.Used {
			res.Calls[k].Returned = true
			res.Calls[k].Value, res.Calls[k].Raw, res.Calls[k].Wide = p.norm(u), u, p.wide(u)
			if s.ret != nil {
				res.Calls[k].Value, res.Calls[k].Wide = s.ret.norm(u), false
			} else if s.untyped {
				res.Calls[k].Wide = p.ambiguous(u)
			}
		}
		res.Calls[k].Back = true
	}
	if gap >= len(tr.Records) {
		markGap()
	}
	res.Origin, res.Unknown = p.origin(res, tr, stmt, after, gap)
	return res
}

// madeIn reports whether a call at s, recorded after the trace buffer
// dropped records, was made by the innermost call still open in stack
// (by FUNCTION when none is): s is in that call's callee.
func (p *Plan) madeIn(s *Site, res Result, stack []open) bool {
	if len(stack) == 0 {
		return s.Depth <= 1
	}
	top := stack[len(stack)-1]
	if top.call < 0 {
		return false
	}
	c := res.Calls[top.call]
	return c.Target != 0 && s.funcEntry == c.Target && s.funcBin != nil && s.funcBin.Path == c.Binary
}

// nameIfunc names the implementation an ifunc call c (at site s)
// reached, from its GOT slot's value a (ok: it was read), read when the
// call was made or when it returned (back: the last reading). It returns
// false when the slot was not bound yet at the call and is read again at
// its return; otherwise c is named, or c.Note says why not.
func (p *Plan) nameIfunc(c *Call, s *Site, a uint64, ok, back bool, tr *session.Trace) bool {
	if !ok {
		c.Note = "an ifunc: its GOT slot could not be read, the implementation it reached is not known"
		return true
	}
	name, path, va, unbound, why := p.ifuncTarget(s, a, tr)
	switch {
	case unbound && !back:
		return false
	case unbound:
		c.Note = "an ifunc: its GOT slot was not bound, the implementation it reached is not known"
	case why != "":
		c.Note = "an ifunc: " + why + ", the implementation it reached is not known"
	default:
		c.Callee, c.Binary, c.Target = name, path, va
		c.Followed = p.also[fkey{path, va}]
		c.NotFollowed = "chosen at run time by the ifunc " + strings.TrimSuffix(s.Callee, "@plt")
		if s.ifuncLib != "" && path != s.ifuncLib {
			// Another file's function took the name (LD_PRELOAD):
			// the slot holds it, no ifunc chose it.
			c.NotFollowed = fmt.Sprintf("bound at run time to %s in %s, not to the ifunc of %s", name, filepath.Base(path), filepath.Base(s.ifuncLib))
		}
	}
	return true
}

// maxChain bounds the chain the origin is searched along (recursion).
const maxChain = 256

// origin names the origin of tr.Return in res (see Calls); nil when
// FUNCTION itself made the value.
func (p *Plan) origin(res Result, tr *session.Trace, stmt line, after map[int]int, gap int) (*Origin, string) {
	var o *Origin
	parent, v := -1, tr.Return
	// open says parent (FUNCTION first) ran while the buffer dropped
	// records: the last call it read the value of is known only when
	// it came back after them (any later one would be recorded too).
	open := gap >= 0
	for o == nil || len(o.Chain) < maxChain {
		if open {
			if last := p.lastRead(res, parent); last < 0 || res.Calls[last].BackAt < gap {
				if o == nil {
					return nil, fmt.Sprintf("the trace buffer dropped %d records while %s ran: the call its value came from may be among them", tr.Truncated, p.Func)
				}
				o.Cut = true // its calls are not all recorded
				break
			}
		}
		if len(res.Calls) == 0 {
			break
		}
		k, translated := p.pick(res, parent, v)
		if k < 0 {
			break
		}
		if o == nil {
			o = &Origin{Translated: translated}
			if translated {
				p.translatedAt(o, res.Calls[k], tr, stmt, after[k])
			}
		}
		o.Call = k
		o.Chain = append(o.Chain, k)
		c := res.Calls[k]
		o.Links = append(o.Links, Link{Translated: translated, Errno: c.Errno != 0 && c.Value != v && (c.Raw == 0 || c.Value == -1)})
		open = c.Gap
		parent, v = k, res.Calls[k].Value
	}
	return o, ""
}

// lastRead returns the last call made in parent to come back whose value
// was read (or whose return was not seen), -1 when none did.
func (p *Plan) lastRead(res Result, parent int) int {
	// The last to come back: in a plan at the callees, a recursive
	// invocation's calls come between a call and its return.
	last, end := -1, -1
	for i, c := range res.Calls {
		e := c.BackAt
		if c.Unseen {
			e = c.At
		}
		if c.Parent == parent && (c.Returned || c.Unseen) && !readsErrno(c.Callee) && e >= end {
			last, end = i, e
		}
	}
	return last
}

// pick chooses, among the calls made in parent, the one value v came
// from: the last whose value was read, when it returned v or (v a
// negative errno) another errno; -1 when none did.
func (p *Plan) pick(res Result, parent int, v int64) (int, bool) {
	last := p.lastRead(res, parent)
	if last < 0 || res.Calls[last].Unseen {
		return -1, false // none, or the last one read came back unseen
	}
	c := res.Calls[last]
	switch {
	case c.Errno != 0 && (c.Raw == 0 || c.Value == -1) && (v == -1 || v == 0 && p.retPointer):
		return last, false // failed with errno set, passed up so
	case c.Wide:
		return -1, false
	case c.Value == v:
		return last, false
	case isErrno(v) && !p.retUnsigned && isErrno(c.Value):
		return last, true
	}
	return -1, false
}

// readsErrno reports whether a callee is glibc's errno accessor.
func readsErrno(callee string) bool {
	return callee == "__errno_location" || callee == "__errno_location@plt"
}

// translatedAt places FUNCTION's translation of call c's error: the last
// statement it ran after the call's return record (at index ret), not
// its closing brace unless no other line ran; else the call's line.
func (p *Plan) translatedAt(o *Origin, c Call, tr *session.Trace, stmt line, ret int) {
	for i := len(tr.Records) - 1; i > ret && stmt != nil; i-- {
		if p.Owns(tr.Records[i].StmtID) {
			continue
		}
		if f, n, ok := stmt(tr.Records[i].StmtID); ok && n > 0 && (n != p.LastLine || o.Line == 0) {
			o.File, o.Line = f, n
			if n != p.LastLine {
				break
			}
		}
	}
	if o.Line == 0 {
		o.File, o.Line = c.Site.File, c.Site.Line
	}
}

func isErrno(v int64) bool { return v < 0 && v >= -4095 }

// norm truncates rax to the traced function's return size and extends it
// as that type is (sign-extended unless unsigned), as the session does
// with $return.
func (p *Plan) norm(u uint64) int64 {
	switch p.retSize {
	case 1, 2, 4:
		bits := uint(p.retSize * 8)
		u &= 1<<bits - 1
		if !p.retUnsigned && u&(1<<(bits-1)) != 0 {
			return int64(u | ^(1<<bits - 1))
		}
	}
	return int64(u)
}

// wide reports whether rax holds more than the traced function's return
// size: bits above it that are neither zero nor its sign.
func (p *Plan) wide(u uint64) bool {
	if p.retSize != 1 && p.retSize != 2 && p.retSize != 4 {
		return false
	}
	bits := uint(p.retSize * 8)
	hi := u >> bits
	return hi != 0 && int64(u)>>(bits-1) != -1
}

// ambiguous reports whether rax, returned by a callee whose return type is
// not known (a kernel function missing from the BTF, such as a gcc clone
// whose original pahole skipped), reads differently as a 4-byte and as an
// 8-byte value while the traced function returns 8 bytes: an int's -2
// leaves 0xfffffffe with upper bits the ABI leaves unspecified. It is then
// shown raw (Call.Wide) and never blamed, rather than read at the traced
// function's size as a number it may not be.
func (p *Plan) ambiguous(u uint64) bool {
	return p.retSize == 8 && int64(int32(u)) != int64(u)
}

// runtimeTarget names an indirect call's recorded target addr: by the
// symbols of the binary holding the call, its load bias taken from the
// call's recorded address (or, without it, the traced binary's bias);
// else, when the process's memory map (tr.Stack.Maps) places addr in
// another file, by that file's (pointerTarget); else hex. It returns the
// name, and the binary and link-time address when a function starts
// there.
func (p *Plan) runtimeTarget(s *Site, addr uint64, r session.Record, tr *session.Trace) (string, string, uint64) {
	b := p.binary(s.Binary)
	bias := tr.Bias
	if rip, ok := value(r, callRIP); ok {
		bias = rip - s.PC
	} else if b != p.root && p.root != nil {
		return fmt.Sprintf("%#x", addr), "", 0
	}
	va := addr - bias
	if sym, ok := b.symbolAt(va); ok {
		if sym.Value == va {
			return b.funcName(va), b.Path, va
		}
		return fmt.Sprintf("%s+%#x", sym.Name, va-sym.Value), "", 0
	}
	if ob, ova, ok := p.pointerTarget(b, addr, tr); ok {
		return p.implName(ob, ova), ob.Path, ova
	}
	return fmt.Sprintf("%#x", addr), "", 0
}

// pointerTarget places run-time address addr, which a call through a
// pointer made in binary b reached, in another file with the process's
// memory map: that file and the link-time address there, when a function
// symbol of it starts at that address. Not ok when the map is missing,
// places addr nowhere, in b itself, in a file that cannot be opened, or
// inside a function rather than at its start: the call keeps its hex
// address, never a guessed name.
func (p *Plan) pointerTarget(b *Binary, addr uint64, tr *session.Trace) (*Binary, uint64, bool) {
	maps, why := p.mapsOf(tr)
	if why != "" {
		return nil, 0, false
	}
	for _, m := range maps {
		if addr < m.Start || addr >= m.End {
			continue
		}
		if !m.Exec || m.Path == "" || m.Path[0] != '/' {
			return nil, 0, false
		}
		ob := p.mappedBinary(m.Path)
		if ob == nil || ob == b || ob.Path == b.Path || ob.File == nil || ob.File.ELF == nil {
			return nil, 0, false
		}
		va, ok := linkAddr(ob.File.ELF, addr-m.Start+m.Offset)
		if !ok {
			return nil, 0, false
		}
		p.mu.Lock()
		ob.prepare()
		fs, ok := ob.symbolAt(va)
		p.mu.Unlock()
		if !ok || fs.Value != va {
			return nil, 0, false
		}
		return ob, va, true
	}
	return nil, 0, false
}

// binary is the planned binary at path (the traced one when unknown).
func (p *Plan) binary(path string) *Binary {
	if b, ok := p.bins[path]; ok {
		return b
	}
	if p.root != nil {
		return p.root
	}
	return &Binary{syms: p.syms}
}
