package debuginfo

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// Data is the index of one target's DWARF.
type Data struct {
	// DWARF reads the file's DIEs; in a Partial index, those of the
	// indexed units only.
	DWARF *dwarf.Data
	CUs   []*CompUnit
	// Funcs holds every function with code: out-of-line instances and
	// inlined instances, in .debug_info order.
	Funcs []*Function

	// Partial is set when only some units were indexed (LoadUnits):
	// CUs and Funcs then hold theirs only.
	Partial bool

	sec       *dwarfsec.Sections
	debugAddr *godwarf.DebugAddrSection
	units     []dwarf.Offset // LoadUnits's
	partialDW *dwarf.Data    // LoadUnits's, which reads those units only
	// A partial index answers the lookups that search every unit
	// (TypeByName, Globals) from the whole file's index, built on first
	// use from sec.
	wholeOnce sync.Once
	wholeData *Data

	mu sync.Mutex
	// origins holds the naming attributes of subprogram DIEs by offset,
	// one map per part of .debug_info indexed in parallel; the first also
	// takes DIEs read later (readDecl).
	origins []map[dwarf.Offset]*declInfo
	types   map[dwarf.Offset]*dwarf.Entry

	typeIndex
}

// CompUnit is one compilation unit.
type CompUnit struct {
	Name     string
	CompDir  string
	Version  int
	Offset   dwarf.Offset
	LowPC    uint64 // base address for location and range lists
	Language int64

	// HasLocLists is set when some variable of the unit has a location
	// list: SystemTap then takes the unit for optimised code and puts
	// function probes at the entry instead of after the prologue.
	HasLocLists bool

	addrSize     int // from the unit header; 0 when not known
	addrBase     uint64
	loclistsBase uint64
	entry        *dwarf.Entry
	d            *Data

	sortOnce  sync.Once
	sorted    []LineRow
	filesOnce sync.Once
	files     []string
	filesErr  error
	linesOnce sync.Once
	rows      []LineRow
	linesErr  error
}

// Function is a function instance with code: either an out-of-line
// subprogram or one inlined instance of a subprogram.
type Function struct {
	Name        string // DW_AT_name (of the abstract origin or specification, if any)
	LinkageName string
	DeclFile    string
	DeclLine    int
	Ranges      [][2]uint64 // sorted, half-open, link-time addresses
	Entry       uint64      // DW_AT_entry_pc, else the low pc
	Inlined     bool        // an inlined instance
	CallFile    string      // for inlined instances, where the call is
	CallLine    int
	External    bool
	// DeclFileUnknown is set when libdw would find no declaration file
	// (DW_AT_decl_file 0 and, for inlined instances, no line row to fall
	// back on): DeclFile is then "<unknown source>", and SystemTap takes
	// the function to be in every file of its unit.
	DeclFileUnknown bool
	CU              *CompUnit
	Offset          dwarf.Offset // this instance's DIE
	FrameBase       []byte       // DW_AT_frame_base (out-of-line instances only)
	// Parent is the out-of-line function an inlined instance sits in.
	Parent *Function

	origin  dwarf.Offset
	retType dwarf.Offset
	hasRet  bool
}

// ReturnType returns the function's return type; nil for void.
func (d *Data) ReturnType(fn *Function) dwarf.Type {
	if !fn.hasRet {
		return nil
	}
	t, err := d.typeAt(fn.retType)
	if err != nil {
		return nil
	}
	return t
}

// Low is the lowest address of the function.
func (f *Function) Low() uint64 {
	if len(f.Ranges) == 0 {
		return 0
	}
	return f.Ranges[0][0]
}

// Contains reports whether pc is in one of the function's ranges.
func (f *Function) Contains(pc uint64) bool {
	return inRanges(f.Ranges, pc)
}

func inRanges(rs [][2]uint64, pc uint64) bool {
	for _, r := range rs {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

type declInfo struct {
	name, linkage string
	declFile      int64
	declLine      int
	external      bool
	cu            *CompUnit
	retType       dwarf.Offset
	hasRet        bool
	origin        dwarf.Offset // further abstract_origin/specification
}

// ErrNoDWARF says a file carries no DWARF.
var ErrNoDWARF = dwarfsec.ErrNoDWARF

// Load indexes the DWARF that sec holds: the sections of the file that
// carries it (a binary or its separate debug file), as target.Open read
// them (target.File.DWARFSections). Malformed DWARF is reported as an
// error, never a panic.
func Load(sec *dwarfsec.Sections) (d *Data, err error) {
	return load(sec, nil)
}

// LoadUnits is Load restricted to the compilation units that contain the
// given offsets of .debug_info: CUs and Funcs hold theirs only, Partial is
// set, and DWARF reads those units only (dwarfsec's DataFor); the lookups
// that search every unit (TypeByName, Globals) answer from the whole
// file's index, built when first needed. It fails, with an error matching
// dwarfsec.ErrCrossUnit, when one of those units may refer to DIEs of
// others; the caller then loads the whole file.
func LoadUnits(sec *dwarfsec.Sections, units []dwarf.Offset) (*Data, error) {
	if len(units) == 0 {
		return nil, fmt.Errorf("no units to load")
	}
	return load(sec, units)
}

func load(sec *dwarfsec.Sections, units []dwarf.Offset) (d *Data, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("reading DWARF: malformed debug info (%v)", r)
		}
	}()
	if sec == nil {
		return nil, fmt.Errorf("reading DWARF: %w", ErrNoDWARF)
	}
	// The dwarf.Data may still be being built (dwarfsec.Sections.Data):
	// the index starts from the outline and raw sections, and waits
	// for it only where it needs it (d.dw), or at the end.
	d = &Data{sec: sec, types: make(map[dwarf.Offset]*dwarf.Entry), units: units, Partial: units != nil}
	if units != nil && sec.ViaDebugElf {
		return nil, fmt.Errorf("DWARF read through debug/elf is indexed whole: %w", dwarfsec.ErrCrossUnit)
	}
	if sec.Addr != nil {
		d.debugAddr = godwarf.ParseAddr(sec.Addr)
	}
	if units != nil {
		if d.partialDW, err = sec.DataFor(units); err != nil {
			return nil, err
		}
	}
	if err := d.index(); err != nil {
		return nil, err
	}
	if d.DWARF, err = d.data(); err != nil {
		return nil, err
	}
	// What only indexing needs goes, before the functions' points are
	// made: the names of every subprogram DIE by offset (a vmlinux has
	// over a million) and, after a whole index, the outline and parsed
	// abbreviations (built again if another index asks).
	d.origins = nil
	if units == nil {
		sec.ReleaseOutline()
	}
	return d, nil
}

// whole returns the index of the whole file for a partial index, built
// on first use; nil when that fails (the file loaded before, so only
// when memory runs out), and then lookups find nothing.
func (d *Data) whole() *Data {
	d.wholeOnce.Do(func() { d.wholeData, _ = Load(d.sec) })
	return d.wholeData
}

// data returns the dwarf.Data, waiting for it while Load indexes.
func (d *Data) data() (*dwarf.Data, error) {
	if d.DWARF != nil {
		return d.DWARF, nil
	}
	if d.partialDW != nil {
		return d.partialDW, nil
	}
	return d.sec.Data()
}

// dw is data without the error: nil when the dwarf.Data could not be
// built (Load then fails).
func (d *Data) dw() *dwarf.Data {
	dw, _ := d.data()
	return dw
}

// index records compilation units, every function instance with code, and
// the names of every subprogram DIE so that abstract origins resolve
// without re-reading. The walk over .debug_info is scanDIEs's; indexReader
// is the same walk with debug/dwarf's Reader, kept as the reference the
// scanner is checked against.
func (d *Data) index() error {
	return d.scanDIEs()
}

// funcFrame is an enclosing function of the walk: depth is that of its
// children.
type funcFrame struct {
	fn    *Function
	depth int
}

// indexReader walks .debug_info with debug/dwarf's Reader, which decodes
// every attribute of every DIE: the reference for scanDIEs.
func (d *Data) indexReader() error {
	dw, err := d.data()
	if err != nil {
		return err
	}
	r := dw.Reader()
	p := newIndexPart()
	var cu *CompUnit
	var stack []funcFrame
	depth := 0
	for {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("reading .debug_info: %w", err)
		}
		if e == nil {
			break
		}
		if e.Children && skipSubtree(e.Tag) {
			// Types hold no code; member function declarations that
			// specifications point to are read on demand (readDecl).
			r.SkipChildren()
			continue
		}
		if e.Tag == 0 {
			depth--
			stack = popFrames(stack, depth)
			continue
		}
		switch e.Tag {
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			if cu != nil && !cu.HasLocLists {
				// Only a section offset counts: SystemTap does not take a
				// DWARF 5 DW_FORM_loclistx (clang's form) for a location
				// list here, so clang -O2 functions get prologue skipping.
				if f := e.AttrField(dwarf.AttrLocation); f != nil && f.Class == dwarf.ClassLocListPtr {
					cu.HasLocLists = true
				}
			}
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			depth = 0
			stack = stack[:0]
			cu = d.newCU(e)
			p.cus = append(p.cus, cu)
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			stack = d.addFunc(p, e, cu, depth, stack)
		}
		if e.Children {
			depth++
		}
	}
	d.merge([]*indexPart{p})
	d.resolveNames()
	return nil
}

// indexPart is what indexing one run of units finds.
type indexPart struct {
	cus     []*CompUnit
	funcs   []*Function
	origins map[dwarf.Offset]*declInfo
}

func newIndexPart() *indexPart {
	return &indexPart{origins: make(map[dwarf.Offset]*declInfo)}
}

// merge adds parts, in .debug_info order, to the index.
func (d *Data) merge(parts []*indexPart) {
	for _, p := range parts {
		d.CUs = append(d.CUs, p.cus...)
		d.Funcs = append(d.Funcs, p.funcs...)
		d.origins = append(d.origins, p.origins)
	}
	if len(d.origins) == 0 {
		d.origins = append(d.origins, make(map[dwarf.Offset]*declInfo))
	}
}

// originAt returns the naming attributes recorded for the DIE at off.
func (d *Data) originAt(off dwarf.Offset) *declInfo {
	for _, m := range d.origins {
		if info := m[off]; info != nil {
			return info
		}
	}
	return nil
}

// popFrames drops the frames that end when the walk climbs to depth: a
// frame's depth is that of its function's children, so it ends when the
// walk climbs above them, not when a nested DIE's children end.
func popFrames(stack []funcFrame, depth int) []funcFrame {
	for len(stack) > 0 && stack[len(stack)-1].depth > depth {
		stack = stack[:len(stack)-1]
	}
	return stack
}

// addFunc records the naming attributes of a subprogram or inlined
// subroutine DIE and, when it has code, the function instance; it returns
// the stack of enclosing functions for its children.
func (d *Data) addFunc(p *indexPart, e *dwarf.Entry, cu *CompUnit, depth int, stack []funcFrame) []funcFrame {
	info := declOf(e, cu)
	p.origins[e.Offset] = info
	ranges, ok := d.quickRanges(e, cu)
	var err error
	if !ok {
		var dw *dwarf.Data
		if dw, err = d.data(); err == nil {
			ranges, err = dw.Ranges(e)
		}
	}
	if err != nil || len(ranges) == 0 || cu == nil {
		return stack
	}
	// Without entry_pc or low_pc, the entry is the first range as listed,
	// not the lowest: gcc lists a function's hot part before its .cold
	// part.
	first := ranges[0][0]
	sort.Slice(ranges, func(i, j int) bool { return ranges[i][0] < ranges[j][0] })
	fn := &Function{
		Ranges:  ranges,
		Entry:   first,
		Inlined: e.Tag == dwarf.TagInlinedSubroutine,
		CU:      cu,
		Offset:  e.Offset,
		origin:  info.origin,
	}
	if v, ok := e.Val(dwarf.AttrEntrypc).(uint64); ok {
		fn.Entry = v
	} else if v, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
		fn.Entry = v
	}
	if fb, ok := e.Val(dwarf.AttrFrameBase).([]byte); ok {
		fn.FrameBase = fb
	}
	if fn.Inlined {
		if v, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
			fn.CallLine = int(v)
		}
		if v, ok := e.Val(dwarf.AttrCallFile).(int64); ok {
			fn.CallFile = cu.File(int(v))
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if !stack[i].fn.Inlined {
				fn.Parent = stack[i].fn
				break
			}
		}
	}
	p.funcs = append(p.funcs, fn)
	if e.Children {
		stack = append(stack, funcFrame{fn, depth + 1})
	}
	return stack
}

// resolveNames completes functions' names, declarations and return types
// through abstract origins and specifications.
func (d *Data) resolveNames() {
	for _, fn := range d.Funcs {
		d.resolveFunc(fn)
	}
}

// resolveFunc completes one function, looking its origins up in every
// part and reading those the index did not see.
func (d *Data) resolveFunc(fn *Function) {
	resolveChain(fn, d.originAt(fn.Offset), func(off dwarf.Offset) *declInfo {
		if next := d.originAt(off); next != nil {
			return next
		}
		return d.readDecl(off)
	})
	declFileFallback(fn)
}

// resolveChain completes fn's name, declaration and return type from info
// and the origins and specifications it leads to (at most 8), found with
// next (nil: not found). It reports false when a hop was not found.
// Resolving again from the start gives the same result: it only fills
// what is unset.
func resolveChain(fn *Function, info *declInfo, next func(dwarf.Offset) *declInfo) bool {
	for hops := 0; info != nil && hops < 8; hops++ {
		if fn.Name == "" {
			fn.Name = info.name
		}
		if fn.LinkageName == "" {
			fn.LinkageName = info.linkage
		}
		if fn.DeclLine == 0 && info.declLine != 0 {
			fn.DeclLine = info.declLine
			if info.declFile > 0 {
				fn.DeclFile = info.cu.File(int(info.declFile))
			}
		}
		fn.External = fn.External || info.external
		if !fn.hasRet && info.hasRet {
			fn.retType, fn.hasRet = info.retType, true
		}
		if info.origin == 0 {
			return true
		}
		if info = next(info.origin); info == nil {
			return false
		}
	}
	return true
}

// skipSubtree reports whether the children of a DIE with this tag can be
// skipped by the index: they never contain functions with code.
func skipSubtree(tag dwarf.Tag) bool {
	switch tag {
	case dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType,
		dwarf.TagEnumerationType, dwarf.TagSubroutineType, dwarf.TagArrayType:
		return true
	}
	return false
}

// declFileFallback gives functions whose DW_AT_decl_file is 0 (clang's
// DWARF 5 names the primary file so, and libdw 0.188 takes 0 for "none")
// the file SystemTap shows: that of the line row at the out-of-line
// instance's entry, or "<unknown source>" for an inlined instance.
func declFileFallback(fn *Function) {
	if fn.DeclFile != "" {
		return
	}
	if !fn.Inlined {
		if row, ok := fn.CU.RowAt(fn.Entry); ok {
			fn.DeclFile = fn.CU.File(row.File)
		}
	}
	if fn.DeclFile == "" {
		fn.DeclFile = "<unknown source>"
		fn.DeclFileUnknown = true
	}
}

// declOf reads the naming attributes of a subprogram-like DIE.
func declOf(e *dwarf.Entry, cu *CompUnit) *declInfo {
	info := &declInfo{cu: cu}
	for _, f := range e.Field {
		switch f.Attr {
		case dwarf.AttrName:
			info.name, _ = f.Val.(string)
		case dwarf.AttrLinkageName, dwarf.Attr(0x2007): // DW_AT_MIPS_linkage_name
			info.linkage, _ = f.Val.(string)
		case dwarf.AttrDeclFile:
			info.declFile, _ = f.Val.(int64)
		case dwarf.AttrDeclLine:
			v, _ := f.Val.(int64)
			info.declLine = int(v)
		case dwarf.AttrExternal:
			info.external, _ = f.Val.(bool)
		case dwarf.AttrType:
			info.retType, info.hasRet = f.Val.(dwarf.Offset)
		case dwarf.AttrAbstractOrigin, dwarf.AttrSpecification:
			info.origin, _ = f.Val.(dwarf.Offset)
		}
	}
	return info
}

// readDecl reads a DIE that the index did not see (for example one in
// another unit that is referenced before it is reached).
func (d *Data) readDecl(off dwarf.Offset) *declInfo {
	dw := d.dw()
	if dw == nil {
		return nil
	}
	r := dw.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil
	}
	info := declOf(e, d.cuFor(off))
	d.origins[0][off] = info
	return info
}

// cuFor returns the unit containing the DIE at off.
func (d *Data) cuFor(off dwarf.Offset) *CompUnit {
	i := sort.Search(len(d.CUs), func(i int) bool { return d.CUs[i].Offset > off })
	if i == 0 {
		return nil
	}
	return d.CUs[i-1]
}

func (d *Data) newCU(e *dwarf.Entry) *CompUnit {
	cu := &CompUnit{Offset: e.Offset, entry: e}
	cu.Name, _ = e.Val(dwarf.AttrName).(string)
	cu.CompDir, _ = e.Val(dwarf.AttrCompDir).(string)
	cu.Language, _ = e.Val(dwarf.AttrLanguage).(int64)
	if v, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
		cu.LowPC = v
	}
	if v, ok := e.Val(dwarf.AttrAddrBase).(int64); ok {
		cu.addrBase = uint64(v)
	}
	if v, ok := e.Val(dwarf.AttrLoclistsBase).(int64); ok {
		cu.loclistsBase = uint64(v)
	}
	cu.d = d
	cu.Version = unitVersion(d.sec, int(e.Offset))
	return cu
}

// File returns the name of file i of the unit's line table, spelled as
// SystemTap spells it, or "" when there is none.
func (cu *CompUnit) File(i int) string {
	cu.loadFiles()
	if i < 0 || i >= len(cu.files) {
		return ""
	}
	return cu.files[i]
}

// Files returns the unit's file table.
func (cu *CompUnit) Files() []string {
	cu.loadFiles()
	return cu.files
}

// Lines returns the unit's line-table rows in program order.
func (cu *CompUnit) Lines() ([]LineRow, error) {
	cu.loadLines()
	return cu.rows, cu.linesErr
}

// loadFiles reads only the line-program header's file table: naming
// functions needs it for every unit, the rows only for units listed.
func (cu *CompUnit) loadFiles() {
	cu.filesOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				cu.filesErr = fmt.Errorf("reading line table of %s: malformed (%v)", cu.Name, r)
			}
		}()
		off, ok := cu.entry.Val(dwarf.AttrStmtList).(int64)
		if !ok {
			return
		}
		cu.files, cu.filesErr = fileTable(cu.d.sec, off, cu.CompDir)
	})
}

func (cu *CompUnit) loadLines() {
	cu.linesOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				cu.linesErr = fmt.Errorf("reading line table of %s: malformed (%v)", cu.Name, r)
			}
		}()
		cu.loadFiles()
		if cu.filesErr != nil {
			cu.linesErr = cu.filesErr
			return
		}
		if _, ok := cu.entry.Val(dwarf.AttrStmtList).(int64); !ok {
			return
		}
		dw, err := cu.d.data()
		if err != nil {
			cu.linesErr = err
			return
		}
		cu.rows, cu.linesErr = lineRows(dw, cu.entry)
	})
}

// unitVersion reads the DWARF version from the unit header that precedes
// the unit DIE at dieOff (debug/dwarf does not expose it). A version 5
// header is 12 bytes long (32-bit DWARF) and versions 2 to 4 use 11.
func unitVersion(sec *dwarfsec.Sections, dieOff int) int {
	at := func(off int) int {
		if off < 0 || off+2 > len(sec.Info) {
			return 0
		}
		return int(sec.Order.Uint16(sec.Info[off:]))
	}
	if at(dieOff-8) == 5 {
		return 5
	}
	if v := at(dieOff - 7); v >= 2 && v <= 4 {
		return v
	}
	if at(dieOff-20) == 5 { // 64-bit DWARF 5
		return 5
	}
	return at(dieOff - 19) // 64-bit DWARF 2-4
}

// RowAt returns the row libdw's dwarf_getsrc_die returns for pc: among the
// rows at the greatest address not above pc, the last one in address order.
func (cu *CompUnit) RowAt(pc uint64) (LineRow, bool) {
	rows := cu.sortedRows()
	i := sort.Search(len(rows), func(i int) bool { return rows[i].Addr > pc })
	for i > 0 {
		i--
		if !rows[i].EndSeq {
			return rows[i], true
		}
		if rows[i].Addr < pc {
			break
		}
	}
	return LineRow{}, false
}

// sortedRows returns the unit's rows stably sorted by address, end of
// sequence rows first at equal addresses, as libdw orders them.
func (cu *CompUnit) sortedRows() []LineRow {
	cu.sortOnce.Do(func() {
		rows, _ := cu.Lines()
		cu.sorted = append([]LineRow(nil), rows...)
		sort.SliceStable(cu.sorted, func(i, j int) bool {
			a, b := cu.sorted[i], cu.sorted[j]
			if a.Addr != b.Addr {
				return a.Addr < b.Addr
			}
			return a.EndSeq && !b.EndSeq
		})
	})
	return cu.sorted
}

// ReturnTypeName spells the function's return type; ok is false for void
// functions and unnameable types.
func (d *Data) ReturnTypeName(fn *Function) (string, bool) {
	if !fn.hasRet {
		return "", false
	}
	return d.TypeName(fn.retType, true)
}
