package dwarfsec

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Supplementary files (dwz).
//
// dwz moves the DIEs and strings that several debug files share into one
// supplementary file, which .gnu_debugaltlink names, and the debug files
// refer into it with DW_FORM_GNU_ref_alt and DW_FORM_GNU_strp_alt. Neither
// debug/dwarf nor the outline can follow such a reference (debug/dwarf
// hands back the bare offset). So Read, given the supplementary file
// (Source.Alt), appends its sections to the debug file's and rewrites the
// references between them into ordinary ones: an alt reference becomes a
// DW_FORM_ref_addr or DW_FORM_strp into the appended part, and the
// supplementary file's own offsets (strings, line tables, abbreviation
// tables, DIEs) move by the size of the part they now follow. Every value
// keeps its size, so no DIE moves and every offset into the debug file
// stays valid; the result is ordinary DWARF that every reader understands.

// ErrUnsupported says the DWARF is well formed but uses something the
// package cannot read yet.
var ErrUnsupported = errors.New("unsupported DWARF")

// readWithAlt is Read for a debug file with a supplementary file: both are
// read whole (their sections decompressed side by side), merged, outlined,
// and handed to dwarf.New in the background as Read does.
func readWithAlt(src, alt Source) (_ *Sections, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = noDWARF{fmt.Errorf("malformed DWARF (%v)", r)}
		}
	}()
	var s, a *Sections
	var aerr error
	var wg sync.WaitGroup
	wg.Go(func() { a, aerr = readWhole(alt, true) })
	s, err = readWhole(src, false)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, noDWARF{fmt.Errorf("dwz supplementary file: %w", aerr)}
	}
	if err := mergeAlt(s, a); err != nil {
		return nil, noDWARF{fmt.Errorf("merging the dwz supplementary file: %w", err)}
	}
	s.parseAllAbbrevs()
	s.outline, s.outlineErr = buildOutline(s, nil)
	s.outlineDone = true
	if s.outlineErr != nil {
		if s.dwarf, s.dwarfErr = newData(s); s.dwarfErr != nil {
			return nil, s.dwarfErr
		}
		return s, nil
	}
	s.dwarfDone = make(chan struct{})
	go func() {
		s.dwarf, s.dwarfErr = newData(s)
		close(s.dwarfDone)
	}()
	return s, nil
}

// readWhole reads every section Read knows of ef: .debug_info on one
// goroutine while another does the rest, the location lists last. A
// supplementary file (alt) may have strings only.
func readWhole(src Source, alt bool) (*Sections, error) {
	ef, raw := src.ELF, src.Raw
	s := &Sections{Order: ef.ByteOrder}
	open := func(sec *elf.Section) io.Reader { return openSection(sec, raw, ef.ByteOrder, ef.Class) }
	read := func(ts []target) error {
		for _, t := range ts {
			var err error
			if *t.dst, err = sectionData(live(ef.Section(t.name)), open); err != nil {
				return err
			}
		}
		return nil
	}
	var infoErr error
	var wg sync.WaitGroup
	wg.Go(func() { infoErr = read([]target{{".debug_info", &s.Info}}) })
	err := read(append(s.targets(), target{".debug_loc", &s.loc}, target{".debug_loclists", &s.loclist}))
	wg.Wait()
	if err = errors.Join(infoErr, err); err != nil {
		return nil, noDWARF{err}
	}
	if (s.Info == nil || s.Abbrev == nil) && !(alt && s.Info == nil) {
		return nil, noDWARF{errors.New("no .debug_info or .debug_abbrev section")}
	}
	return s, nil
}

// target is a section and where Read puts it.
type target struct {
	name string
	dst  *[]byte
}

// targets lists the sections Read reads besides .debug_info and the
// location lists, abbreviations first.
func (s *Sections) targets() []target {
	return []target{
		{".debug_abbrev", &s.Abbrev}, {".debug_line", &s.Line},
		{".debug_str", &s.Str}, {".debug_rnglists", &s.Rnglists}, {".debug_ranges", &s.Ranges},
		{".debug_line_str", &s.LineStr}, {".debug_addr", &s.Addr}, {".debug_str_offsets", &s.StrOffsets},
	}
}

// altBases are the sizes of the debug file's sections, which the
// supplementary file's follow once merged.
type altBases struct {
	info, abbrev, str, line, lineStr uint64
}

// mergeAlt appends a, a supplementary file's sections, to s, rewriting
// the references as the comment at the top of this file says.
func mergeAlt(s, a *Sections) error {
	if s.Order != a.Order {
		return errors.New("byte orders differ")
	}
	b := altBases{info: uint64(len(s.Info)), abbrev: uint64(len(s.Abbrev)), str: uint64(len(s.Str)),
		line: uint64(len(s.Line)), lineStr: uint64(len(s.LineStr))}
	// DWARF 2 units: their DW_FORM_ref_addr is address-sized, so the
	// offset-sized alt references they hold become ref_addr only once
	// the unit says DWARF 3, which differs from 2 in nothing else that
	// matters here; a unit that also has DWARF 2 ref_addrs cannot.
	type v2unit struct {
		start, offSize int
		alt, refAddr   bool
	}
	// The units are independent: the two halves of .debug_info are
	// patched side by side.
	patchMain := func(info []byte, base int) ([]v2unit, error) {
		var v2 []v2unit
		err := patchUnits(info, s.Abbrev, s.Order, func(r *reader, h *unitHeader) error {
			if h.f.version == 2 {
				v2 = append(v2, v2unit{start: base + h.start, offSize: h.f.offSize})
			}
			return nil
		}, func(r *reader, h *unitHeader, at AbbrevAttr, form uint64) (bool, error) {
			if h.f.version == 2 {
				u := &v2[len(v2)-1]
				u.alt = u.alt || form == formGNURefAlt
				u.refAddr = u.refAddr || form == formRefAddr
			}
			switch form {
			case formGNURefAlt:
				return true, r.addOffset(h.f.offSize, b.info)
			case formGNUStrpAlt:
				return true, r.addOffset(h.f.offSize, b.str)
			case formRefSup4, formRefSup8, formStrpSup:
				return false, fmt.Errorf("%w: DWARF 5 supplementary files (.debug_sup)", ErrUnsupported)
			}
			return false, nil
		})
		if err != nil && base > 0 {
			err = fmt.Errorf("in .debug_info from %#x: %w", base, err)
		}
		return v2, err
	}
	mid := unitBoundary(s.Info, s.Order, len(s.Info)/2)
	var v2, v2b []v2unit
	var err, errb error
	var wg sync.WaitGroup
	wg.Go(func() { v2b, errb = patchMain(s.Info[mid:], mid) })
	v2, err = patchMain(s.Info[:mid], 0)
	wg.Wait()
	if err = errors.Join(err, errb); err != nil {
		return err
	}
	v2 = append(v2, v2b...)
	for _, u := range v2 {
		if !u.alt {
			continue
		}
		if u.refAddr {
			return fmt.Errorf("%w: unit at %#x is DWARF 2 with both DW_FORM_ref_addr and dwz references (rebuild with -gdwarf-4 or later)", ErrUnsupported, u.start)
		}
		at := u.start + 4 // the version follows the unit length
		if u.offSize == 8 {
			at += 8
		}
		s.Order.PutUint16(s.Info[at:], 3)
	}
	// The DIEs are read: now their abbreviations can name the ordinary
	// forms.
	if err := rewriteForms(s.Abbrev, map[uint64]uint64{formGNURefAlt: formRefAddr, formGNUStrpAlt: formStrp}); err != nil {
		return err
	}
	hdr := func(r *reader, h *unitHeader) error {
		at := &reader{data: r.data, off: h.abbrevAt, order: r.order}
		return at.addOffset(h.f.offSize, b.abbrev)
	}
	err = patchUnits(a.Info, a.Abbrev, a.Order, hdr, func(r *reader, h *unitHeader, at AbbrevAttr, form uint64) (bool, error) {
		switch form {
		case formStrp:
			return true, r.addOffset(h.f.offSize, b.str)
		case formLineStrp:
			return true, r.addOffset(h.f.offSize, b.lineStr)
		case formRefAddr:
			size := h.f.offSize
			if h.f.version <= 2 {
				size = h.f.addrSize
			}
			return true, r.addOffset(size, b.info)
		case formSecOffset, formData4, formData8:
			switch {
			case at.Attr == dwarf.AttrStmtList && (form == formSecOffset || h.f.version < 4):
				size := h.f.offSize
				if form != formSecOffset {
					size = 4
					if form == formData8 {
						size = 8
					}
				}
				return true, r.addOffset(size, b.line)
			case form == formSecOffset && !macroAttr(at.Attr):
				return false, fmt.Errorf("unexpected %s section offset in the supplementary file", at.Attr)
			}
		case formGNURefAlt, formGNUStrpAlt, formRefSup4, formRefSup8, formStrpSup,
			formStrx, formStrx1, formStrx2, formStrx3, formStrx4, formGNUStrIndex,
			formAddrx, formAddrx1, formAddrx2, formAddrx3, formAddrx4, formGNUAddrIndex,
			formLoclistx, formRnglistx:
			return false, fmt.Errorf("unexpected form %#x in the supplementary file", form)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if err := patchLineStrings(a.Line, a.Order, b); err != nil {
		return err
	}
	join := func(x, y []byte) []byte { return append(x[:len(x):len(x)], y...) }
	s.Info = join(s.Info, a.Info)
	s.Abbrev = join(s.Abbrev, a.Abbrev)
	s.Str = join(s.Str, a.Str)
	s.Line = join(s.Line, a.Line)
	s.LineStr = join(s.LineStr, a.LineStr)
	if uint64(len(s.Info)) > 0xffffffff {
		// dwarf.Offset is 32 bits wide.
		return errors.New("merged .debug_info exceeds 4 GiB")
	}
	return nil
}

// unitBoundary returns the offset of the first unit header of info at
// or after at, following the unit lengths from the start; len(info) when
// there is none, or the lengths go wrong (patchUnits then says how).
func unitBoundary(info []byte, order binary.ByteOrder, at int) int {
	r := &reader{data: info, order: order}
	for r.off < at {
		length := uint64(r.u32())
		if length == 0xffffffff {
			length = r.u64()
		}
		if r.err != nil || length > uint64(len(info)-r.off) {
			return len(info)
		}
		r.off += int(length)
	}
	return r.off
}

// macroAttr reports whether a is an attribute that points into the macro
// sections, which nothing here reads.
func macroAttr(a dwarf.Attr) bool {
	return a == dwarf.AttrMacroInfo || a == dwarf.AttrMacros || a == 0x2119 // DW_AT_GNU_macros
}

// patchUnits walks every attribute value of every DIE in info, whose
// abbreviation tables are in abbrev. It calls hdr, when not nil, for each
// unit header, and patch for each value, with r at the value and its form
// (DW_FORM_indirect resolved); patch either consumes the value and reports
// true, or leaves it to be skipped.
func patchUnits(info, abbrev []byte, order binary.ByteOrder,
	hdr func(r *reader, h *unitHeader) error,
	patch func(r *reader, h *unitHeader, at AbbrevAttr, form uint64) (bool, error)) error {
	tables := make(map[uint64]*AbbrevTable)
	r := &reader{data: info, order: order}
	for r.off < len(info) {
		h, err := readUnitHeader(r, func(n int) bool { return n <= len(info) })
		if err != nil {
			return err
		}
		if hdr != nil {
			if err := hdr(r, &h); err != nil {
				return err
			}
		}
		t := tables[h.abbrevOff]
		if t == nil {
			if h.abbrevOff >= uint64(len(abbrev)) {
				return fmt.Errorf("unit at %#x: abbrev offset %#x out of range", h.start, h.abbrevOff)
			}
			if t, _, err = parseAbbrevTable(abbrev, int(h.abbrevOff)); err != nil {
				return fmt.Errorf("unit at %#x: %w", h.start, err)
			}
			tables[h.abbrevOff] = t
		}
		ur := &reader{data: info[:h.end], off: r.off, order: order}
		for ur.off < h.end && ur.err == nil {
			off := ur.off
			code := ur.uleb()
			if code == 0 {
				continue
			}
			a := t.Get(code)
			if a == nil {
				return fmt.Errorf("DIE at %#x has unknown abbrev code %d", off, code)
			}
			for _, at := range a.Attrs {
				form := at.Form
				if form == formIndirect {
					form = ur.uleb()
					switch form {
					case formGNURefAlt, formGNUStrpAlt:
						return fmt.Errorf("DIE at %#x: DW_FORM_indirect naming an alt form", off)
					}
				}
				done, err := patch(ur, &h, at, form)
				if err != nil {
					return fmt.Errorf("DIE at %#x: %w", off, err)
				}
				if !done {
					ur.skipForm(form, h.f)
				}
			}
		}
		if ur.err != nil {
			return ur.err
		}
		r.off = h.end
	}
	return nil
}

// addOffset adds delta to the size-byte offset at r.off and moves past it.
func (r *reader) addOffset(size int, delta uint64) error {
	at := r.off
	var v uint64
	switch size {
	case 4:
		v = uint64(r.u32())
	case 8:
		v = r.u64()
	default:
		return fmt.Errorf("offset of %d bytes", size)
	}
	if r.err != nil {
		return r.err
	}
	v += delta
	if size == 4 {
		if v > 0xffffffff {
			return errors.New("merged sections exceed 4 GiB")
		}
		r.order.PutUint32(r.data[at:], uint32(v))
	} else {
		r.order.PutUint64(r.data[at:], v)
	}
	return nil
}

// rewriteForms rewrites, in every abbreviation table of abbrev, the
// attribute forms that repl maps. A form code is a ULEB128 number: the new
// one is written in as many bytes as the old one took (a padded ULEB128,
// which every reader accepts), so no table moves.
func rewriteForms(abbrev []byte, repl map[uint64]uint64) error {
	r := &reader{data: abbrev, sec: ".debug_abbrev"}
	for r.off < len(abbrev) && r.err == nil {
		// A table: declarations until a zero code.
		for r.err == nil {
			if r.uleb() == 0 {
				break
			}
			r.uleb() // tag
			r.u8()   // children
			for r.err == nil {
				attr := r.uleb()
				at := r.off
				form := r.uleb()
				if attr == 0 && form == 0 {
					break
				}
				if form == formImplicitConst {
					r.sleb()
				}
				if nf, ok := repl[form]; ok && r.err == nil {
					putPaddedULEB(abbrev[at:r.off], nf)
				}
			}
		}
	}
	if r.err != nil {
		return fmt.Errorf(".debug_abbrev: %w", r.err)
	}
	return nil
}

// putPaddedULEB writes v as a ULEB128 number that fills buf exactly; v
// must fit.
func putPaddedULEB(buf []byte, v uint64) {
	for i := range buf {
		c := byte(v & 0x7f)
		v >>= 7
		if i < len(buf)-1 {
			c |= 0x80
		}
		buf[i] = c
	}
}

// patchLineStrings moves the string offsets in the DWARF 5 line-table
// headers of a supplementary file's .debug_line by the sizes of the debug
// file's string sections. Earlier versions keep their strings inline.
func patchLineStrings(line []byte, order binary.ByteOrder, b altBases) error {
	r := &reader{data: line, order: order, sec: ".debug_line"}
	for r.off < len(line) && r.err == nil {
		start := r.off
		offSize := 4
		length := uint64(r.u32())
		if length == 0xffffffff {
			offSize = 8
			length = r.u64()
		}
		if r.err != nil || length > uint64(len(line)-r.off) {
			return fmt.Errorf(".debug_line: table at %#x overruns the section", start)
		}
		end := r.off + int(length)
		version := r.u16()
		if version >= 5 {
			f := unitFormat{version: int(version), offSize: offSize}
			f.addrSize = int(r.u8())
			r.u8() // segment selector size
			if offSize == 8 {
				r.u64() // header length
			} else {
				r.u32()
			}
			r.u8() // minimum instruction length
			r.u8() // maximum operations per instruction
			r.u8() // default is_stmt
			r.u8() // line base
			r.u8() // line range
			opcodeBase := r.u8()
			if opcodeBase > 0 {
				r.skip(int(opcodeBase) - 1) // standard opcode lengths
			}
			for range 2 { // directories, then files
				var forms []uint64
				for n := r.u8(); n > 0 && r.err == nil; n-- {
					r.uleb() // content type
					forms = append(forms, r.uleb())
				}
				for n := r.uleb(); n > 0 && r.err == nil; n-- {
					for _, form := range forms {
						var err error
						switch form {
						case formLineStrp:
							err = r.addOffset(offSize, b.lineStr)
						case formStrp:
							err = r.addOffset(offSize, b.str)
						case formStrx, formStrx1, formStrx2, formStrx3, formStrx4:
							err = fmt.Errorf("form %#x in a supplementary file", form)
						default:
							r.skipForm(form, f)
						}
						if err != nil {
							return fmt.Errorf(".debug_line: table at %#x: %w", start, err)
						}
					}
				}
			}
		}
		if r.err != nil {
			return fmt.Errorf(".debug_line: table at %#x: %w", start, r.err)
		}
		r.off = end
	}
	return nil
}
