package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Groups prints traces grouped by statement path (the sequence of
// statements a call ran): the first trace of each path in full, then one
// line saying how many more calls took that path and which variables
// differed across them, with their ranges. The statistics are not
// affected.
//
// With Keep zero (--group) every trace is held until Flush, which prints
// each path's first trace and its summary line, paths in the order they
// first appeared. With Keep n > 0 (a terminal's default) traces print as
// they come until a path has been printed n times; its later calls are
// only counted, Note is called once when that first happens, and Flush
// prints a summary line for each such path.
type Groups struct {
	T    *Text
	Keep int
	Note func()

	byKey map[string]*group
	order []*group
	noted bool
}

// group is one statement path: its first trace, the calls counted beside
// it, and per variable value what the calls in the group read there.
type group struct {
	first   *Trace
	printed int
	more    int
	vals    map[[2]int]*spread // {record, value index} -> values seen
}

// spread is the values one variable took at one place in the path.
type spread struct {
	min, max Value
	differ   bool
	seen     bool
	unknown  bool // some call could not read it
}

// pathKey identifies a trace's statement path.
func pathKey(tr *Trace) string {
	var b strings.Builder
	for _, r := range tr.Records {
		b.WriteString(strconv.FormatUint(uint64(r.StmtID), 10))
		b.WriteByte(',')
	}
	if tr.Truncated > 0 {
		fmt.Fprintf(&b, "+%d@%d", tr.Truncated, tr.TruncatedAt)
	}
	return b.String()
}

// Trace takes one committed trace.
func (g *Groups) Trace(tr *Trace) error {
	if g.byKey == nil {
		g.byKey = map[string]*group{}
	}
	key := pathKey(tr)
	gr := g.byKey[key]
	if gr == nil {
		gr = &group{first: tr, vals: map[[2]int]*spread{}}
		g.byKey[key] = gr
		g.order = append(g.order, gr)
	} else {
		gr.more++
	}
	g.observe(gr, tr)
	if g.Keep > 0 && gr.printed < g.Keep {
		gr.printed++
		gr.more = 0
		return g.T.Trace(tr)
	}
	if g.Keep > 0 && !g.noted && g.Note != nil {
		g.noted = true
		g.Note()
	}
	return nil
}

// observe records the scalar values of tr in its group.
func (g *Groups) observe(gr *group, tr *Trace) {
	for i, r := range tr.Records {
		for j, v := range r.Values {
			if v.Bytes != nil || v.Unreadable {
				continue // strings: not ranged
			}
			s := gr.vals[[2]int{i, j}]
			if s == nil {
				s = &spread{}
				gr.vals[[2]int{i, j}] = s
			}
			s.unknown = s.unknown || !v.OK
			switch {
			case !s.seen:
				s.min, s.max, s.seen = v, v, true
			case v.OK != s.min.OK || v.U64 != s.min.U64 || v.U64 != s.max.U64:
				s.differ = true
				if v.OK && (!s.min.OK || int64(v.U64) < int64(s.min.U64)) {
					s.min = v
				}
				if v.OK && (!s.max.OK || int64(v.U64) > int64(s.max.U64)) {
					s.max = v
				}
			}
		}
	}
}

// Flush prints what Trace held: with Keep zero every path's first trace
// and its summary, otherwise the summaries of the paths whose calls were
// only counted.
func (g *Groups) Flush() error {
	for _, gr := range g.order {
		if g.Keep == 0 {
			if err := g.T.Trace(gr.first); err != nil {
				return err
			}
		}
		if gr.more == 0 {
			continue
		}
		if _, err := io.WriteString(g.T.W, g.summary(gr)+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// summary is the line that stands for a path's other calls.
func (g *Groups) summary(gr *group) string {
	what := "calls took this path"
	if g.Keep > 0 {
		what = fmt.Sprintf("calls took the path of %s[%d]'s trace above", gr.first.Comm, gr.first.TID)
	}
	diffs := g.differing(gr)
	if len(diffs) == 0 {
		return fmt.Sprintf("[... %d more %s ...]", gr.more, what)
	}
	return fmt.Sprintf("[... %d more %s; they differed in %s ...]", gr.more, what, strings.Join(diffs, " "))
}

// differing names the variables whose values differed across a group's
// calls, in the order they first appear in the path, each with the range
// of the values it took where it differed (?, when some could not be
// read).
func (g *Groups) differing(gr *group) []string {
	type rng struct {
		v        Var
		min, max Value
		unknown  bool
	}
	var names []string
	by := map[string]*rng{}
	for i, r := range gr.first.Records {
		st, ok := g.T.Stmts[r.StmtID]
		if !ok {
			continue
		}
		j := 0
		for _, v := range st.Vars {
			if v.Format == "group" || !v.Reads() {
				if v.Format == "group" {
					j += countReads(v)
				}
				continue
			}
			s := gr.vals[[2]int{i, j}]
			j++
			if s == nil || !s.differ || v.Name == "" {
				continue
			}
			x := by[v.Name]
			if x == nil {
				x = &rng{v: v, min: s.min, max: s.max}
				by[v.Name] = x
				names = append(names, v.Name)
			}
			x.unknown = x.unknown || s.unknown
			if s.min.OK && (!x.min.OK || int64(s.min.U64) < int64(x.min.U64)) {
				x.min = s.min
			}
			if s.max.OK && (!x.max.OK || int64(s.max.U64) > int64(x.max.U64)) {
				x.max = s.max
			}
		}
	}
	var out []string
	for _, n := range names {
		x := by[n]
		s := n + "=" + FormatValue(x.v, x.min)
		if lo, hi := FormatValue(x.v, x.min), FormatValue(x.v, x.max); lo != hi {
			s += ".." + hi
		}
		if x.unknown && x.min.OK {
			s += " or ?"
		}
		out = append(out, s)
	}
	return out
}

// countReads is how many values a display tree reads.
func countReads(v Var) int {
	if v.Format != "group" {
		if v.Reads() {
			return 1
		}
		return 0
	}
	n := 0
	for _, c := range v.Children {
		n += countReads(c)
	}
	return n
}

// Stats prints the held traces (Flush), then the statistics.
func (g *Groups) Stats(s Stats) error {
	if err := g.Flush(); err != nil {
		return err
	}
	return g.T.Stats(s)
}
