package probe

import (
	"fmt"
	"sort"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/probe/spec"
)

// statementFuncs returns the function instances a .statement spec walks:
// out-of-line instances first, then inlined ones, each in .debug_info
// order, as SystemTap creates them.
func (r *Resolver) statementFuncs(s *spec.Spec) []*debuginfo.Function {
	var outOfLine, inlined []*debuginfo.Function
	for _, fn := range r.candidates(s) {
		if fn.Inlined {
			inlined = append(inlined, fn)
		} else {
			outOfLine = append(outOfLine, fn)
		}
	}
	return append(outOfLine, inlined...)
}

// statementPoints resolves a .statement spec. Lines are found per source
// file (the functions' declaration files, in sorted order), and within a
// file per function instance; an address already taken by an earlier
// (line, address) pair is not probed again.
func (r *Resolver) statementPoints(prefix string, s *spec.Spec) ([]*Point, error) {
	fns := r.statementFuncs(s)
	byFile := make(map[string][]*debuginfo.Function)
	var files []string
	for _, fn := range fns {
		walked := []string{fn.DeclFile}
		if fn.DeclFileUnknown && s.File != "" {
			// Observed with stap 4.8: a function of unknown file is
			// walked under each matching file for explicit lines, and
			// (mostly) not at all for "*".
			walked = nil
			if s.Lines.Kind != spec.AnyLine {
				walked = matchedFiles(s.File, fn)
			}
		}
		for _, f := range walked {
			if _, ok := byFile[f]; !ok {
				files = append(files, f)
			}
			byFile[f] = append(byFile[f], fn)
		}
	}
	sort.Strings(files)
	var pts []*Point
	var missing []int
	for _, file := range files {
		used := make(map[uint64]bool)
		for _, fn := range byFile[file] {
			sc, err := r.Data.Scope(fn)
			if err != nil {
				return nil, err
			}
			if s.Lines.Kind != spec.AnyLine {
				// Explicit lines: observed with stap 4.8, an inlined
				// instance gets its rows even where its caller's
				// rows are at the same address.
				used = make(map[uint64]bool)
			}
			las, miss := r.lineAddrs(fn, file, s.Lines)
			missing = append(missing, miss...)
			for _, la := range las {
				if used[la.addr] {
					continue
				}
				used[la.addr] = true
				p := &Point{
					Kind: spec.Statement, Target: prefix, Func: fn, Name: fn.Name,
					File: fn.DeclFile, Line: la.line, Addr: la.addr, Scope: sc,
				}
				if s.Lines.Kind == spec.NoLine {
					p.Line = fn.DeclLine
				}
				for _, v := range sc.VarsAt(la.addr) {
					if listed(v, la.addr) {
						p.Vars = append(p.Vars, v)
					}
				}
				if err := r.place(p); err != nil {
					return nil, err
				}
				pts = append(pts, p)
			}
		}
	}
	if len(pts) == 0 && len(fns) > 0 && s.Lines.Kind == spec.OneLine {
		return nil, r.noLineRecords(fns, s.Lines.From)
	}
	return pts, nil
}

type lineAddr struct {
	line int
	addr uint64
}

// fileRows returns every row of fn's unit whose file is file (normally
// fn's declaration file; is_stmt is not looked at, as SystemTap does not), sorted by line
// then address.
func fileRows(fn *debuginfo.Function, file string) []debuginfo.LineRow {
	rows, _ := fn.CU.Lines()
	files := fn.CU.Files()
	var out []debuginfo.LineRow
	for _, rw := range rows {
		if rw.File >= 0 && rw.File < len(files) && files[rw.File] == file {
			out = append(out, rw)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Addr < out[j].Addr
	})
	return out
}

// lineAddrs lists the (line, lowest address) pairs of one function instance.
//
// With LINE "*", the walk starts at the line of the row at the entry pc
// and goes up through the line numbers of the file, taking for each the
// lowest address inside the instance, and stops at the first line that has
// rows but none inside it (normally the next function). With a line or a
// range, each line is looked up on its own. The statement("f") form probes
// the entry pc.
func (r *Resolver) lineAddrs(fn *debuginfo.Function, file string, lines spec.Lines) (out []lineAddr, missing []int) {
	if lines.Kind == spec.NoLine {
		return []lineAddr{{fn.DeclLine, fn.Entry}}, nil
	}
	rows := fileRows(fn, file)
	lowest := func(i int) (next int, addr uint64, found bool) {
		line := rows[i].Line
		for ; i < len(rows) && rows[i].Line == line; i++ {
			if fn.Contains(rows[i].Addr) && (!found || rows[i].Addr < addr) {
				addr, found = rows[i].Addr, true
			}
		}
		return i, addr, found
	}
	if lines.Kind != spec.AnyLine {
		for l := lines.From; l <= lines.To; l++ {
			i := sort.Search(len(rows), func(i int) bool { return rows[i].Line >= l })
			if i < len(rows) && rows[i].Line == l {
				if _, a, ok := lowest(i); ok {
					out = append(out, lineAddr{l, a})
					continue
				}
			}
			missing = append(missing, l)
		}
		return out, missing
	}
	start := -1
	if row, ok := fn.CU.RowAt(fn.Entry); ok && row.Addr == fn.Entry {
		start = row.Line
	} else {
		var best uint64
		for _, rw := range rows {
			if fn.Contains(rw.Addr) && (start < 0 || rw.Addr < best) {
				start, best = rw.Line, rw.Addr
			}
		}
	}
	if start < 0 {
		return nil, nil
	}
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Line >= start })
	if i < len(rows) && rows[i].Line != start {
		return nil, nil
	}
	for i < len(rows) {
		line := rows[i].Line
		next, addr, found := lowest(i)
		if !found {
			break
		}
		out = append(out, lineAddr{line, addr})
		i = next
	}
	return out, nil
}

// noLineRecords explains that a line has no code, naming the nearest lines
// that have some, as stap does.
func (r *Resolver) noLineRecords(fns []*debuginfo.Function, line int) error {
	fn := fns[0]
	rows := fileRows(fn, fn.DeclFile)
	has := func(l int) bool {
		i := sort.Search(len(rows), func(i int) bool { return rows[i].Line >= l })
		return i < len(rows) && rows[i].Line == l
	}
	var try []string
	for d := 1; d <= 5; d++ {
		if has(line - d) {
			try = append(try, fmt.Sprintf(":%d", line-d))
			break
		}
	}
	for d := 1; d <= 5; d++ {
		if has(line + d) {
			try = append(try, fmt.Sprintf(":%d", line+d))
			break
		}
	}
	msg := fmt.Sprintf("no line records for %s:%d", fn.DeclFile, line)
	if len(try) > 0 {
		msg += " (try " + try[0]
		if len(try) > 1 {
			msg += " or " + try[1]
		}
		msg += ")"
	}
	return &NoMatchError{Msg: msg}
}
