package backtrace

import (
	"debug/dwarf"
	"sort"

	"github.com/whythefail/whythefail/debuginfo"

	"github.com/whythefail/whythefail/target"
)

// symbolize names link-time address pc of f: the functions inlined there,
// innermost first, then the function whose code it is, with the source
// line each was at. Without DWARF for pc, the ELF symbol that covers it;
// with neither, one frame with no name.
func symbolize(f *target.File, pc uint64) (frames []Frame) {
	defer func() {
		// debug/dwarf panics on some malformed input: name by symbol.
		if recover() != nil {
			frames = []Frame{{Function: symbolAt(f, pc)}}
		}
	}()
	if d := f.DWARF(); d != nil {
		if fr := dwarfFrames(f, d, pc); len(fr) > 0 {
			if fr[len(fr)-1].Function == "" {
				fr[len(fr)-1].Function = symbolAt(f, pc)
			}
			return fr
		}
	}
	return []Frame{{Function: symbolAt(f, pc)}}
}

// symbolAt is the name of the function symbol that covers pc, or "".
func symbolAt(f *target.File, pc uint64) string {
	syms := f.Symbols()
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Value > pc })
	for j := i - 1; j >= 0 && j >= i-8; j-- {
		s := syms[j]
		if pc >= s.Value && (pc < s.Value+s.Size || s.Size == 0 && j == i-1) {
			return s.Name
		}
	}
	return ""
}

// dwarfFrames is symbolize from the DWARF: nil when no unit covers pc.
func dwarfFrames(f *target.File, d *dwarf.Data, pc uint64) []Frame {
	r := d.Reader()
	cu, err := r.SeekPC(pc)
	if err != nil || cu == nil {
		return nil
	}
	lr, err := d.LineReader(cu)
	if err != nil || lr == nil {
		return nil
	}
	names := fileNames(f, cu)
	files := lr.Files()
	name := func(i int) string {
		if i >= 0 && i < len(names) && names[i] != "" {
			return names[i]
		}
		if i >= 0 && i < len(files) && files[i] != nil {
			return files[i].Name
		}
		return ""
	}
	fileName := func(e *dwarf.Entry) string {
		i, ok := e.Val(dwarf.AttrCallFile).(int64)
		if !ok {
			return ""
		}
		return name(int(i))
	}
	// chain is the subprogram holding pc, then each inlined subroutine
	// holding it inside the previous one.
	var chain []*dwarf.Entry
	if cu.Children {
		depth := 0 // of the next entry, relative to cu's children
		want := 0  // depth at which the next chain element is searched
		for {
			e, err := r.Next()
			if err != nil || e == nil {
				break
			}
			if e.Tag == 0 {
				depth--
				if depth < want {
					break // left the element that held pc
				}
				continue
			}
			here := depth
			if e.Children {
				depth++
			}
			if here != want {
				if e.Children {
					r.SkipChildren()
					depth--
				}
				continue
			}
			switch e.Tag {
			case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
			default:
				if e.Children {
					r.SkipChildren()
					depth--
				}
				continue
			}
			if e.Tag == dwarf.TagInlinedSubroutine && len(chain) == 0 {
				if e.Children {
					r.SkipChildren()
					depth--
				}
				continue
			}
			if !contains(d, e, pc) {
				if e.Children {
					r.SkipChildren()
					depth--
				}
				continue
			}
			if e.Tag != dwarf.TagLexDwarfBlock {
				chain = append(chain, e)
			}
			if !e.Children {
				break
			}
			want = depth
		}
	}
	fi, line := lineAt(lr, pc)
	file := ""
	for i, lf := range files {
		if lf != nil && lf == fi {
			file = name(i)
		}
	}
	if len(chain) == 0 {
		return []Frame{{File: file, Line: line}}
	}
	frames := make([]Frame, 0, len(chain))
	for i := len(chain) - 1; i >= 0; i-- {
		e := chain[i]
		frames = append(frames, Frame{Function: entryName(d, e), File: file, Line: line, Inlined: e.Tag == dwarf.TagInlinedSubroutine})
		if e.Tag == dwarf.TagInlinedSubroutine {
			file = fileName(e)
			line = 0
			if l, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
				line = int(l)
			}
		}
	}
	return frames
}

// contains reports whether entry e's code ranges hold pc.
func contains(d *dwarf.Data, e *dwarf.Entry, pc uint64) bool {
	rs, err := d.Ranges(e)
	if err != nil {
		return false
	}
	for _, r := range rs {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

// entryName is a function entry's name, following abstract origins and
// specifications (a few hops at most).
func entryName(d *dwarf.Data, e *dwarf.Entry) string {
	for range 4 {
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			return n
		}
		off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			off, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		if !ok {
			return ""
		}
		r := d.Reader()
		r.Seek(off)
		next, err := r.Next()
		if err != nil || next == nil {
			return ""
		}
		e = next
	}
	return ""
}

// lineAt is the line-table row that covers pc. LineReader.SeekPC is not
// used: it assumes the sequences are sorted by address, and gcc puts main
// (in .text.startup) after the functions of .text.
func lineAt(lr *dwarf.LineReader, pc uint64) (file *dwarf.LineFile, line int) {
	var prev, row dwarf.LineEntry
	have := false
	for lr.Next(&row) == nil {
		if have && !prev.EndSequence && prev.Address <= pc && pc < row.Address {
			return prev.File, prev.Line
		}
		prev, have = row, true
	}
	return nil, 0
}

// fileNames is the unit's file table named as package debuginfo names
// the traced lines, so a frame's file reads like the trace's; nil when it
// cannot be read (Go's names are used then).
func fileNames(f *target.File, cu *dwarf.Entry) []string {
	off, ok := cu.Val(dwarf.AttrStmtList).(int64)
	sec := f.DWARFSections()
	if !ok || sec == nil {
		return nil
	}
	compDir, _ := cu.Val(dwarf.AttrCompDir).(string)
	names, err := debuginfo.FileTable(sec, off, compDir)
	if err != nil {
		return nil
	}
	return names
}

// Symbolize names link-time address pc of f as a backtrace does: the
// functions inlined there, innermost first (Inlined set), then the
// function whose code it is, each with the file and line it was at (an
// inlined function's caller at the call's line). Without DWARF for pc,
// one frame named by the ELF symbol covering it, or with no name. PC and
// Binary are left unset.
func Symbolize(f *target.File, pc uint64) []Frame { return symbolize(f, pc) }
