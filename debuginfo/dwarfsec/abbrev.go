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
	t, _, err := parseAbbrevTable(s.Abbrev, int(off))
	if err != nil {
		return nil, err
	}
	if s.abbrevCache.tables == nil {
		s.abbrevCache.tables = make(map[uint64]*AbbrevTable)
	}
	s.abbrevCache.tables[off] = t
	return t, nil
}

// parseAllAbbrevs parses the tables that lie back to back in .debug_abbrev
// from its start; a malformed one ends the parse (Abbrevs reports it when
// a unit asks for it).
func (s *Sections) parseAllAbbrevs() {
	tables := make(map[uint64]*AbbrevTable)
	for off := 0; off < len(s.Abbrev); {
		t, next, err := parseAbbrevTable(s.Abbrev, off)
		if err != nil {
			break
		}
		tables[uint64(off)] = t
		off = next
	}
	s.abbrevCache.mu.Lock()
	s.abbrevCache.tables = tables
	s.abbrevCache.mu.Unlock()
}

// parseAbbrevTable parses the table at off and returns where it ends. A
// first pass counts declarations and attributes so that each lands in one
// exact allocation: glibc's debug file has some 2000 tables with 40000
// declarations, and growing slices was most of the parse.
func parseAbbrevTable(data []byte, off int) (*AbbrevTable, int, error) {
	r := abbrevReader{data: data, off: off}
	nDecls, nAttrs := 0, 0
	var maxCode uint64
	for {
		code := r.uleb()
		if r.err != nil {
			return nil, 0, r.err
		}
		if code == 0 {
			break
		}
		maxCode = max(maxCode, code)
		nDecls++
		r.uleb()
		r.u8()
		for {
			attr, form := r.uleb(), r.uleb()
			if r.err != nil {
				return nil, 0, r.err
			}
			if attr == 0 && form == 0 {
				break
			}
			if form == formImplicitConst {
				r.sleb()
			}
			nAttrs++
		}
	}
	end := r.off
	decls := make([]Abbrev, nDecls)
	attrs := make([]AbbrevAttr, nAttrs)
	t := &AbbrevTable{}
	if maxCode <= 2*uint64(nDecls)+16 {
		t.dense = make([]*Abbrev, maxCode+1)
	} else {
		t.sparse = make(map[uint64]*Abbrev, nDecls)
	}
	r.off = off
	k := 0
	for i := range decls {
		code := r.uleb()
		a := &decls[i]
		a.Tag, a.Children = dwarf.Tag(r.uleb()), r.u8() != 0
		start := k
		for {
			attr, form := r.uleb(), r.uleb()
			if attr == 0 && form == 0 {
				break
			}
			attrs[k] = AbbrevAttr{Attr: dwarf.Attr(attr), Form: form}
			if form == formImplicitConst {
				attrs[k].ImplicitConst = r.sleb()
			}
			k++
		}
		a.Attrs = attrs[start:k:k]
		if t.dense != nil {
			t.dense[code] = a
		} else {
			t.sparse[code] = a
		}
	}
	return t, end, nil
}

// abbrevReader reads LEB128 numbers with bounds checks.
type abbrevReader struct {
	data []byte
	off  int
	err  error
}

func (r *abbrevReader) u8() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.data) {
		r.err = fmt.Errorf("decoding .debug_abbrev at offset %#x: unexpected end of section", r.off)
		return 0
	}
	c := r.data[r.off]
	r.off++
	return c
}

func (r *abbrevReader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.u8()
		if r.err != nil {
			return 0
		}
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *abbrevReader) sleb() int64 {
	var v int64
	shift := uint(0)
	for {
		c := r.u8()
		if r.err != nil {
			return 0
		}
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}
