package report

import (
	"fmt"
	"strings"

	"github.com/whythefail/whythefail/follow"
)

// stmtLine looks a statement record's line up, for follow.Plan.Calls.
func stmtLine(stmts map[uint32]Stmt) func(uint32) (string, int, bool) {
	return func(id uint32) (string, int, bool) {
		st, ok := stmts[id]
		return st.File, st.Line, ok
	}
}

// callName is a call as the report names it: the callee, then where the
// call is (file:line in the traced function, or the tail-called function
// holding it).
func callName(c follow.Call) string {
	switch {
	case c.Site.Line > 0:
		return fmt.Sprintf("%s (%s:%d)", c.Callee, c.Site.File, c.Site.Line)
	case c.Site.In != "":
		return fmt.Sprintf("%s (in %s)", c.Callee, c.Site.In)
	}
	return c.Callee
}

// callValue is what a call returned, formatted as the traced function's
// return is.
func callValue(c follow.Call, format string) string {
	switch {
	case !c.Back:
		return "did not return"
	case c.Unseen:
		return "returned (value not seen)"
	case !c.Returned:
		return "returned (value not used)"
	case c.Wide:
		return fmt.Sprintf("returned %#x", c.Raw)
	}
	return "returned " + formatReturn(c.Value, format)
}

// writeCalls prints --follow's lines: one "call:" line per call made, in
// order, then the "origin:" line.
func writeCalls(b *strings.Builder, res follow.Result, tr *Trace, fn, format string) {
	for _, c := range res.Calls {
		fmt.Fprintf(b, "call: %s %s\n", callName(c), callValue(c, format))
	}
	o := res.Origin
	switch {
	case o == nil && len(res.Calls) == 0:
		b.WriteString("origin: no call was made\n")
	case o == nil:
		fmt.Fprintf(b, "origin: %s itself (no call returned %s)\n", fn, formatReturn(tr.Return, format))
	case o.Translated:
		c := res.Calls[o.Call]
		fmt.Fprintf(b, "origin: %s %s, translated at %s:%d\n", callName(c), callValue(c, format), o.File, o.Line)
	default:
		c := res.Calls[o.Call]
		fmt.Fprintf(b, "origin: %s %s, passed up\n", callName(c), callValue(c, format))
	}
}

type jsonCall struct {
	Callee   string `json:"callee"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	In       string `json:"in,omitempty"`
	Indirect bool   `json:"indirect,omitempty"`
	Returned bool   `json:"returned"`
	Value    int64  `json:"value"`
	// RAX is the whole register, for callees returning more than
	// FUNCTION's return type holds.
	RAX uint64 `json:"rax"`
}

type jsonOrigin struct {
	Call       int    `json:"call"` // index in calls
	Callee     string `json:"callee"`
	Translated bool   `json:"translated,omitempty"`
	File       string `json:"file,omitempty"`
	Line       int    `json:"line,omitempty"`
}

// callsJSON is --follow's result as JSON: calls never null.
func callsJSON(res follow.Result) ([]jsonCall, *jsonOrigin) {
	calls := []jsonCall{}
	for _, c := range res.Calls {
		calls = append(calls, jsonCall{Callee: c.Callee, File: c.Site.File, Line: c.Site.Line, In: c.Site.In, Indirect: c.Site.Indirect, Returned: c.Returned, Value: c.Value, RAX: c.Raw})
	}
	if res.Origin == nil {
		return calls, nil
	}
	o := &jsonOrigin{Call: res.Origin.Call, Callee: res.Calls[res.Origin.Call].Callee, Translated: res.Origin.Translated}
	if o.Translated {
		o.File, o.Line = res.Origin.File, res.Origin.Line
	}
	return calls, o
}
