package verdict

import (
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/whythefail/whythefail/expr"
	"github.com/whythefail/whythefail/session"
)

// Line is a statement's place as the report knows it.
type Line struct {
	File    string
	Line    int
	Text    string
	HasText bool
}

// Value is one operand the deciding branch compared, as read at the jump.
type Value struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
	Text  string `json:"text"` // the value as printed
}

// Verdict is the answer for one trace.
type Verdict struct {
	Function string
	Return   int64
	Errno    string // the errno name of -Return, when it is one
	// Ret is the statement the return came from.
	Ret    Line
	HasRet bool
	// Branch is the deciding branch; nil when no branch ran.
	Branch *Branch
	// Jumped says whether the jump was taken; Known is false when the
	// flags could not be read.
	Jumped, Known bool
	// Term is the part of the branch's condition that decided, with its
	// outcome ("true" or "false"); Term is empty when the outcome is of
	// the whole condition, Outcome empty when it could not be evaluated.
	Term    string
	Outcome string
	Values  []Value
	// undecidedLeftOut says the plan left out branches that cannot
	// decide the return value: with no branch recorded, one of them may
	// still have run.
	undecidedLeftOut bool
}

// flags bits of rflags.
const (
	flagCF = 1 << 0
	flagPF = 1 << 2
	flagZF = 1 << 6
	flagSF = 1 << 7
	flagOF = 1 << 11
)

// jumps evaluates a conditional jump's condition on flags.
func jumps(op x86asm.Op, f uint64) bool {
	cf, pf, zf, sf, of := f&flagCF != 0, f&flagPF != 0, f&flagZF != 0, f&flagSF != 0, f&flagOF != 0
	switch op {
	case x86asm.JA:
		return !cf && !zf
	case x86asm.JAE:
		return !cf
	case x86asm.JB:
		return cf
	case x86asm.JBE:
		return cf || zf
	case x86asm.JE:
		return zf
	case x86asm.JNE:
		return !zf
	case x86asm.JG:
		return !zf && sf == of
	case x86asm.JGE:
		return sf == of
	case x86asm.JL:
		return sf != of
	case x86asm.JLE:
		return zf || sf != of
	case x86asm.JO:
		return of
	case x86asm.JNO:
		return !of
	case x86asm.JP:
		return pf
	case x86asm.JNP:
		return !pf
	case x86asm.JS:
		return sf
	case x86asm.JNS:
		return !sf
	}
	return false
}

// unsignedJcc reports whether op compares without sign.
func unsignedJcc(op x86asm.Op) bool {
	switch op {
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE:
		return true
	}
	return false
}

// Explain finds the verdict of a committed trace. stmt describes the
// statement records (those that are not branches).
func (p *Plan) Explain(tr *session.Trace, stmt func(id uint32) (Line, bool)) *Verdict {
	v := &Verdict{Function: p.Func, Return: tr.Return, undecidedLeftOut: p.NonDeciding > 0}
	if tr.Return < 0 {
		v.Errno = expr.ErrnoName(-tr.Return)
	}
	var b *Branch
	if tr.Branch != nil {
		b = p.Branches[tr.Branch.StmtID]
	}
	start := 0 // the first statement record after the branch
	if b != nil {
		start = recordAfter(tr, tr.BranchAfter)
		// A statement whose probe shares the jump's trap ran before the
		// jump, whichever program the kernel called first.
		for start < len(tr.Records) && p.stmtPC[tr.Records[start].StmtID] == b.PC {
			start++
		}
	}
	v.Ret, v.HasRet = p.returnLine(tr, start, func(id uint32) (Line, bool) {
		l, ok := stmt(id)
		if ok && !l.HasText && p.source != nil {
			l.Text, l.HasText = p.source(l.File, l.Line)
		}
		return l, ok
	})
	if b == nil {
		return v
	}
	r := *tr.Branch
	v.Branch = b
	if b.FlagsVar < len(r.Values) && r.Values[b.FlagsVar].OK {
		v.Known, v.Jumped = true, jumps(b.Jcc, r.Values[b.FlagsVar].U64)
	}
	vals := make([]*int64, len(b.Ops))
	for i, o := range b.Ops {
		switch {
		case o.Imm:
			x := o.Value
			vals[i] = &x
		case o.Var >= 0 && o.Var < len(r.Values) && r.Values[o.Var].OK:
			x := signExtend(r.Values[o.Var].U64, o.Size)
			vals[i] = &x
		}
	}
	names := make([]string, len(b.Ops))
	for i, o := range b.Ops {
		names[i] = o.Name
	}
	if b.HasText {
		p.fromSource(v, b, vals, names)
	}
	for i, o := range b.Ops {
		if o.Imm || vals[i] == nil {
			continue
		}
		v.Values = append(v.Values, Value{Name: names[i], Value: *vals[i], Text: formatValue(*vals[i], o.Size, b)})
	}
	return v
}

// fromSource matches the branch's operands with a term of the source
// line's condition: it names operands DWARF did not name, and evaluates
// the term when the values are known.
func (p *Plan) fromSource(v *Verdict, b *Branch, vals []*int64, names []string) {
	cond, ok := condition(b.Text)
	if !ok {
		return
	}
	type cand struct {
		t     term
		x, y  int    // operand indexes; y < 0: compared with the literal lit
		lit   int64  // when y < 0
		op    string // relation of x to y (or lit)
		xName string // x's name in the source
		yName string
	}
	named := func(i int, s string) bool { return !b.Ops[i].Named || b.Ops[i].Name == s }
	var cands []cand
	for _, t := range terms(cond) {
		switch {
		case b.Kind == KindCmp && len(b.Ops) == 2 && !b.Ops[0].Imm:
			x, y := b.Ops[0], b.Ops[1]
			if t.Op == "" {
				if y.Imm && y.Value == 0 && named(0, t.L) {
					cands = append(cands, cand{t: t, x: 0, y: -1, op: "!=", xName: t.L})
				}
				continue
			}
			if y.Imm {
				if l, ok := literal(t.R); ok && l == y.Value && named(0, t.L) {
					cands = append(cands, cand{t: t, x: 0, y: -1, lit: l, op: t.Op, xName: t.L})
				} else if l, ok := literal(t.L); ok && l == y.Value && named(0, t.R) {
					cands = append(cands, cand{t: t, x: 0, y: -1, lit: l, op: flip(t.Op), xName: t.R})
				}
				continue
			}
			if x.Named && y.Named {
				if x.Name == t.L && y.Name == t.R {
					cands = append(cands, cand{t: t, x: 0, y: 1, op: t.Op, xName: t.L, yName: t.R})
				} else if x.Name == t.R && y.Name == t.L {
					cands = append(cands, cand{t: t, x: 0, y: 1, op: flip(t.Op), xName: t.R, yName: t.L})
				}
			}
		case b.Kind == KindTest && len(b.Ops) == 1:
			if t.Op == "" && named(0, t.L) {
				cands = append(cands, cand{t: t, x: 0, y: -1, op: "!=", xName: t.L})
			} else if (t.Op == "==" || t.Op == "!=") && named(0, t.L) {
				if l, ok := literal(t.R); ok && l == 0 {
					cands = append(cands, cand{t: t, x: 0, y: -1, op: t.Op, xName: t.L})
				}
			}
		}
	}
	if len(cands) != 1 {
		return
	}
	c := cands[0]
	names[c.x] = c.xName
	if c.y >= 0 {
		names[c.y] = c.yName
	}
	if !c.t.whole {
		v.Term = c.t.Text
	}
	if vals[c.x] == nil || (c.y >= 0 && vals[c.y] == nil) {
		return
	}
	rhs := c.lit
	if c.y >= 0 {
		rhs = *vals[c.y]
	}
	res := holds(*vals[c.x], c.op, rhs, unsignedJcc(b.Jcc))
	if c.t.Neg {
		res = !res
	}
	v.Outcome = fmt.Sprint(res)
}

// recordAfter is the index in tr.Records of the first statement recorded
// after the first n statements that ran (some may have been dropped).
func recordAfter(tr *session.Trace, n int) int {
	switch {
	case tr.Truncated == 0 || n <= tr.TruncatedAt:
		return min(n, len(tr.Records))
	case n < tr.TruncatedAt+int(tr.Truncated):
		return tr.TruncatedAt
	}
	return min(n-int(tr.Truncated), len(tr.Records))
}

// returnLine picks the statement the return came from: among the records
// from start (those after the deciding branch), the last one whose text is
// a return statement, else the last one that is neither the function's
// closing line (which epilogues are attributed to) nor a non-deciding
// branch's (a condition whichever way it went the function returned the
// same), else the last; with none after the branch, the trace's last
// statement.
func (p *Plan) returnLine(tr *session.Trace, start int, stmt func(uint32) (Line, bool)) (Line, bool) {
	var lines []Line
	for i := len(tr.Records) - 1; i >= start; i-- {
		if l, ok := stmt(tr.Records[i].StmtID); ok {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		for i := len(tr.Records) - 1; i >= 0; i-- {
			if l, ok := stmt(tr.Records[i].StmtID); ok {
				return l, true
			}
		}
		return Line{}, false
	}
	for _, l := range lines {
		if l.HasText && strings.HasPrefix(strings.TrimSpace(l.Text), "return") {
			return l, true
		}
	}
	for _, l := range lines {
		if l.Line != p.LastLine && !p.undecided[fileLine{l.File, l.Line}] {
			return l, true
		}
	}
	return lines[0], true
}

func signExtend(u uint64, size int) int64 {
	if size <= 0 || size >= 8 {
		return int64(u)
	}
	sh := uint(64 - 8*size)
	return int64(u<<sh) >> sh
}

// formatValue prints a compared value: in hex when it is tested against a
// mask or too large to read in decimal, else in decimal, unsigned when the
// jump compares without sign.
func formatValue(x int64, size int, b *Branch) string {
	u := uint64(x)
	if size > 0 && size < 8 {
		u &= 1<<(8*uint(size)) - 1
	}
	mask := b.Kind == KindTest && len(b.Ops) == 2
	switch {
	case mask:
		return fmt.Sprintf("%#x", u)
	case unsignedJcc(b.Jcc) && u < 1<<20:
		return fmt.Sprint(u)
	case x > -(1<<20) && x < 1<<20:
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("%#x", u)
}

// String is the verdict line, "why: ...".
func (v *Verdict) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "why: %s returned %d", v.Function, v.Return)
	if v.Errno != "" {
		fmt.Fprintf(&b, " (%s)", v.Errno)
	}
	if v.HasRet {
		fmt.Fprintf(&b, " at %s:%d", v.Ret.File, v.Ret.Line)
		if v.Ret.HasText {
			fmt.Fprintf(&b, " %q", strings.TrimSpace(v.Ret.Text))
		}
	}
	br := v.Branch
	if br == nil && v.undecidedLeftOut {
		b.WriteString(", and no conditional branch that could change the return value ran before it")
		return b.String()
	}
	if br == nil {
		b.WriteString(", and no conditional branch ran before it")
		return b.String()
	}
	fmt.Fprintf(&b, " because %s:%d", br.File, br.Line)
	if br.HasText {
		fmt.Fprintf(&b, " %q", strings.TrimSpace(br.Text))
	}
	switch {
	case v.Outcome != "" && v.Term != "":
		fmt.Fprintf(&b, ": %s was %s", v.Term, v.Outcome)
	case v.Outcome != "":
		fmt.Fprintf(&b, " was %s", v.Outcome)
	case v.Known:
		how, insn := " jumped", br.Jcc
		if !v.Jumped {
			how = " did not jump"
		}
		if br.Insn != 0 {
			how, insn = " decided without a jump", br.Insn
		}
		fmt.Fprintf(&b, "%s (%s", how, lower(insn.String()))
		if rel := relation(br, v.Jumped); rel != "" {
			b.WriteString(": " + rel)
		} else if br.Setter != "" {
			fmt.Fprintf(&b, " after %s", br.Setter)
		}
		b.WriteString(")")
	default:
		b.WriteString(" was the last branch")
	}
	for i, x := range v.Values {
		if i == 0 {
			b.WriteString(" with ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", x.Name, x.Text)
	}
	return b.String()
}

// jccRel is the relation of cmp a, b that makes each jump jump.
var jccRel = map[x86asm.Op]string{
	x86asm.JA: ">", x86asm.JAE: ">=", x86asm.JB: "<", x86asm.JBE: "<=", x86asm.JE: "==", x86asm.JNE: "!=",
	x86asm.JG: ">", x86asm.JGE: ">=", x86asm.JL: "<", x86asm.JLE: "<=",
}

// negRel negates a relation.
var negRel = map[string]string{">": "<=", "<=": ">", "<": ">=", ">=": "<", "==": "!=", "!=": "=="}

// relation spells what held at a cmp or test branch, in the operands'
// names: "hints->ai_flags > 2047" (unsigned when the jump compares
// without sign); "" when the branch is of another kind.
func relation(b *Branch, jumped bool) string {
	rel, ok := jccRel[b.Jcc]
	if !ok {
		return ""
	}
	if !jumped {
		rel = negRel[rel]
	}
	name := func(o Operand) string {
		if o.Imm {
			return fmt.Sprint(o.Value)
		}
		return o.Name
	}
	var s string
	switch {
	case b.Kind == KindCmp && len(b.Ops) == 2:
		s = name(b.Ops[0]) + " " + rel + " " + name(b.Ops[1])
	case b.Kind == KindTest && len(b.Ops) == 1 && (rel == "==" || rel == "!="):
		s = name(b.Ops[0]) + " " + rel + " 0"
	case b.Kind == KindTest && len(b.Ops) == 2 && (rel == "==" || rel == "!="):
		o := b.Ops[1]
		mask := name(o)
		if o.Imm {
			mask = fmt.Sprintf("%#x", o.Value)
		}
		s = "(" + name(b.Ops[0]) + " & " + mask + ") " + rel + " 0"
	default:
		return ""
	}
	if unsignedJcc(b.Jcc) {
		s += " unsigned"
	}
	return s
}
