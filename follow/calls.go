package follow

import (
	"fmt"

	"github.com/whythefail/whythefail/session"
)

// Call is one call the traced invocation made.
type Call struct {
	Site *Site
	// Callee names the function called: the site's for a direct call,
	// the recorded target named by the binary's symbols (or hex) for an
	// indirect one ("?" when the target could not be read).
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
	// Unseen says the callee came back but its return was not probed
	// where it happened (a plan at the callees whose return took a way
	// out of the callee that was not probed): its value is unknown.
	Unseen bool
}

// Origin is the call the failure value came from.
type Origin struct {
	Call int // index in the calls
	// Translated says the callee's error was replaced by another one
	// before FUNCTION returned it; Line is then the last line FUNCTION
	// ran (where the new value was chosen), 0 when none was recorded.
	Translated bool
	Line       int
	File       string
}

// Result is what a trace says about calls.
type Result struct {
	Calls  []Call
	Origin *Origin
}

// line is what Calls needs of a statement record: its line.
type line func(id uint32) (file string, n int, ok bool)

// Calls pairs the call and return records of tr, in the order they ran,
// and names the origin of tr.Return:
//   - the last call that returned the same value (at the function's return
//     size; NULL for NULL, -1 for -1), or else
//   - when the function returns a negative errno (-4095..-1) and the last
//     call made returned another one, that call, as translated at the last
//     statement FUNCTION ran after it.
//
// A call whose failure the function recovered from is never named: it did
// not return the value, and it was not the last call.
func (p *Plan) Calls(tr *session.Trace, stmt line) Result {
	var res Result
	if p == nil {
		return res
	}
	if p.probes != nil {
		return p.calleeCalls(tr, stmt)
	}
	pending := map[*Site]int{}
	after := map[int]int{} // call index -> index of its return record
	for i, r := range tr.Records {
		s, ok := p.byID[r.StmtID]
		if !ok {
			continue
		}
		if r.StmtID == s.CallID {
			c := Call{Site: s, Callee: s.Callee}
			if s.Indirect {
				c.Callee = "?"
				if len(r.Values) > 0 && r.Values[0].OK {
					c.Callee = p.runtimeName(r.Values[0].U64, tr.Bias)
				}
			}
			pending[s] = len(res.Calls)
			res.Calls = append(res.Calls, c)
			continue
		}
		k, ok := pending[s]
		if !ok {
			continue // a jump to the return address, not a return
		}
		delete(pending, s)
		after[k] = i
		if s.Used && len(r.Values) > 0 && r.Values[0].OK {
			res.Calls[k].Returned = true
			u := r.Values[0].U64
			res.Calls[k].Value, res.Calls[k].Raw, res.Calls[k].Wide = p.norm(u), u, p.wide(u)
			if s.ret != nil {
				res.Calls[k].Value, res.Calls[k].Wide = s.ret.norm(u), false
			}
		}
		res.Calls[k].Back = true
	}
	p.nameOrigin(&res, tr, after, stmt)
	return res
}

// nameOrigin names the origin of tr.Return among res's calls (after maps
// a call's index to its return record's), as Calls describes.
func (p *Plan) nameOrigin(res *Result, tr *session.Trace, after map[int]int, stmt line) {
	for k := len(res.Calls) - 1; k >= 0; k-- {
		if c := res.Calls[k]; c.Returned && !c.Wide && c.Value == tr.Return {
			res.Origin = &Origin{Call: k}
			return
		}
	}
	if !isErrno(tr.Return) || p.retUnsigned {
		return
	}
	k := len(res.Calls) - 1
	for k >= 0 && !res.Calls[k].Returned {
		k--
	}
	// Only the last call whose value the function read: a later one
	// that returned success means the function recovered.
	if k < 0 || res.Calls[k].Wide || !isErrno(res.Calls[k].Value) {
		return
	}
	o := &Origin{Call: k, Translated: true}
	for i := len(tr.Records) - 1; i > after[k] && stmt != nil; i-- {
		if f, n, ok := stmt(tr.Records[i].StmtID); ok && n > 0 && (n != p.LastLine || o.Line == 0) {
			o.File, o.Line = f, n
			if n != p.LastLine {
				break
			}
		}
	}
	if o.Line == 0 {
		o.File, o.Line = res.Calls[k].Site.File, res.Calls[k].Site.Line
	}
	res.Origin = o
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

// runtimeName names a run-time code address: by the traced binary's
// symbols when it falls in them (bias is the binary's load bias), else hex.
func (p *Plan) runtimeName(addr, bias uint64) string {
	if s, ok := p.symbolAt(addr - bias); ok {
		if s.Value == addr-bias {
			return s.Name
		}
		return fmt.Sprintf("%s+%#x", s.Name, addr-bias-s.Value)
	}
	return fmt.Sprintf("%#x", addr)
}
