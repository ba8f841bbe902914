package report

import (
	"fmt"
	"strings"

	"github.com/whythefail/whythefail/expr"
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
// call is (file:line, or the function holding it: the tail-called
// function of FUNCTION, or the caller, when no line is known).
func callName(c follow.Call) string {
	callee := calleeName(c)
	switch {
	case c.Site.Line > 0:
		return fmt.Sprintf("%s (%s:%d)", callee, c.Site.File, c.Site.Line)
	case c.Site.In != "":
		return fmt.Sprintf("%s (in %s)", callee, c.Site.In)
	case c.Depth > 1 && c.Site.Func != "":
		return fmt.Sprintf("%s (in %s)", callee, c.Site.Func)
	}
	return callee
}

// calleeName is the callee, with the file holding it when a call through
// a pointer reached another file than the caller's (Call.Lib).
func calleeName(c follow.Call) string {
	if c.Lib != "" {
		return c.Callee + " in " + c.Lib
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
	case c.Callee == "__errno_location" || c.Callee == "__errno_location@plt":
		return "returned errno's address"
	case c.Wide:
		return fmt.Sprintf("returned %#x", c.Raw)
	}
	v := "returned " + formatReturn(c.Value, format)
	if c.Errno != 0 {
		v += " with errno " + errnoText(c.Errno)
	}
	return v
}

// errnoText is an errno value as its name and number: "ENOENT (2)".
func errnoText(n int64) string {
	if name := expr.ErrnoName(n); name != "" {
		return fmt.Sprintf("%s (%d)", name, n)
	}
	return fmt.Sprint(n)
}

// notFollowed is what a call line adds when the call's own calls were
// not recorded although the depth asked for reaches them (Call.NotFollowed,
// else its site's reason), after the call's note (Call.Note), if any.
func notFollowed(p *follow.Plan, c follow.Call) string {
	note := ""
	if c.Note != "" {
		note = " (" + c.Note + ")"
	}
	if c.Depth >= p.Depth || c.Site.Followed || c.Followed {
		return note
	}
	why := c.Site.NotFollowed
	if c.NotFollowed != "" {
		why = c.NotFollowed
	}
	if why == "" {
		return note
	}
	return note + ", its own calls not followed (" + why + ")"
}

// writeCalls prints --follow's lines: one "call:" line per call FUNCTION
// made, in order, with, below each call of the chain to the origin, the
// calls made in it (indented by depth); then the "origin:" line and the
// "chain:" line from FUNCTION down to it, through the functions FUNCTION
// tail-jumps to and the inlined functions the calls are in.
func writeCalls(b *strings.Builder, p *follow.Plan, res follow.Result, tr *Trace, fn, format string) {
	inChain := map[int]bool{}
	if res.Origin != nil {
		for _, k := range res.Origin.Chain {
			inChain[k] = true
		}
	}
	var walk func(parent int)
	walk = func(parent int) {
		for _, k := range res.Children(parent) {
			c := res.Calls[k]
			fmt.Fprintf(b, "call: %s%s %s%s\n", strings.Repeat("  ", c.Depth-1), callName(c), callValue(c, format), notFollowed(p, c))
			if inChain[k] {
				walk(k)
			}
		}
	}
	walk(-1)
	o := res.Origin
	switch {
	case o == nil && res.Unknown != "":
		fmt.Fprintf(b, "origin: not known (%s)\n", res.Unknown)
		return
	case o == nil && len(res.Calls) == 0:
		b.WriteString("origin: no call was made\n")
		return
	case o == nil:
		fmt.Fprintf(b, "origin: %s itself (no call returned %s)\n", fn, formatReturn(tr.Return, format))
		return
	}
	c := res.Calls[o.Call]
	how := "passed up"
	for i, l := range o.Links {
		if l.Errno {
			how = "passed up as a failure with errno set"
			break
		}
		if !l.Translated {
			continue
		}
		if i == 0 {
			how = fmt.Sprintf("translated at %s:%d", o.File, o.Line)
		} else {
			how = "translated in " + res.Calls[o.Chain[i-1]].Callee
		}
		break
	}
	switch {
	case o.Cut:
		how += " (the calls made in it were not all recorded: the trace buffer dropped records while it ran)"
	case c.Site.Deferred:
		how += " (its own calls not followed yet: --follow goes one level deeper each time the failure recurs)"
	}
	fmt.Fprintf(b, "origin: %s %s, %s\n", callName(c), callValue(c, format), how)
	parts := []string{fn}
	for _, k := range o.Chain {
		c := res.Calls[k]
		if c.Site.In != "" {
			parts = append(parts, c.Site.In+" (tail call)")
		}
		for i := len(c.Site.Inlined) - 1; i >= 0; i-- {
			parts = append(parts, c.Site.Inlined[i]+" (inlined)")
		}
		name := calleeName(c)
		if c.Site.Line > 0 {
			name = fmt.Sprintf("%s (%s:%d)", name, c.Site.File, c.Site.Line)
		}
		parts = append(parts, name+" "+callValue(c, format))
	}
	fmt.Fprintf(b, "chain: %s\n", strings.Join(parts, " → "))
}

type jsonCall struct {
	Callee   string `json:"callee"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	In       string `json:"in,omitempty"`
	Indirect bool   `json:"indirect,omitempty"`
	Returned bool   `json:"returned"`
	Value    int64  `json:"value"`
	// NoReturn says the call never came back while the trace ran;
	// Unseen that it came back but its value was not recorded (a kernel
	// callee's return not probed). Value is 0 then, not a value.
	NoReturn bool `json:"did_not_return,omitempty"`
	Unseen   bool `json:"value_not_seen,omitempty"`
	// RAX is the whole register, for callees returning more than
	// FUNCTION's return type holds.
	RAX uint64 `json:"rax"`
	// Parent is the index of the call this one was made in (-1: by
	// FUNCTION); Depth its level (1: FUNCTION's own calls).
	Parent int `json:"parent"`
	Depth  int `json:"depth"`
	// Func is the function holding the call; Inlined the inlined
	// functions holding it, innermost first.
	Func    string   `json:"func,omitempty"`
	Inlined []string `json:"inlined,omitempty"`
	// Binary and Target are the callee's file and link-time address,
	// when known.
	Binary string `json:"binary,omitempty"`
	Target uint64 `json:"target,omitempty"`
	// Errno is the errno the call set, when it changed it (0: none seen).
	Errno int64 `json:"errno,omitempty"`
}

type jsonOrigin struct {
	Call       int    `json:"call"` // index in calls
	Callee     string `json:"callee"`
	Translated bool   `json:"translated,omitempty"`
	File       string `json:"file,omitempty"`
	Line       int    `json:"line,omitempty"`
	// Chain is the calls from FUNCTION down to the origin (indexes in
	// calls), Call last.
	Chain []int `json:"chain"`
	// Deferred says the origin's own calls were not followed in this
	// run, which followed one level only (follow.Site.Deferred), and Cut
	// that they were not all recorded (follow.Origin.Cut): the failure
	// may come from deeper.
	Deferred bool `json:"calls_not_followed_yet,omitempty"`
	Cut      bool `json:"calls_not_all_recorded,omitempty"`
	// Function and Statements are the callee's DWARF name and the
	// statements the blamed call ran, when they were traced (a re-run).
	Function   string     `json:"function,omitempty"`
	Statements []jsonStmt `json:"statements,omitempty"`
	// Why is the origin's verdict, as the trace's "why" (the text
	// output's why: line after the origin's statements): only where the
	// origin has one (Origin.Verdict) and ran statements in the call.
	Why *jsonWhy `json:"why,omitempty"`
}

// callsJSON is --follow's result as JSON: calls never null.
func callsJSON(res follow.Result) ([]jsonCall, *jsonOrigin) {
	calls := []jsonCall{}
	for _, c := range res.Calls {
		calls = append(calls, jsonCall{Callee: c.Callee, File: c.Site.File, Line: c.Site.Line, In: c.Site.In, Indirect: c.Site.Indirect,
			Returned: c.Returned, Value: c.Value, RAX: c.Raw, Parent: c.Parent, Depth: c.Depth, Func: c.Site.Func, Inlined: c.Site.Inlined,
			Binary: c.Binary, Target: c.Target, Errno: c.Errno, NoReturn: !c.Back, Unseen: c.Unseen})
	}
	if res.Origin == nil {
		return calls, nil
	}
	o := &jsonOrigin{Call: res.Origin.Call, Callee: res.Calls[res.Origin.Call].Callee, Translated: res.Origin.Translated, Chain: res.Origin.Chain,
		Deferred: res.Calls[res.Origin.Call].Site.Deferred, Cut: res.Origin.Cut}
	if o.Translated {
		o.File, o.Line = res.Origin.File, res.Origin.Line
	}
	return calls, o
}
