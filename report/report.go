package report

import (
	"encoding/json"
	"fmt"
	"github.com/whythefail/whythefail/expr/ir"
	"io"
	"strings"

	"github.com/whythefail/whythefail/backtrace"
	"github.com/whythefail/whythefail/follow"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/verdict"
)

// Var says how to print one VARIABLE expression: see ir.Display.
type Var = ir.Display

// format prints v, consuming values from vals.
func format(v Var, vals *[]Value) string {
	if v.Format == "group" {
		var b strings.Builder
		b.WriteString("{")
		for i, c := range v.Children {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("." + c.Name + "=" + format(c, vals))
		}
		b.WriteString("}")
		return b.String()
	}
	var val Value
	if v.Reads() && len(*vals) > 0 {
		val = (*vals)[0]
		*vals = (*vals)[1:]
	}
	return FormatValue(v, val)
}

// Stmt describes one statement probe point.
type Stmt struct {
	File string
	Line int
	Vars []Var
	// Source is the text of the line, when it was found.
	Source    string
	HasSource bool
	// Shared are the other line-table rows at the statement's address
	// (stap names the probe by the first; at -O2 the row of a branch can
	// hide behind it), with their text when found: --source and
	// --annotate show them too.
	Shared []SourceLine
}

// Listing is a function's source, for annotating traces.
type Listing struct {
	File  string
	Lines []SourceLine
}

// SourceLine is one numbered line of source.
type SourceLine struct {
	N    int
	Text string
}

// Value, Record and Trace are the session's: a committed invocation as
// the ring buffer delivered it (one Record per executed statement, one Value
// per variable read there), printed as it is.
type (
	Value  = session.Value
	Record = session.Record
	Trace  = session.Trace
)

// Stats are the counters printed at the end: the session's, as they are.
type Stats = session.Stats

// Header carries what every trace's first line names.
type Header struct {
	Target   string // as the user typed it: process("./prog"), kernel, ...
	Function string
	// Variable is the user's VARIABLE expression; empty prints $$vars.
	Variable string
	// ReturnFormat formats $return like the function's type: "int" prints
	// decimal, "ptr" and "uint" print hex.
	ReturnFormat string
	// Listing is the traced function's source, when it was found.
	Listing *Listing
}

// Text writes traces in whythefail.stp's format.
type Text struct {
	W     io.Writer
	H     Header
	Stmts map[uint32]Stmt
	// Source adds each statement's source text below it; Annotate adds,
	// after each trace, the function's source with executed lines marked.
	Source, Annotate bool
	// Verdict, when set, adds the "why:" line after each trace.
	Verdict *verdict.Plan
	// Backtrace, when set, adds the chain of callers after the "why:"
	// line of each trace that carries a stack copy (--backtrace).
	Backtrace *backtrace.Unwinder
	// Follow, when set, prints the calls each trace made and the origin
	// of its return value (--follow) before the "why:" line; its probes'
	// records are not statements.
	Follow *follow.Plan
	// Origin, with Follow, prints the blamed callee's statements after
	// the calls (--follow's re-run).
	Origin *Origin
}

// explain returns the verdict of tr, or nil without a plan.
func explain(p *verdict.Plan, stmts map[uint32]Stmt, tr *Trace) *verdict.Verdict {
	if p == nil {
		return nil
	}
	return p.Explain(tr, func(id uint32) (verdict.Line, bool) {
		st, ok := stmts[id]
		return verdict.Line{File: st.File, Line: st.Line, Text: st.Source, HasText: st.HasSource}, ok
	})
}

// Trace prints one committed invocation: a blank line, the function line,
// then one line per executed statement.
func (t *Text) Trace(tr *Trace) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s[%d] %s function(%s) $return: %s\n", tr.Comm, tr.TID, t.H.Target, t.H.Function, formatReturn(tr.Return, t.H.ReturnFormat))
	label := "$$vars"
	if t.H.Variable != "" {
		label = t.H.Variable
	}
	for i, r := range tr.Records {
		if tr.Truncated > 0 && i == tr.TruncatedAt {
			elision(&b, tr)
		}
		if t.Follow.Owns(r.StmtID) || t.Origin.owns(r.StmtID) {
			continue
		}
		st, ok := t.Stmts[r.StmtID]
		if !ok {
			fmt.Fprintf(&b, "%s[%d] <unknown statement %d>\n", tr.Comm, tr.TID, r.StmtID)
			continue
		}
		t.writeStmt(&b, tr, st, r, label)
	}
	if tr.Truncated > 0 && tr.TruncatedAt >= len(tr.Records) {
		elision(&b, tr)
	}
	if t.Follow != nil {
		res := t.Follow.Calls(tr, stmtLine(t.Stmts))
		writeCalls(&b, t.Follow, res, tr, t.H.Function, t.H.ReturnFormat)
		t.writeOrigin(&b, res, tr)
	}
	if v := explain(t.Verdict, t.Stmts, tr); v != nil {
		b.WriteString(v.String() + "\n")
	}
	if t.Backtrace != nil && tr.Stack != nil {
		b.WriteString(t.Backtrace.Unwind(tr.Stack).String())
	}
	if t.Annotate && t.H.Listing != nil {
		t.annotate(&b, tr)
	}
	_, err := io.WriteString(t.W, b.String())
	return err
}

// writeStmt prints one statement record: comm[tid] file:line LABEL: the
// values, and with --source the line's text.
func (t *Text) writeStmt(b *strings.Builder, tr *Trace, st Stmt, r Record, label string) {
	fmt.Fprintf(b, "%s[%d] %s:%d %s:", tr.Comm, tr.TID, st.File, st.Line, label)
	vals := r.Values
	for _, v := range st.Vars {
		if v.Name == "" {
			b.WriteString(" " + format(v, &vals))
			continue
		}
		b.WriteString(" " + v.Name + "=" + format(v, &vals))
	}
	b.WriteString("\n")
	if t.Source && st.HasSource {
		fmt.Fprintf(b, "%8d | %s\n", st.Line, st.Source)
	}
	if t.Source {
		for _, sl := range st.Shared {
			if sl.Text != "" {
				fmt.Fprintf(b, "%8d | %s\n", sl.N, sl.Text)
			}
		}
	}
}

// elision is the line that stands where a trace's dropped statements ran:
// the buffer keeps an invocation's first statements and its latest ones.
func elision(b *strings.Builder, tr *Trace) {
	fmt.Fprintf(b, "%s[%d] ... %d statements not recorded here (the trace buffer keeps the first %d and the last %d) ...\n",
		tr.Comm, tr.TID, tr.Truncated, tr.TruncatedAt, len(tr.Records)-tr.TruncatedAt)
}

// annotate prints the function's source the way `less -N` shows it, with
// the number of times the trace executed each line in the margin and a >
// on the last line executed: the article's reading step, done for the user.
func (t *Text) annotate(b *strings.Builder, tr *Trace) {
	hits := map[int]int{}
	last := 0
	for _, r := range tr.Records {
		if st, ok := t.Stmts[r.StmtID]; ok && st.File == t.H.Listing.File {
			hits[st.Line]++
			last = st.Line
			for _, sl := range st.Shared {
				hits[sl.N]++
			}
		}
	}
	dropped := ""
	if tr.Truncated > 0 {
		dropped = fmt.Sprintf("; the %d statements not recorded are not counted", tr.Truncated)
	}
	fmt.Fprintf(b, "%s[%d] source of %s, %s (executed lines marked with their count%s):\n", tr.Comm, tr.TID, t.H.Function, t.H.Listing.File, dropped)
	for _, l := range t.H.Listing.Lines {
		mark := "    "
		if n := hits[l.N]; n > 0 {
			mark = fmt.Sprintf("%3dx", n)
		}
		arrow := " "
		if l.N == last {
			arrow = ">"
		}
		fmt.Fprintf(b, "%s %s%6d  %s\n", mark, arrow, l.N, l.Text)
	}
}

// Stats prints the statistics block as whythefail.stp's end probe does,
// followed by counts of anything lost.
func (t *Text) Stats(s Stats) error {
	var b strings.Builder
	b.WriteString("\nstatistics:\n")
	fmt.Fprintf(&b, "entry count: %d\n", s.Entries)
	fmt.Fprintf(&b, "exit-hit count: %d\n", s.ExitHit)
	fmt.Fprintf(&b, "exit-miss count: %d\n", s.ExitMiss)
	fmt.Fprintf(&b, "statement count: %d\n", s.Statements)
	for _, c := range []struct {
		name string
		n    uint64
	}{
		{"dropped-trace (ring buffer full)", s.RingbufDrops},
		{"truncated-statement (trace buffer full)", s.Truncations},
		{"orphan-statement (no live invocation)", s.MissingBuffer},
		{"dropped-entry (too many live invocations)", s.EntryDrops},
		{"undecodable-trace", s.DecodeErrors},
		{"missed-return (kretprobe instances all in use; upper bound, every task's calls)", s.ReturnMisses},
		{"missed-probe-hit (another BPF program was running)", s.ProgramMisses},
	} {
		if c.n > 0 {
			fmt.Fprintf(&b, "%s count: %d\n", c.name, c.n)
		}
	}
	_, err := io.WriteString(t.W, b.String())
	return err
}

// FormatValue prints a value as stap's $$vars does: integers and pointers
// in hex (signed integers sign-extended to 64 bits first), structs as
// {...}, arrays as [...], and ? when the value could not be read. A string
// whose pointer was read but not its characters prints as NULL for a null
// pointer and otherwise as the pointer in hex, unquoted, as stap's
// user_string_quoted does.
func FormatValue(v Var, val Value) string {
	switch v.Format {
	case "const":
		return v.Const
	case "struct":
		return "{...}"
	case "array":
		return "[...]"
	}
	if !val.OK {
		return "?"
	}
	switch v.Format {
	case "int":
		return fmt.Sprintf("%#x", uint64(signExtend(val.U64, v.Size)))
	case "uint", "ptr":
		return fmt.Sprintf("%#x", truncate(val.U64, v.Size))
	case "dec":
		return fmt.Sprintf("%d", signExtend(val.U64, v.Size))
	case "udec":
		return fmt.Sprintf("%d", truncate(val.U64, v.Size))
	case "string":
		if val.Unreadable {
			if val.U64 == 0 {
				return "NULL"
			}
			return fmt.Sprintf("%#x", val.U64)
		}
		b, truncated := val.Bytes, val.Truncated
		if v.Max > 0 && len(b) > v.Max {
			b, truncated = b[:v.Max], true
		}
		q := quote(b)
		if truncated {
			q += "..."
		}
		return q
	}
	return "?"
}

// quote prints a string as stap does: in double quotes, with C escapes
// for quotes, backslashes and unprintable bytes.
func quote(b []byte) string {
	var s strings.Builder
	s.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\t':
			s.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&s, "\\x%02x", c)
		default:
			s.WriteByte(c)
		}
	}
	s.WriteByte('"')
	return s.String()
}

func signExtend(u uint64, size int) int64 {
	if size <= 0 || size >= 8 {
		return int64(u)
	}
	shift := uint(64 - 8*size)
	return int64(u<<shift) >> shift
}

func truncate(u uint64, size int) uint64 {
	if size <= 0 || size >= 8 {
		return u
	}
	return u & (1<<(8*uint(size)) - 1)
}

func formatReturn(r int64, format string) string {
	switch format {
	case "ptr", "uint":
		return fmt.Sprintf("%#x", uint64(r))
	}
	return fmt.Sprintf("%d", r)
}

// JSON writes one JSON object per trace and one for the statistics.
type JSON struct {
	W     io.Writer
	H     Header
	Stmts map[uint32]Stmt
	// Verdict, when set, adds the "why" object to each trace.
	Verdict *verdict.Plan
	// Backtrace, when set, adds the "backtrace" object to each trace
	// that carries a stack copy.
	Backtrace *backtrace.Unwinder
	// Follow, when set, adds the "calls" array and the "origin" object
	// (--follow).
	Follow *follow.Plan
	// Origin, with Follow, adds the blamed callee's statements to the
	// origin object.
	Origin *Origin
}

// jsonBacktrace is a backtrace as JSON: frames innermost first, and why
// the unwinding stopped early ("" when it reached the outermost frame).
type jsonBacktrace struct {
	Frames []jsonFrame `json:"frames"`
	Stop   string      `json:"stop,omitempty"`
}

type jsonFrame struct {
	PC       uint64 `json:"pc"`
	Binary   string `json:"binary,omitempty"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Inlined  bool   `json:"inlined,omitempty"`
}

func backtraceJSON(bt *backtrace.Backtrace) *jsonBacktrace {
	j := &jsonBacktrace{Frames: []jsonFrame{}, Stop: bt.Stop}
	for _, f := range bt.Frames {
		j.Frames = append(j.Frames, jsonFrame(f))
	}
	return j
}

// jsonWhy is the verdict as JSON fields.
type jsonWhy struct {
	Text       string          `json:"text"`
	Return     int64           `json:"return"`
	Errno      string          `json:"errno,omitempty"`
	ReturnFile string          `json:"return_file,omitempty"`
	ReturnLine int             `json:"return_line,omitempty"`
	BranchFile string          `json:"branch_file,omitempty"`
	BranchLine int             `json:"branch_line,omitempty"`
	BranchText string          `json:"branch_source,omitempty"`
	Term       string          `json:"term,omitempty"`
	Outcome    *bool           `json:"outcome,omitempty"`
	Jumped     *bool           `json:"jumped,omitempty"`
	Values     []verdict.Value `json:"values"`
}

func whyJSON(v *verdict.Verdict) *jsonWhy {
	if v == nil {
		return nil
	}
	j := &jsonWhy{Text: v.String(), Return: v.Return, Errno: v.Errno, Term: v.Term, Values: v.Values}
	if j.Values == nil {
		j.Values = []verdict.Value{}
	}
	if v.HasRet {
		j.ReturnFile, j.ReturnLine = v.Ret.File, v.Ret.Line
	}
	if b := v.Branch; b != nil {
		j.BranchFile, j.BranchLine = b.File, b.Line
		if b.HasText {
			j.BranchText = strings.TrimSpace(b.Text)
		}
	}
	if v.Outcome != "" {
		o := v.Outcome == "true"
		j.Outcome = &o
	}
	if v.Known {
		jumped := v.Jumped
		j.Jumped = &jumped
	}
	return j
}

type jsonStmt struct {
	File string    `json:"file"`
	Line int       `json:"line"`
	Vars []jsonVar `json:"vars"`
}

// jsonVar is one variable at a statement; jsonValue says how Value is
// typed.
type jsonVar struct {
	Name      string `json:"name"`
	Value     any    `json:"value"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Trace writes one trace object.
func (j *JSON) Trace(tr *Trace) error {
	out := struct {
		Type       string     `json:"type"`
		Comm       string     `json:"execname"`
		PID        uint32     `json:"pid"`
		TID        uint32     `json:"tid"`
		Target     string     `json:"target"`
		Function   string     `json:"function"`
		Return     int64      `json:"return"`
		Statements []jsonStmt `json:"statements"` // never null
		// Truncated statements ran but were not recorded; they ran
		// just before statements[TruncatedAt] (TruncatedAt equals the
		// length of statements when they ran last).
		Truncated   uint32 `json:"truncated,omitempty"`
		TruncatedAt *int   `json:"truncated_at,omitempty"`
		// Why is the verdict line's content (omitted with --no-verdict).
		Why *jsonWhy `json:"why,omitempty"`
		// Backtrace is the chain of callers (--backtrace).
		Backtrace *jsonBacktrace `json:"backtrace,omitempty"`
		// Calls and Origin are the calls made and where the return
		// value came from (--follow).
		Calls  []jsonCall  `json:"calls,omitempty"`
		Origin *jsonOrigin `json:"origin,omitempty"`
		// OriginUnknown says why no origin is named although calls
		// were made (follow.Result.Unknown).
		OriginUnknown string `json:"origin_unknown,omitempty"`
	}{Statements: []jsonStmt{}, Type: "trace", Comm: tr.Comm, PID: tr.PID, TID: tr.TID, Target: j.H.Target, Function: j.H.Function, Return: tr.Return, Truncated: tr.Truncated}
	if tr.Truncated > 0 {
		at := tr.TruncatedAt
		out.TruncatedAt = &at
	}
	out.Why = whyJSON(explain(j.Verdict, j.Stmts, tr))
	if j.Backtrace != nil && tr.Stack != nil {
		out.Backtrace = backtraceJSON(j.Backtrace.Unwind(tr.Stack))
	}
	if j.Follow != nil {
		res := j.Follow.Calls(tr, stmtLine(j.Stmts))
		out.Calls, out.Origin = callsJSON(res)
		out.OriginUnknown = res.Unknown
		if out.Origin != nil {
			out.Origin.Function, out.Origin.Statements, out.Origin.Why = j.originJSON(res, tr)
		}
	}
	for _, r := range tr.Records {
		if j.Follow.Owns(r.StmtID) || j.Origin.owns(r.StmtID) {
			continue
		}
		st, ok := j.Stmts[r.StmtID]
		if !ok {
			st = Stmt{File: "<unknown statement>"}
		}
		out.Statements = append(out.Statements, jsonStatement(st, r, j.H.Variable))
	}
	return json.NewEncoder(j.W).Encode(out)
}

// jsonStatement is one statement record as JSON; variable names the
// values of an expression printed without a name.
func jsonStatement(st Stmt, r Record, variable string) jsonStmt {
	js := jsonStmt{File: st.File, Line: st.Line, Vars: []jsonVar{}}
	vals := r.Values
	for _, v := range st.Vars {
		name := v.Name
		if name == "" {
			name = variable
		}
		val, cut := jsonValue(v, &vals)
		js.Vars = append(js.Vars, jsonVar{name, val, cut})
	}
	return js
}

// Stats writes the statistics object.
func (j *JSON) Stats(s Stats) error {
	return json.NewEncoder(j.W).Encode(struct {
		Type string `json:"type"`
		Stats
	}{"statistics", s})
}
