package debuginfo

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/whythefail/whythefail/debuginfo/dwarfsec"
)

// The index needs a few attributes of a few DIEs (units, subprograms,
// inlined subroutines) and only the form of one attribute of variables and
// parameters, but debug/dwarf's Reader decodes and allocates every
// attribute of every DIE, which made it most of the cost of listing a probe
// point in glibc. scanDIEs walks the units itself, driven by the abbrev
// tables, skipping attribute values by their form's size, and hands only
// the DIEs it needs to a Reader.

// DWARF constants the scanner uses (DWARF 5, section 7).
const (
	formAddr         = 0x01
	formBlock2       = 0x03
	formBlock4       = 0x04
	formData2        = 0x05
	formData4        = 0x06
	formData8        = 0x07
	formString       = 0x08
	formBlock        = 0x09
	formBlock1       = 0x0a
	formData1        = 0x0b
	formFlag         = 0x0c
	formSdata        = 0x0d
	formStrp         = 0x0e
	formUdata        = 0x0f
	formRefAddr      = 0x10
	formRef1         = 0x11
	formRef2         = 0x12
	formRef4         = 0x13
	formRef8         = 0x14
	formRefUdata     = 0x15
	formIndirect     = 0x16
	formSecOffset    = 0x17
	formExprloc      = 0x18
	formFlagPresent  = 0x19
	formStrx         = 0x1a
	formAddrx        = 0x1b
	formRefSup4      = 0x1c
	formStrpSup      = 0x1d
	formData16       = 0x1e
	formLineStrp     = 0x1f
	formRefSig8      = 0x20
	formImplicitCon  = 0x21
	formLoclistx     = 0x22
	formRnglistx     = 0x23
	formRefSup8      = 0x24
	formStrx1        = 0x25
	formStrx2        = 0x26
	formStrx3        = 0x27
	formStrx4        = 0x28
	formAddrx1       = 0x29
	formAddrx2       = 0x2a
	formAddrx3       = 0x2b
	formAddrx4       = 0x2c
	formGNUAddrIndex = 0x1f01
	formGNUStrIndex  = 0x1f02
	formGNURefAlt    = 0x1f20
	formGNUStrpAlt   = 0x1f21
)

// unitFormat is what skipping a unit's attribute values depends on.
type unitFormat struct {
	version  int
	addrSize int
	offSize  int
}

// skipForm skips one attribute value of the given form.
func (b *buf) skipForm(form uint64, f unitFormat) {
	switch form {
	case formFlagPresent, formImplicitCon:
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		b.skip(1)
	case formData2, formRef2, formStrx2, formAddrx2:
		b.skip(2)
	case formStrx3, formAddrx3:
		b.skip(3)
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4:
		b.skip(4)
	case formData8, formRef8, formRefSig8, formRefSup8:
		b.skip(8)
	case formData16:
		b.skip(16)
	case formAddr:
		b.skip(f.addrSize)
	case formStrp, formSecOffset, formStrpSup, formLineStrp, formGNURefAlt, formGNUStrpAlt:
		b.skip(f.offSize)
	case formRefAddr:
		if f.version <= 2 {
			b.skip(f.addrSize)
		} else {
			b.skip(f.offSize)
		}
	case formSdata, formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx,
		formGNUAddrIndex, formGNUStrIndex:
		b.uleb()
	case formString:
		b.skipCstr()
	case formBlock1:
		b.skip(int(b.u8()))
	case formBlock2:
		b.skip(int(b.u16()))
	case formBlock4:
		b.skip(int(b.u32()))
	case formBlock, formExprloc:
		n := b.uleb()
		if n > uint64(len(b.data)) {
			b.fail("block longer than the section")
			return
		}
		b.skip(int(n))
	case formIndirect:
		inner := b.uleb()
		if inner == formIndirect {
			b.fail("indirect form naming itself")
			return
		}
		b.skipForm(inner, f)
	default:
		b.fail(fmt.Sprintf("unknown attribute form %#x", form))
	}
}

// hasLocListPtr reports whether DIEs of abbreviation a have a
// DW_AT_location that is a location list offset, as debug/dwarf classifies
// it (ClassLocListPtr): DW_FORM_loclistx, a DWARF 5 index, is not one.
func hasLocListPtr(a *dwarfsec.Abbrev, version int) bool {
	var form uint64
	for _, at := range a.Attrs {
		if at.Attr == dwarf.AttrLocation {
			form = at.Form
		}
	}
	switch form {
	case formSecOffset:
		return true
	case formData4, formData8:
		return version < 4
	}
	return false
}

// unitHeader locates one unit of .debug_info.
type unitHeader struct {
	start, dies, end int // header, first DIE, end
	abbrevOff        uint64
	format           unitFormat
}

// readUnits reads the unit headers of .debug_info.
func readUnits(info []byte, order binary.ByteOrder) ([]unitHeader, error) {
	var units []unitHeader
	b := &buf{data: info, order: order, name: ".debug_info"}
	for b.off < len(info) {
		u := unitHeader{start: b.off, format: unitFormat{offSize: 4}}
		length := uint64(b.u32())
		if length == 0xffffffff {
			u.format.offSize = 8
			length = b.u64()
		} else if length >= 0xfffffff0 {
			return nil, fmt.Errorf("unit at %#x has reserved length %#x", u.start, length)
		}
		if b.err != nil || length > uint64(len(info)-b.off) {
			return nil, fmt.Errorf("unit at %#x overruns the section", u.start)
		}
		u.end = b.off + int(length)
		f := &u.format
		f.version = int(b.u16())
		readOff := func() uint64 {
			if f.offSize == 8 {
				return b.u64()
			}
			return uint64(b.u32())
		}
		if f.version >= 5 {
			unitType := b.u8()
			f.addrSize = int(b.u8())
			u.abbrevOff = readOff()
			switch unitType {
			case 2, 6: // type, split type: signature and type offset
				b.skip(8)
				readOff()
			case 4, 5: // skeleton, split compile: dwo id
				b.skip(8)
			}
		} else {
			u.abbrevOff = readOff()
			f.addrSize = int(b.u8())
		}
		if b.err != nil {
			return nil, b.err
		}
		if f.version < 2 || f.version > 5 {
			return nil, fmt.Errorf("unit at %#x has version %d", u.start, f.version)
		}
		u.dies = b.off
		if u.dies > u.end {
			return nil, fmt.Errorf("unit at %#x ends inside its header", u.start)
		}
		units = append(units, u)
		b.off = u.end
	}
	return units, nil
}

// scanner indexes a run of units; each goroutine has its own.
type scanner struct {
	d    *Data
	r    *dwarf.Reader
	part *indexPart
}

func (d *Data) newScanner() *scanner {
	return &scanner{d: d, r: d.DWARF.Reader(), part: newIndexPart()}
}

// table returns the unit's abbreviation table.
func (s *scanner) table(u *unitHeader) (*dwarfsec.AbbrevTable, error) {
	t, err := s.d.sec.Abbrevs(u.abbrevOff)
	if err != nil {
		return nil, fmt.Errorf("unit at %#x: %w", u.start, err)
	}
	return t, nil
}

// entry reads the DIE at off with debug/dwarf.
func (s *scanner) entry(off int) (*dwarf.Entry, error) {
	s.r.Seek(dwarf.Offset(off))
	e, err := s.r.Next()
	if err == nil && (e == nil || e.Offset != dwarf.Offset(off)) {
		err = fmt.Errorf("no DIE at offset %#x", off)
	}
	if err != nil {
		return nil, fmt.Errorf("reading .debug_info: %w", err)
	}
	return e, nil
}

// scan indexes units in order.
func (s *scanner) scan(units []unitHeader) error {
	var cu *CompUnit
	var stack []funcFrame
	info := s.d.sec.Info
	for i := range units {
		u := &units[i]
		t, err := s.table(u)
		if err != nil {
			return fmt.Errorf("reading .debug_abbrev: %w", err)
		}
		b := &buf{data: info[:u.end], off: u.dies, order: s.d.sec.Order, name: ".debug_info"}
		cu, stack, err = s.scanUnit(b, t, u.format, cu, stack[:0])
		if err != nil {
			return err
		}
	}
	return nil
}

// startsCU reports whether the unit's first DIE is a compile or partial
// unit, so that indexing may start there afresh.
func (s *scanner) startsCU(u *unitHeader) bool {
	t, err := s.table(u)
	if err != nil {
		return false
	}
	b := &buf{data: s.d.sec.Info[:u.end], off: u.dies, order: s.d.sec.Order}
	a := t.Get(b.uleb())
	return b.err == nil && a != nil && (a.Tag == dwarf.TagCompileUnit || a.Tag == dwarf.TagPartialUnit)
}

// scanDIEs does what indexReader does, in two goroutines over the two
// halves of .debug_info, reading only units, subprograms and inlined
// subroutines through a Reader.
func (d *Data) scanDIEs() error {
	if d.sec.Abbrev == nil && d.sec.Info != nil {
		// dwarfsec fell back to debug/elf (relocatable objects,
		// .zdebug sections): its raw copies are not relocated.
		return d.indexReader()
	}
	units, err := readUnits(d.sec.Info, d.sec.Order)
	if err != nil {
		return fmt.Errorf("reading .debug_info: %w", err)
	}
	// Split where half the bytes are behind, at a unit that starts a
	// compile unit: a unit that does not adds to the one before it.
	split := len(units)
	second := d.newScanner()
	for i := range units {
		if units[i].start >= len(d.sec.Info)/2 {
			if second.startsCU(&units[i]) {
				split = i
			}
			break
		}
	}
	first := d.newScanner()
	var err2 error
	var wg sync.WaitGroup
	if split < len(units) {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					err2 = fmt.Errorf("reading DWARF: malformed debug info (%v)", r)
				}
			}()
			err2 = second.scan(units[split:])
		})
	}
	err = first.scan(units[:split])
	wg.Wait()
	if err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	d.merge([]*indexPart{first.part, second.part})
	return nil
}

// scanUnit walks the DIEs of one unit; cu is the unit being indexed when
// this one starts (a unit whose DIE is not a compile or partial unit adds
// to the previous one, as it does in indexReader).
func (s *scanner) scanUnit(b *buf, t *dwarfsec.AbbrevTable, f unitFormat, cu *CompUnit, stack []funcFrame) (*CompUnit, []funcFrame, error) {
	depth := 0
	skipTo := -1 // while skipping a type's children: the depth to return to
	for b.off < len(b.data) {
		off := b.off
		code := b.uleb()
		if b.err != nil {
			break
		}
		if code == 0 {
			depth--
			if skipTo >= 0 {
				if depth == skipTo {
					skipTo = -1
				}
				continue
			}
			stack = popFrames(stack, depth)
			continue
		}
		a := t.Get(code)
		if a == nil {
			return cu, stack, fmt.Errorf("reading .debug_info: DIE at %#x has unknown abbrev code %d", off, code)
		}
		for _, at := range a.Attrs {
			b.skipForm(at.Form, f)
		}
		if b.err != nil {
			break
		}
		if skipTo >= 0 {
			if a.Children {
				depth++
			}
			continue
		}
		if a.Children && skipSubtree(a.Tag) {
			skipTo = depth
			depth++
			continue
		}
		switch a.Tag {
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			if cu != nil && !cu.HasLocLists && hasLocListPtr(a, f.version) {
				cu.HasLocLists = true
			}
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			e, err := s.entry(off)
			if err != nil {
				return cu, stack, err
			}
			depth = 0
			stack = stack[:0]
			cu = s.d.newCU(e)
			s.part.cus = append(s.part.cus, cu)
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			e, err := s.entry(off)
			if err != nil {
				return cu, stack, err
			}
			stack = s.d.addFunc(s.part, e, cu, depth, stack)
		}
		if a.Children {
			depth++
		}
	}
	if b.err != nil {
		return cu, stack, fmt.Errorf("reading .debug_info: %w", b.err)
	}
	return cu, stack, nil
}

// skipCstr skips a NUL-terminated string without copying it.
func (b *buf) skipCstr() {
	if b.err != nil {
		return
	}
	i := bytes.IndexByte(b.data[b.off:], 0)
	if i < 0 {
		b.fail("unterminated string")
		return
	}
	b.off += i + 1
}
