package probe

import (
	"fmt"
	"sort"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/probe/spec"
)

// statementFuncs returns the function instances a spec selects:
// out-of-line instances first, then inlined ones, each in the order
// SystemTap meets them (candidates), and candidates' entries.
func (r *Resolver) statementFuncs(s *spec.Spec) ([]*debuginfo.Function, map[uint64]bool, error) {
	fns, entries, err := r.candidates(s)
	if err != nil {
		return nil, nil, err
	}
	var outOfLine, inlined []*debuginfo.Function
	for _, fn := range fns {
		if fn.Inlined {
			inlined = append(inlined, fn)
		} else {
			outOfLine = append(outOfLine, fn)
		}
	}
	return append(outOfLine, inlined...), entries, nil
}

// unitFuncs groups the selected instances by compilation unit, units in
// .debug_info order, keeping statementFuncs' order inside each unit
// (SystemTap resolves statements one unit at a time).
func unitFuncs(fns []*debuginfo.Function) (cus []*debuginfo.CompUnit, by map[*debuginfo.CompUnit][]*debuginfo.Function) {
	by = make(map[*debuginfo.CompUnit][]*debuginfo.Function)
	for _, fn := range fns {
		if _, ok := by[fn.CU]; !ok {
			cus = append(cus, fn.CU)
		}
		by[fn.CU] = append(by[fn.CU], fn)
	}
	sort.SliceStable(cus, func(i, j int) bool { return cus[i].Offset < cus[j].Offset })
	return cus, by
}

// unitFiles returns the names of the unit's file table that the file
// pattern selects, sorted and without duplicates.
func unitFiles(cu *debuginfo.CompUnit, pattern string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, f := range cu.Files() {
		if f != "" && !seen[f] && spec.MatchFile(pattern, f) {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// statementPoints resolves a .statement spec.
//
// statement("f") and statement("f@FILE") probe each instance's entry.
// With lines, SystemTap 4.8 works per unit and, inside it, per matched
// source file (sorted): the instances declared in that file collect
// (line, address) pairs (lineAddrs); an address already collected earlier
// for that file is dropped; and each remaining pair becomes a probe of
// every selected instance of the unit whose ranges contain the address,
// whatever its declaration file. So a caller gets rows at the lines of a
// same-file callee inlined into it (also below its own first line), and
// an inlined instance whose file is unknown gets rows where its caller's
// lines fall inside it.
func (r *Resolver) statementPoints(prefix string, s *spec.Spec) ([]*Point, error) {
	fns, _, err := r.statementFuncs(s)
	if err != nil {
		return nil, err
	}
	if s.Lines.Kind == spec.NoLine {
		return r.entryStatements(prefix, fns)
	}
	cus, byCU := unitFuncs(fns)
	scopes := make(map[*debuginfo.Function]*debuginfo.Scope)
	var pts []*Point
	for _, cu := range cus {
		bfis := byCU[cu]
		for _, file := range unitFiles(cu, s.File) {
			var walked []*debuginfo.Function
			for _, fn := range bfis {
				if fn.DeclFile == file && !fn.DeclFileUnknown {
					walked = append(walked, fn)
				}
			}
			if len(walked) == 0 {
				continue
			}
			rows := fileRows(cu, file)
			var las []lineAddr
			if s.Lines.Kind == spec.AnyLine {
				for _, fn := range walked {
					las = append(las, wildcardLines(fn, rows)...)
				}
			} else {
				for l := s.Lines.From; l <= s.Lines.To; l++ {
					for _, fn := range walked {
						if a, ok := lowestIn(fn, rows, l); ok {
							las = append(las, lineAddr{l, a})
						}
					}
				}
			}
			used := make(map[uint64]bool)
			for _, la := range las {
				if used[la.addr] {
					continue
				}
				used[la.addr] = true
				for _, fn := range bfis {
					if !fn.Contains(la.addr) {
						continue
					}
					sc, ok := scopes[fn]
					if !ok {
						var err error
						if sc, err = r.Data.Scope(fn); err != nil {
							return nil, err
						}
						scopes[fn] = sc
					}
					p, err := r.statementPoint(prefix, fn, sc, la.line, la.addr)
					if err != nil {
						return nil, err
					}
					pts = append(pts, p)
				}
			}
		}
	}
	if len(pts) == 0 && len(fns) > 0 && s.Lines.Kind == spec.OneLine {
		return nil, r.noLineRecords(fns, s.Lines.From)
	}
	return pts, nil
}

// entryStatements probes each instance's entry pc, named with its
// declaration line; an address is probed once.
func (r *Resolver) entryStatements(prefix string, fns []*debuginfo.Function) ([]*Point, error) {
	var pts []*Point
	used := make(map[string]map[uint64]bool)
	for _, fn := range fns {
		if used[fn.DeclFile] == nil {
			used[fn.DeclFile] = make(map[uint64]bool)
		}
		if used[fn.DeclFile][fn.Entry] {
			continue
		}
		used[fn.DeclFile][fn.Entry] = true
		sc, err := r.Data.Scope(fn)
		if err != nil {
			return nil, err
		}
		p, err := r.statementPoint(prefix, fn, sc, declLine(fn), fn.Entry)
		if err != nil {
			return nil, err
		}
		pts = append(pts, p)
	}
	return pts, nil
}

// statementPoint builds the point of instance fn at addr, listed as line.
func (r *Resolver) statementPoint(prefix string, fn *debuginfo.Function, sc *debuginfo.Scope, line int, addr uint64) (*Point, error) {
	p := &Point{
		Kind: spec.Statement, Target: prefix, Func: fn, Name: fn.Name,
		File: fn.DeclFile, Line: line, Addr: addr, Scope: sc,
	}
	for _, v := range sc.VarsAt(addr) {
		if r.listed(v, addr, fn) {
			p.Vars = append(p.Vars, v)
		}
	}
	if err := r.place(p); err != nil {
		return nil, err
	}
	return p, nil
}

type lineAddr struct {
	line int
	addr uint64
}

// fileRows returns every row of the unit whose file is file (is_stmt is
// not looked at, and end-of-sequence rows count, as in SystemTap), sorted
// by line then address.
func fileRows(cu *debuginfo.CompUnit, file string) []debuginfo.LineRow {
	rows, _ := cu.Lines()
	files := cu.Files()
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

// lowestIn returns the lowest address inside fn among the rows (sorted as
// fileRows sorts them) of line l.
func lowestIn(fn *debuginfo.Function, rows []debuginfo.LineRow, l int) (uint64, bool) {
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Line >= l })
	for ; i < len(rows) && rows[i].Line == l; i++ {
		if fn.Contains(rows[i].Addr) {
			return rows[i].Addr, true
		}
	}
	return 0, false
}

// wildcardLines lists the (line, lowest address) pairs of one instance for
// LINE "*": starting at the line of its first row (firstLine), it goes up
// through the line numbers that have rows in the file, taking the lowest
// address inside the instance, and stops at the first line that has rows
// but none inside it (normally the next function).
func wildcardLines(fn *debuginfo.Function, rows []debuginfo.LineRow) []lineAddr {
	start, ok := firstLine(fn)
	if !ok {
		return nil
	}
	var out []lineAddr
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Line >= start })
	if i >= len(rows) || rows[i].Line != start {
		return nil
	}
	for i < len(rows) {
		line := rows[i].Line
		a, ok := lowestIn(fn, rows[i:], line)
		if !ok {
			break
		}
		out = append(out, lineAddr{line, a})
		for i < len(rows) && rows[i].Line == line {
			i++
		}
	}
	return out
}

// firstLine returns the line number SystemTap starts an instance's walk
// at: that of the row libdw's dwarf_getsrc_die gives for the entry pc when
// that row is at the entry itself, else that of the first row, in libdw's
// address order, inside the instance. Either row may belong to any file
// of the unit: only its number is used.
func firstLine(fn *debuginfo.Function) (int, bool) {
	if row, ok := fn.CU.RowAt(fn.Entry); ok && row.Addr == fn.Entry {
		return row.Line, true
	}
	rows, _ := fn.CU.Lines()
	var best debuginfo.LineRow
	found := false
	for _, rw := range rows {
		if !fn.Contains(rw.Addr) {
			continue
		}
		// libdw sorts by address, end-of-sequence rows first, otherwise
		// stably: the first such row in program order wins a tie.
		if !found || rw.Addr < best.Addr || (rw.Addr == best.Addr && rw.EndSeq && !best.EndSeq) {
			best, found = rw, true
		}
	}
	return best.Line, found
}

// noLineRecords explains that a line has no code, naming the nearest lines
// that have some, as stap does.
func (r *Resolver) noLineRecords(fns []*debuginfo.Function, line int) error {
	fn := fns[0]
	rows := fileRows(fn.CU, fn.DeclFile)
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
