package dwarfsec

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"sort"
)

// ErrCrossUnit says that a unit asked for by OutlineUnits may refer to
// DIEs of other units, so that indexing it alone is not enough.
var ErrCrossUnit = errors.New("a unit refers to DIEs outside itself")

// crossUnitForms are the forms whose values name a DIE by its offset in
// the section, or in another section or file, rather than in its unit.
var crossUnitForms = map[uint64]bool{
	0x10:   true, // DW_FORM_ref_addr
	0x20:   true, // DW_FORM_ref_sig8
	0x1c:   true, // DW_FORM_ref_sup4
	0x24:   true, // DW_FORM_ref_sup8
	0x1f20: true, // DW_FORM_GNU_ref_alt
	0x16:   true, // DW_FORM_indirect: the form is in the DIE, and may be one of these
}

// OutlineUnits is Outline restricted to the units that contain the given
// offsets of .debug_info (unit DIEs, say), in .debug_info order. It fails
// when an offset is in no unit, and with ErrCrossUnit when a unit's
// abbreviations allow a reference out of it (DW_FORM_ref_addr and the
// like): its DIEs could then need others that the outline leaves out.
func (s *Sections) OutlineUnits(offs []dwarf.Offset) (_ []OutlineDIE, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed DWARF (%v)", r)
		}
	}()
	want := append([]dwarf.Offset(nil), offs...)
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	info := s.Info
	have := func(n int) bool { return n <= len(info) }
	var out []OutlineDIE
	r := &reader{data: info, order: s.Order}
	for len(want) > 0 && r.off < len(info) {
		start := r.off
		h, err := readUnitHeader(r, have)
		if err != nil {
			return nil, err
		}
		if dwarf.Offset(h.end) <= want[0] {
			r.off = h.end
			continue
		}
		if want[0] < dwarf.Offset(start) {
			return nil, fmt.Errorf("offset %#x is in no unit of .debug_info", want[0])
		}
		for len(want) > 0 && want[0] < dwarf.Offset(h.end) {
			want = want[1:]
		}
		t, err := s.Abbrevs(h.abbrevOff)
		if err != nil {
			return nil, fmt.Errorf("unit at %#x: %w", start, err)
		}
		if crossUnit(t) {
			return nil, fmt.Errorf("unit at %#x: %w", start, ErrCrossUnit)
		}
		ur := &reader{data: info[:h.end], off: r.off, order: s.Order}
		u := &Unit{Offset: dwarf.Offset(start), Version: h.f.version, AddrSize: h.f.addrSize, OffSize: h.f.offSize}
		if out, err = outlineUnit(out, ur, t, h.f, u); err != nil {
			return nil, err
		}
		r.off = h.end
	}
	if len(want) > 0 {
		return nil, fmt.Errorf("offset %#x is in no unit of .debug_info", want[0])
	}
	return out, nil
}

// crossUnit reports whether some abbreviation of t has a form that refers
// out of the unit.
func crossUnit(t *AbbrevTable) bool {
	check := func(a *Abbrev) bool {
		if a == nil {
			return false
		}
		for _, at := range a.Attrs {
			if crossUnitForms[at.Form] {
				return true
			}
		}
		return false
	}
	for _, a := range t.dense {
		if check(a) {
			return true
		}
	}
	for _, a := range t.sparse {
		if check(a) {
			return true
		}
	}
	return false
}

// DataFor returns a dwarf.Data that reads the units containing offs as
// Data's does, for indexing those units only (OutlineUnits): it is built
// from a copy of .debug_info in which each run of other units is one
// unit, never read, that borrows the abbreviation table of the first unit
// asked for (and the bytes after its header are zeros), so that dwarf.New
// parses the tables of the units asked for only (parsing every unit's table is nearly all of dwarf.New's time). It
// falls back to Data when the section has 64-bit units.
func (s *Sections) DataFor(offs []dwarf.Offset) (_ *dwarf.Data, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = noDWARF{fmt.Errorf("malformed DWARF (%v)", r)}
		}
	}()
	want := append([]dwarf.Offset(nil), offs...)
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	info := s.Info
	have := func(n int) bool { return n <= len(info) }
	type span struct {
		start, end int
		keep       bool
	}
	var spans []span
	var borrow unitHeader
	found := false
	r := &reader{data: info, order: s.Order}
	for r.off < len(info) {
		h, err := readUnitHeader(r, have)
		if err != nil {
			return nil, noDWARF{err}
		}
		if h.f.offSize != 4 {
			return s.Data()
		}
		keep := false
		for len(want) > 0 && want[0] < dwarf.Offset(h.end) {
			if want[0] >= dwarf.Offset(h.start) {
				keep = true
			}
			want = want[1:]
		}
		if keep && !found {
			borrow, found = h, true
		}
		if n := len(spans); n > 0 && !keep && !spans[n-1].keep {
			spans[n-1].end = h.end
		} else {
			spans = append(spans, span{h.start, h.end, keep})
		}
		r.off = h.end
	}
	if !found {
		return nil, noDWARF{fmt.Errorf("no unit of .debug_info contains %#x", offs)}
	}
	// Only the kept units and the runs' headers are written: the rest
	// of a fresh allocation stays untouched (and unfaulted) zeros.
	copied := make([]byte, len(info))
	for _, sp := range spans {
		if sp.keep {
			copy(copied[sp.start:sp.end], info[sp.start:sp.end])
			continue
		}
		// A unit header of the borrowed unit's version, address size
		// and abbreviation offset, whose length covers the run.
		b := copied[sp.start:sp.end]
		s.Order.PutUint32(b, uint32(len(b)-4))
		s.Order.PutUint16(b[4:], uint16(borrow.f.version))
		if borrow.f.version >= 5 {
			if len(b) < 12 {
				return s.Data()
			}
			b[6], b[7] = 1, byte(borrow.f.addrSize) // DW_UT_compile
			s.Order.PutUint32(b[8:], uint32(borrow.abbrevOff))
		} else {
			if len(b) < 11 {
				return s.Data()
			}
			s.Order.PutUint32(b[6:], uint32(borrow.abbrevOff))
			b[10] = byte(borrow.f.addrSize)
		}
	}
	return newDataInfo(s, copied)
}
