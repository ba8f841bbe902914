package tracer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/report"
)

// Notes chooses how much of whythefail's advice goes to stderr. Errors are
// never silenced.
type Notes int

const (
	// NotesSummary, the default, prints each note of the job and at most
	// one line about the variables that print ?.
	NotesSummary Notes = iota
	// NotesVerbose (-v) lists those variables, one line per variable.
	NotesVerbose
	// NotesQuiet (-q) prints no notes at all.
	NotesQuiet
)

// unavailableNotes turns the generator's warnings (one per variable per
// statement: optimized code has hundreds) into notes: by default one line
// saying how many variables print ? at how many statements, with -v one
// line per variable naming the lines where it does and why.
func unavailableNotes(stmts map[uint32]report.Stmt, ws []bpfgen.Warning, level Notes) []string {
	if len(ws) == 0 || level == NotesQuiet {
		return nil
	}
	type group struct {
		reason string
		ids    map[uint32]bool
	}
	type variable struct {
		name   string
		groups []*group
		ids    map[uint32]bool
	}
	var vars []*variable
	byName := map[string]*variable{}
	atStmts := map[uint32]bool{}
	reasons := map[string]bool{}
	sorted := append([]bpfgen.Warning(nil), ws...)
	sort.SliceStable(sorted, func(i, k int) bool { return sorted[i].StmtID < sorted[k].StmtID })
	for _, w := range sorted {
		v := byName[w.Var]
		if v == nil {
			v = &variable{name: w.Var, ids: map[uint32]bool{}}
			byName[w.Var] = v
			vars = append(vars, v)
		}
		var g *group
		for _, x := range v.groups {
			if x.reason == w.Reason {
				g = x
			}
		}
		if g == nil {
			g = &group{reason: w.Reason, ids: map[uint32]bool{}}
			v.groups = append(v.groups, g)
		}
		g.ids[w.StmtID] = true
		v.ids[w.StmtID] = true
		atStmts[w.StmtID] = true
		reasons[w.Reason] = true
	}
	if level == NotesSummary {
		why := ""
		if len(reasons) == 1 {
			why = " (" + sorted[0].Reason + ")"
		}
		where := fmt.Sprintf("%d of the %d statements", len(atStmts), len(stmts))
		if len(atStmts) == len(stmts) {
			where = fmt.Sprintf("all %d statements", len(stmts))
		}
		return []string{fmt.Sprintf("%s as ? at %s%s; -v lists them",
			plural(len(vars), "variable prints", "variables print"), where, why)}
	}
	var notes []string
	for _, v := range vars {
		var parts []string
		for _, g := range v.groups {
			parts = append(parts, where(stmts, g.ids, len(v.groups) == 1)+": "+g.reason)
		}
		notes = append(notes, v.name+" prints as ? "+strings.Join(parts, "; "))
	}
	return notes
}

// where names the statements ids: their lines, or, when they are most of
// the function's statements and whole says these are all the statements
// where the variable prints ?, the lines of the others.
func where(stmts map[uint32]report.Stmt, ids map[uint32]bool, whole bool) string {
	if len(ids) == len(stmts) && whole {
		return fmt.Sprintf("at all %d statements", len(stmts))
	}
	if !whole || 2*len(ids) <= len(stmts) {
		return "at " + lines(stmts, ids)
	}
	others := map[uint32]bool{}
	for id := range stmts {
		if !ids[id] {
			others[id] = true
		}
	}
	// "All but line 7" must not hide a statement of line 7 where the
	// variable prints ? too.
	shared := false
	for id := range ids {
		for o := range others {
			if stmts[id].File == stmts[o].File && stmts[id].Line == stmts[o].Line {
				shared = true
			}
		}
	}
	if shared {
		return "at " + lines(stmts, ids)
	}
	return fmt.Sprintf("at all %d statements but %s", len(stmts), lines(stmts, others))
}

// lines names the source lines of the statements ids, each file once:
// "a.c:3,7,12 and b.h:40".
func lines(stmts map[uint32]report.Stmt, ids map[uint32]bool) string {
	byFile := map[string]map[int]bool{}
	var files []string
	var sortedIDs []uint32
	for id := range ids {
		sortedIDs = append(sortedIDs, id)
	}
	sort.Slice(sortedIDs, func(i, k int) bool { return sortedIDs[i] < sortedIDs[k] })
	for _, id := range sortedIDs {
		st, ok := stmts[id]
		if !ok {
			st = report.Stmt{File: "statement " + strconv.Itoa(int(id))}
		}
		if byFile[st.File] == nil {
			byFile[st.File] = map[int]bool{}
			files = append(files, st.File)
		}
		byFile[st.File][st.Line] = true
	}
	var out []string
	for _, f := range files {
		var ns []int
		for n := range byFile[f] {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		var s []string
		for _, n := range ns {
			s = append(s, strconv.Itoa(n))
		}
		out = append(out, f+":"+strings.Join(s, ","))
	}
	return strings.Join(out, " and ")
}

// plural prints n with the singular or plural phrase.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
