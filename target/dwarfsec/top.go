package dwarfsec

import (
	"debug/dwarf"
	"fmt"
)

// UnitSpan is where one unit lies in .debug_info, header included.
type UnitSpan struct {
	Start, End int
}

// UnitSpans lists the units of .debug_info in order, from their headers
// only: what splitting a walk of every unit among goroutines needs.
func (s *Sections) UnitSpans() (_ []UnitSpan, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed DWARF (%v)", r)
		}
	}()
	info := s.Info
	have := func(n int) bool { return n <= len(info) }
	var out []UnitSpan
	r := &reader{data: info, order: s.Order}
	for r.off < len(info) {
		h, err := readUnitHeader(r, have)
		if err != nil {
			return nil, err
		}
		out = append(out, UnitSpan{h.start, h.end})
		r.off = h.end
	}
	return out, nil
}

// TopUnit is the top level of one unit, as TopLevel reads it.
type TopUnit struct {
	// Unit is the unit DIE.
	Unit OutlineDIE
	// Subprograms are the subprogram DIEs directly under the unit DIE,
	// in order.
	Subprograms []OutlineDIE
	// Nested is set when a namespace or module with children, or an
	// imported unit, is directly under the unit DIE: it may hold
	// subprograms that TopLevel does not look for.
	Nested bool
	// Types is set when a structure, class or union with children is
	// directly under the unit DIE: in C++ they hold member functions.
	Types bool
}

// TopLevel reads the unit at sp: its unit DIE and the DIEs directly
// under it, skipping every subtree (with DW_AT_sibling when the DIE has
// one, else by walking it), which is what finding which unit defines a
// function by name needs, at a small part of the cost of an outline:
// libdw's dwarf_getfuncs reads a C unit so. dst is reused for
// Subprograms; sc, when not nil, is the calling goroutine's own, and
// then the DIEs' Abbrev may be valid only until its next call with sc
// (the unit's abbreviation table, unless Abbrevs had parsed it, is
// parsed into sc's memory and not kept).
func (s *Sections) TopLevel(sp UnitSpan, dst []OutlineDIE, sc *Scratch) (tu TopUnit, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed DWARF (%v)", r)
		}
	}()
	info := s.Info
	if sp.Start < 0 || sp.End > len(info) || sp.Start > sp.End {
		return tu, fmt.Errorf("unit span %#x-%#x out of .debug_info", sp.Start, sp.End)
	}
	r := &reader{data: info[:sp.End], off: sp.Start, order: s.Order}
	h, err := readUnitHeader(r, func(n int) bool { return n <= sp.End })
	if err != nil {
		return tu, err
	}
	t, err := s.abbrevsWith(h.abbrevOff, sc)
	if err != nil {
		return tu, fmt.Errorf("unit at %#x: %w", sp.Start, err)
	}
	u := &Unit{Offset: dwarf.Offset(sp.Start), Version: h.f.version, AddrSize: h.f.addrSize, OffSize: h.f.offSize}
	tu.Subprograms = dst[:0]
	// The unit DIE.
	off := r.off
	a, _ := r.die(t, h.f, u)
	if r.err != nil {
		return tu, r.err
	}
	if a == nil {
		return tu, fmt.Errorf("unit at %#x has no unit DIE", sp.Start)
	}
	tu.Unit = OutlineDIE{Offset: dwarf.Offset(off), Tag: a.Tag, Children: a.Children, Abbrev: a, Unit: u}
	if !a.Children {
		return tu, nil
	}
	for r.off < len(r.data) {
		off := r.off
		a, sib := r.die(t, h.f, u)
		if r.err != nil {
			return tu, r.err
		}
		if a == nil { // the end of the unit DIE's children
			break
		}
		switch a.Tag {
		case dwarf.TagSubprogram:
			tu.Subprograms = append(tu.Subprograms, OutlineDIE{Offset: dwarf.Offset(off), Tag: a.Tag, Level: 1, Children: a.Children, Abbrev: a, Unit: u})
		case dwarf.TagNamespace, dwarf.TagModule, dwarf.TagImportedUnit:
			if a.Children || a.Tag == dwarf.TagImportedUnit {
				tu.Nested = true
			}
		case dwarf.TagClassType, dwarf.TagStructType, dwarf.TagUnionType:
			tu.Types = tu.Types || a.Children
		}
		if !a.Children {
			continue
		}
		if sib > r.off && sib <= len(r.data) {
			r.off = sib
			continue
		}
		r.skipChildren(t, h.f)
		if r.err != nil {
			return tu, r.err
		}
	}
	return tu, nil
}

// die reads the DIE at r.off, leaving r after its attributes: nil for a
// null entry. sib is the section offset its DW_AT_sibling names, 0 if
// it has none (or one in a form that is not a unit reference).
func (r *reader) die(t *AbbrevTable, f unitFormat, u *Unit) (a *Abbrev, sib int) {
	off := r.off
	code := r.uleb()
	if r.err != nil || code == 0 {
		return nil, 0
	}
	if a = t.Get(code); a == nil {
		r.fail(fmt.Sprintf("DIE at %#x has unknown abbrev code %d", off, code))
		return nil, 0
	}
	if a.laidOut && a.fixed >= 0 && f.offSize == 4 && f.addrSize == 8 && f.version >= 3 {
		start := r.off
		r.skip(int(a.fixed))
		if r.err == nil && a.sibAt >= 0 {
			if v := uint64(r.order.Uint32(r.data[start+int(a.sibAt):])); v > 0 && v < uint64(len(r.data)) {
				sib = int(u.Offset) + int(v)
			}
		}
		return a, sib
	}
	for _, at := range a.Attrs {
		if at.Attr != dwarf.AttrSibling {
			r.skipForm(at.Form, f)
			continue
		}
		v, ok := r.unitRef(at.Form)
		if !ok {
			r.skipForm(at.Form, f)
			continue
		}
		if v > 0 && v < uint64(len(r.data)) {
			sib = int(u.Offset) + int(v)
		}
	}
	return a, sib
}

// skipChildren skips the children of the DIE just read, up to and
// including the null entry that ends them.
func (r *reader) skipChildren(t *AbbrevTable, f unitFormat) {
	depth := 1
	for depth > 0 && r.err == nil && r.off < len(r.data) {
		off := r.off
		code := r.uleb()
		if r.err != nil {
			return
		}
		if code == 0 {
			depth--
			continue
		}
		a := t.Get(code)
		if a == nil {
			r.fail(fmt.Sprintf("DIE at %#x has unknown abbrev code %d", off, code))
			return
		}
		for _, at := range a.Attrs {
			r.skipForm(at.Form, f)
		}
		if a.Children {
			depth++
		}
	}
	if depth > 0 && r.err == nil {
		r.fail("unterminated children")
	}
}
