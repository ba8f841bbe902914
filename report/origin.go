package report

import (
	"fmt"
	"strings"

	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/verdict"
)

// Origin is the blamed callee's own statements, traced in a second run
// (--follow): printed after the calls, for the one call Blame names, and
// left out of the function's statements everywhere else.
type Origin struct {
	Blame follow.Blame
	// Function is the callee's name in its DWARF; Tails name the
	// functions it tail-jumps to whose statements are among Stmts too.
	Function string
	Tails    []string
	// Stmts are the callee's statements by id (ids the traced function's
	// statements do not use).
	Stmts map[uint32]Stmt
	// Verdict, when set, adds a "why:" line for the callee after its
	// statements, from the branch record when its last branch was taken
	// within the blamed call; nil when the traced function's own
	// verdict holds that record.
	Verdict *verdict.Plan
}

// explain is the origin's verdict in the call c of tr (callTrace); nil
// without a plan or such a trace.
func (o *Origin) explain(c follow.Call, tr *Trace) *verdict.Verdict {
	if o.Verdict == nil {
		return nil
	}
	sub, ok := callTrace(c, tr)
	if !ok {
		return nil
	}
	return explain(o.Verdict, o.Stmts, sub)
}

// callTrace is the trace of the call c of tr, as a verdict reads it: the
// records between its call and its return, its value as returned, and
// tr's branch when it was recorded between them. Not ok when the value
// was not seen, or statements were dropped (their count cannot be placed
// in the call).
func callTrace(c follow.Call, tr *Trace) (*Trace, bool) {
	if !c.Returned || tr.Truncated > 0 || c.At < 0 || c.At >= len(tr.Records) {
		return nil, false
	}
	end := c.BackAt
	if end < 0 || end > len(tr.Records) {
		end = len(tr.Records)
	}
	sub := *tr
	sub.Records, sub.Return, sub.Branch, sub.BranchAfter = tr.Records[c.At+1:end], c.Value, nil, 0
	if tr.Branch != nil && tr.BranchAfter >= c.At+1 && tr.BranchAfter <= end {
		sub.Branch, sub.BranchAfter = tr.Branch, tr.BranchAfter-(c.At+1)
	}
	return &sub, true
}

// owns reports whether statement id is one of the origin's.
func (o *Origin) owns(id uint32) bool {
	if o == nil {
		return false
	}
	_, ok := o.Stmts[id]
	return ok
}

// writeOrigin prints the origin's statements when res blames the call
// the origin was traced for: a heading, then one line per statement the
// call ran, as the function's own statements are printed.
func (t *Text) writeOrigin(b *strings.Builder, res follow.Result, tr *Trace) {
	o := t.Origin
	if o == nil {
		return
	}
	c, ok := res.Find(o.Blame)
	if !ok && res.Origin == nil {
		return
	}
	name := o.Function
	if len(o.Tails) > 0 {
		name += " (with " + strings.Join(o.Tails, ", ") + ", which it tail-jumps to)"
	}
	switch {
	case ok:
		fmt.Fprintf(b, "origin's statements: %s, in the call %s, call %d from that site:\n", name, callName(c), c.Nth)
	default:
		// The failure came from below the call they were traced
		// for (the last run of a chain whose origin's statements
		// cannot be traced): the statements of that call, on the
		// chain, are the deepest ones there are.
		if c, ok = res.Along(o.Blame); !ok {
			fmt.Fprintf(b, "origin's statements: not traced here (they are traced for %s, call %d from its site)\n", o.Blame.Callee, o.Blame.Nth)
			return
		}
		fmt.Fprintf(b, "origin's statements: not traced; those of %s, which the chain passes through, in the call %s, call %d from that site:\n", name, callName(c), c.Nth)
	}
	end := c.BackAt
	if end < 0 {
		end = len(tr.Records)
	}
	n := 0
	for i := c.At + 1; i < end; i++ {
		r := tr.Records[i]
		if tr.Truncated > 0 && i == tr.TruncatedAt {
			elision(b, tr)
		}
		if st, ok := o.Stmts[r.StmtID]; ok {
			t.writeStmt(b, tr, st, r, "$$vars")
			n++
		}
	}
	if n == 0 {
		b.WriteString("origin's statements: none recorded for that call\n")
		return
	}
	if v := o.explain(c, tr); v != nil {
		b.WriteString(v.String() + "\n")
	}
}

// originJSON is the origin's statements for the JSON origin object, and
// its verdict when it has one (the text's why: line after them); nil when
// the trace does not blame the call they were traced for.
func (j *JSON) originJSON(res follow.Result, tr *Trace) (string, []jsonStmt, *jsonWhy) {
	o := j.Origin
	if o == nil {
		return "", nil, nil
	}
	c, ok := res.Find(o.Blame)
	if !ok {
		return "", nil, nil
	}
	end := c.BackAt
	if end < 0 {
		end = len(tr.Records)
	}
	out := []jsonStmt{}
	for i := c.At + 1; i < end; i++ {
		if st, ok := o.Stmts[tr.Records[i].StmtID]; ok {
			out = append(out, jsonStatement(st, tr.Records[i], "$$vars"))
		}
	}
	if len(out) == 0 {
		return o.Function, out, nil // as the text, which says none were recorded
	}
	return o.Function, out, whyJSON(o.explain(c, tr))
}
