package dwarfsec

import (
	"debug/dwarf"
	"fmt"
	"sync"
)

// Abbrev is one abbreviation declaration: the shape of the DIEs that use
// its code.
type Abbrev struct {
	Tag      dwarf.Tag
	Children bool
	// Attrs holds the attributes in order; DW_FORM_implicit_const values
	// sit in ImplicitConst and take no bytes in the DIE.
	Attrs []AbbrevAttr

	// fixed is the size of a DIE's attribute values when every form has
	// a fixed size in a unit of DWARF 3 or later with 4-byte offsets and
	// 8-byte addresses (the common case), else -1; sibAt is where in
	// them a DW_AT_sibling of form ref4 is, else -1. TopLevel skips with
	// them. laidOut says they were set (a parsed table's are).
	fixed, sibAt int32
	laidOut      bool
}

// fixedSize returns the size of a value of form in a unit of DWARF 3 or
// later with 4-byte offsets and 8-byte addresses, -1 if it varies.
func fixedSize(form uint64) int32 {
	switch form {
	case formFlagPresent, formImplicitConst:
		return 0
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		return 1
	case formData2, formRef2, formStrx2, formAddrx2:
		return 2
	case formStrx3, formAddrx3:
		return 3
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4, formStrp, formSecOffset, formStrpSup,
		formLineStrp, formGNURefAlt, formGNUStrpAlt, formRefAddr:
		return 4
	case formData8, formRef8, formRefSig8, formRefSup8, formAddr:
		return 8
	case formData16:
		return 16
	}
	return -1
}

// layout sets a's fixed and sibAt.
func (a *Abbrev) layout() {
	a.fixed, a.sibAt, a.laidOut = 0, -1, true
	for _, at := range a.Attrs {
		n := fixedSize(at.Form)
		if n < 0 {
			a.fixed, a.sibAt = -1, -1
			return
		}
		if at.Attr == dwarf.AttrSibling && at.Form == formRef4 {
			a.sibAt = a.fixed
		}
		a.fixed += n
	}
}

// AbbrevAttr is one attribute specification of an abbreviation.
type AbbrevAttr struct {
	Attr          dwarf.Attr
	Form          uint64
	ImplicitConst int64
}

// AbbrevTable maps abbreviation codes to declarations.
type AbbrevTable struct {
	dense  []*Abbrev // codes are almost always 1..n; nil when sparse
	sparse map[uint64]*Abbrev
}

// Get returns the declaration for code, or nil.
func (t *AbbrevTable) Get(code uint64) *Abbrev {
	if code < uint64(len(t.dense)) {
		return t.dense[code]
	}
	return t.sparse[code]
}

// abbrevs caches the parsed tables of .debug_abbrev by offset. Read parses
// the whole section while .debug_info is still being decompressed, so that
// indexers find the tables ready.
type abbrevs struct {
	mu     sync.Mutex
	tables map[uint64]*AbbrevTable
	// same maps the offset of a table to that of the first table with
	// the same bytes, for tables that repeat one before them (a quarter
	// of glibc's): see shareAbbrevs.
	same map[uint64]uint64
	// arena allocates the tables Abbrevs parses one at a time (those
	// parseAllAbbrevs did not: all of them for sections read from the
	// cache).
	arena abbrevArena
}

// Abbrevs returns the abbreviation table at off in .debug_abbrev. Safe for
// concurrent use.
func (s *Sections) Abbrevs(off uint64) (*AbbrevTable, error) {
	s.abbrevCache.mu.Lock()
	defer s.abbrevCache.mu.Unlock()
	if t := s.abbrevCache.tables[off]; t != nil {
		return t, nil
	}
	if off >= uint64(len(s.Abbrev)) {
		return nil, fmt.Errorf("abbrev offset %#x out of range", off)
	}
	t, _, err := s.abbrevCache.arena.parse(s.Abbrev, int(off))
	if err != nil {
		return nil, err
	}
	if s.abbrevCache.tables == nil {
		s.abbrevCache.tables = make(map[uint64]*AbbrevTable)
	}
	s.abbrevCache.tables[off] = t
	return t, nil
}

// Scratch is what one goroutine reading units with TopLevel reuses
// between calls: the memory of the abbreviation tables it parses, so that
// goroutines parse side by side instead of in turn under Abbrevs's lock,
// each into the same few blocks. The zero value is ready.
type Scratch struct {
	arena abbrevArena
}

// abbrevsWith is Abbrevs, but with sc a table not yet parsed is parsed
// into sc's memory, outside the lock, and not kept: it is valid until the
// next call with sc. A scan of every unit reads each table once (a
// vmlinux's units have one each), and keeping them all was most of the
// memory it wrote and the larger part of its time.
func (s *Sections) abbrevsWith(off uint64, sc *Scratch) (*AbbrevTable, error) {
	if sc == nil {
		return s.Abbrevs(off)
	}
	s.abbrevCache.mu.Lock()
	t := s.abbrevCache.tables[off]
	s.abbrevCache.mu.Unlock()
	if t != nil {
		return t, nil
	}
	if off >= uint64(len(s.Abbrev)) {
		return nil, fmt.Errorf("abbrev offset %#x out of range", off)
	}
	sc.arena.reuse()
	t, _, err := sc.arena.parse(s.Abbrev, int(off))
	return t, err
}

// parseAllAbbrevs parses the tables that lie back to back in .debug_abbrev
// from its start; a malformed one ends the parse (Abbrevs reports it when
// a unit asks for it).
func (s *Sections) parseAllAbbrevs() {
	tables := make(map[uint64]*AbbrevTable)
	same := make(map[uint64]uint64)
	// One copy of the section gives every table a string key without
	// an allocation each.
	all := string(s.Abbrev)
	first := make(map[string]uint64)
	var ar abbrevArena
	for off := 0; off < len(s.Abbrev); {
		t, next, err := ar.parse(s.Abbrev, off)
		if err != nil {
			break
		}
		tables[uint64(off)] = t
		if f, ok := first[all[off:next]]; ok {
			same[uint64(off)] = f
		} else {
			first[all[off:next]] = uint64(off)
		}
		off = next
	}
	s.abbrevCache.mu.Lock()
	s.abbrevCache.tables = tables
	s.abbrevCache.same = same
	s.abbrevCache.mu.Unlock()
}

// parseAbbrevTable parses the table at off and returns where it ends.
func parseAbbrevTable(data []byte, off int) (*AbbrevTable, int, error) {
	var ar abbrevArena
	return ar.parse(data, off)
}

// abbrevArena allocates declarations and attributes in blocks, and keeps
// scratch space between tables: glibc's debug file has some 2000 tables
// with 40000 declarations, and allocating each was most of the parse.
type abbrevArena struct {
	decls []Abbrev
	attrs []AbbrevAttr
	// scratch, reused
	codes []uint64
	ptrs  []*Abbrev
}

const arenaBlock = 4096

// reuse makes the arena's current blocks free again: whatever was
// allocated in them must no longer be used.
func (ar *abbrevArena) reuse() {
	ar.decls, ar.attrs = ar.decls[:0], ar.attrs[:0]
}

func (ar *abbrevArena) decl() *Abbrev {
	if len(ar.decls) == cap(ar.decls) {
		ar.decls = make([]Abbrev, 0, arenaBlock)
	}
	ar.decls = ar.decls[:len(ar.decls)+1]
	return &ar.decls[len(ar.decls)-1]
}

// parse parses the table at off and returns where it ends.
func (ar *abbrevArena) parse(data []byte, off int) (*AbbrevTable, int, error) {
	r := reader{data: data, off: off, sec: ".debug_abbrev"}
	ar.codes, ar.ptrs = ar.codes[:0], ar.ptrs[:0]
	var maxCode uint64
	for {
		code := r.uleb()
		if r.err != nil {
			return nil, 0, r.err
		}
		if code == 0 {
			break
		}
		tag, children := dwarf.Tag(r.uleb()), r.u8() != 0
		// The attributes go straight into the arena's block, a new one
		// when few slots are left (a longer declaration than that
		// moves its own to a larger array, which append makes).
		if cap(ar.attrs)-len(ar.attrs) < 64 {
			ar.attrs = make([]AbbrevAttr, 0, arenaBlock)
		}
		start := len(ar.attrs)
		for {
			attr, form := r.uleb(), r.uleb()
			if r.err != nil {
				return nil, 0, r.err
			}
			if attr == 0 && form == 0 {
				break
			}
			a := AbbrevAttr{Attr: dwarf.Attr(attr), Form: form}
			if form == formImplicitConst {
				a.ImplicitConst = r.sleb()
			}
			ar.attrs = append(ar.attrs, a)
		}
		var attrs []AbbrevAttr
		if n := len(ar.attrs); n > start {
			attrs = ar.attrs[start:n:n]
		}
		d := ar.decl()
		*d = Abbrev{Tag: tag, Children: children, Attrs: attrs}
		d.layout()
		ar.codes = append(ar.codes, code)
		ar.ptrs = append(ar.ptrs, d)
		maxCode = max(maxCode, code)
	}
	t := &AbbrevTable{}
	if n := uint64(len(ar.codes)); maxCode <= 2*n+16 {
		t.dense = make([]*Abbrev, maxCode+1)
		for i, c := range ar.codes {
			t.dense[c] = ar.ptrs[i]
		}
	} else {
		t.sparse = make(map[uint64]*Abbrev, n)
		for i, c := range ar.codes {
			t.sparse[c] = ar.ptrs[i]
		}
	}
	return t, r.off, nil
}
