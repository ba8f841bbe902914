package dwarfsec

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/whythefail/whythefail/internal/leb128"
)

// OutlineDIE is one DIE of the outline of .debug_info.
type OutlineDIE struct {
	Offset dwarf.Offset
	Tag    dwarf.Tag
	// Level is the DIE's nesting depth within its unit: 0 for the unit
	// DIE, 1 for its children.
	Level    int32
	Children bool
	Abbrev   *Abbrev // the DIE's abbreviation declaration
	Unit     *Unit   // the unit the DIE is in
}

// Unit describes a unit of .debug_info, as far as decoding its DIEs'
// attributes needs.
type Unit struct {
	Offset   dwarf.Offset // of the unit header
	Version  int
	AddrSize int
	OffSize  int // 4, or 8 for 64-bit DWARF
}

// The outline is what indexing functions needs from .debug_info, found
// without decoding attribute values: debug/dwarf's Reader decodes and
// allocates every attribute of every DIE, which made it most of the cost of
// listing a probe point in glibc. Read builds it while .debug_info is
// still being decompressed, driven by the abbreviation tables, skipping
// attribute values by their form's size.

// Outline lists, in .debug_info order, every unit DIE (compile, partial,
// type), every subprogram and inlined subroutine, and per unit the first
// variable or formal parameter whose DW_AT_location is a location-list
// offset (debug/dwarf's ClassLocListPtr; not a DWARF 5 DW_FORM_loclistx),
// leaving out the subtrees of types (structures, classes, unions,
// enumerations, subroutine and array types), which hold no code.
func (s *Sections) Outline() ([]OutlineDIE, error) {
	s.outlineOnce.Do(func() {
		if s.outlineDone {
			return
		}
		s.outline, s.outlineErr = buildOutline(s, nil)
	})
	return s.outline, s.outlineErr
}

// ReleaseOutline lets the outline and the parsed abbreviation tables go
// once an index has been built from them: for a vmlinux they hold some
// 70 MB. Outline and Abbrevs build them again if asked. It must not run
// while another goroutine uses them.
func (s *Sections) ReleaseOutline() {
	s.outlineOnce = sync.Once{}
	s.outline, s.outlineErr, s.outlineDone = nil, nil, false
	s.abbrevCache.mu.Lock()
	s.abbrevCache.tables, s.abbrevCache.same, s.abbrevCache.arena = nil, nil, abbrevArena{}
	s.abbrevCache.mu.Unlock()
}

// skipsSubtree reports whether the children of a DIE with this tag are
// left out of the outline.
func skipsSubtree(tag dwarf.Tag) bool {
	switch tag {
	case dwarf.TagStructType, dwarf.TagClassType, dwarf.TagUnionType,
		dwarf.TagEnumerationType, dwarf.TagSubroutineType, dwarf.TagArrayType:
		return true
	}
	return false
}

// stream lets the outline follow .debug_info as it is decompressed.
type stream struct {
	mu    sync.Mutex
	cond  *sync.Cond
	avail int  // bytes of Info decompressed so far
	done  bool // no more will come (all of it, or an error)
}

func newStream() *stream {
	st := &stream{}
	st.cond = sync.NewCond(&st.mu)
	return st
}

// publish makes n bytes available; done ends the stream.
func (st *stream) publish(n int, done bool) {
	st.mu.Lock()
	st.avail, st.done = n, done
	st.mu.Unlock()
	st.cond.Broadcast()
}

// wait blocks until n bytes are available or the stream ended, and
// returns how many are.
func (st *stream) wait(n int) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	for st.avail < n && !st.done {
		st.cond.Wait()
	}
	return st.avail
}

// unitFormat is what skipping a unit's attribute values depends on.
type unitFormat struct {
	version  int
	addrSize int
	offSize  int
}

// unitHeader is a unit header of .debug_info.
type unitHeader struct {
	start, end int // the unit's bytes, header included
	f          unitFormat
	abbrevAt   int // where the abbreviation offset is written
	abbrevOff  uint64
}

// readUnitHeader reads the header of the unit at r.off, leaving r at its
// first DIE. have(n) reports whether the first n bytes of r.data can be
// read (they may still be being decompressed).
func readUnitHeader(r *reader, have func(int) bool) (unitHeader, error) {
	h := unitHeader{start: r.off, f: unitFormat{offSize: 4}}
	length := uint64(r.u32())
	if length == 0xffffffff {
		h.f.offSize = 8
		length = r.u64()
	} else if length >= 0xfffffff0 {
		return h, fmt.Errorf("unit at %#x has reserved length %#x", h.start, length)
	}
	if r.err != nil || length > uint64(len(r.data)-r.off) {
		return h, fmt.Errorf("unit at %#x overruns .debug_info", h.start)
	}
	h.end = r.off + int(length)
	if !have(h.end) {
		return h, fmt.Errorf("unit at %#x: .debug_info was not fully decompressed", h.start)
	}
	h.f.version = int(r.u16())
	readOff := func() uint64 {
		if h.f.offSize == 8 {
			return r.u64()
		}
		return uint64(r.u32())
	}
	if h.f.version >= 5 {
		unitType := r.u8()
		h.f.addrSize = int(r.u8())
		h.abbrevAt = r.off
		h.abbrevOff = readOff()
		switch unitType {
		case 2, 6: // type, split type: signature and type offset
			r.skip(8)
			readOff()
		case 4, 5: // skeleton, split compile: dwo id
			r.skip(8)
		}
	} else {
		h.abbrevAt = r.off
		h.abbrevOff = readOff()
		h.f.addrSize = int(r.u8())
	}
	if r.err != nil {
		return h, r.err
	}
	if h.f.version < 2 || h.f.version > 5 {
		return h, fmt.Errorf("unit at %#x has version %d", h.start, h.f.version)
	}
	if r.off > h.end {
		return h, fmt.Errorf("unit at %#x ends inside its header", h.start)
	}
	return h, nil
}

// buildOutline walks the units of s.Info. With st, it follows the
// decompression: it reads a unit once all of its bytes are there.
func buildOutline(s *Sections, st *stream) ([]OutlineDIE, error) {
	info := s.Info
	have := func(n int) bool {
		if st == nil {
			return n <= len(info)
		}
		return st.wait(n) >= n
	}
	var out []OutlineDIE
	r := &reader{data: info, order: s.Order}
	var share abbrevSharing
	for have(r.off + 1) {
		start := r.off
		have(min(start+24, len(info))) // the longest unit header
		h, err := readUnitHeader(r, have)
		if err != nil {
			return nil, err
		}
		if st != nil {
			share.share(s, info, h.abbrevAt, h.f, h.abbrevOff)
		}
		f, end, abbrevOff := h.f, h.end, h.abbrevOff
		t, err := s.Abbrevs(abbrevOff)
		if err != nil {
			return nil, fmt.Errorf("unit at %#x: %w", start, err)
		}
		ur := &reader{data: info[:end], off: r.off, order: s.Order}
		u := &Unit{Offset: dwarf.Offset(start), Version: f.version, AddrSize: f.addrSize, OffSize: f.offSize}
		if out, err = outlineUnit(out, ur, t, f, u); err != nil {
			return nil, err
		}
		r.off = end
	}
	if st != nil && r.off < len(info) {
		return nil, fmt.Errorf(".debug_info was not fully decompressed")
	}
	return out, nil
}

// abbrevSharing points units whose abbreviation tables repeat an earlier
// table's bytes at that earlier table. dwarf.New parses the table of every
// unit, caching them by offset only, and that parse is all of its time
// (17 ms for glibc, whose 2063 units have 1507 different tables): a unit
// header that names the first copy of its table spares it the others.
// The DIEs read the same either way.
type abbrevSharing struct {
	// used maps a table's first offset and a unit version (debug/dwarf
	// classifies forms by version) to the offset units use for both.
	used map[[2]uint64]uint64
}

// share rewrites the abbreviation offset of the unit header whose field is
// at info[at:], whose format is f and which names the table at off. Only
// Read's outline calls it, as it reads each header: dwarf.New waits for
// the outline, and nothing else reads the headers before.
func (a *abbrevSharing) share(s *Sections, info []byte, at int, f unitFormat, off uint64) {
	if s.abbrevCache.same == nil {
		return
	}
	if a.used == nil {
		a.used = make(map[[2]uint64]uint64)
	}
	first, dup := s.abbrevCache.same[off]
	if !dup {
		first = off
	}
	k := [2]uint64{first, uint64(f.version)}
	use, ok := a.used[k]
	if !ok {
		a.used[k] = off
		return
	}
	if use == off {
		return
	}
	if f.offSize == 8 {
		s.Order.PutUint64(info[at:], use)
	} else {
		s.Order.PutUint32(info[at:], uint32(use))
	}
}

// outlineUnit appends the outline of one unit's DIEs.
func outlineUnit(out []OutlineDIE, r *reader, t *AbbrevTable, f unitFormat, u *Unit) ([]OutlineDIE, error) {
	level := int32(0)
	skipTo := int32(-1) // while skipping a type's children: the level to return to
	locSeen := false
	for r.off < len(r.data) {
		off := r.off
		code := r.uleb()
		if r.err != nil {
			break
		}
		if code == 0 {
			level--
			if skipTo >= 0 && level == skipTo {
				skipTo = -1
			}
			continue
		}
		a := t.Get(code)
		if a == nil {
			return nil, fmt.Errorf("DIE at %#x has unknown abbrev code %d", off, code)
		}
		for _, at := range a.Attrs {
			r.skipForm(at.Form, f)
		}
		if r.err != nil {
			break
		}
		if skipTo >= 0 {
			if a.Children {
				level++
			}
			continue
		}
		if a.Children && skipsSubtree(a.Tag) {
			skipTo = level
			level++
			continue
		}
		keep := false
		switch a.Tag {
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			keep = !locSeen && hasLocListPtr(a, f.version)
			locSeen = locSeen || keep
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit, dwarf.TagSkeletonUnit,
			dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			keep = true
		}
		if keep {
			out = append(out, OutlineDIE{Offset: dwarf.Offset(off), Tag: a.Tag, Level: level, Children: a.Children, Abbrev: a, Unit: u})
		}
		if a.Children {
			level++
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// Fields decodes the attributes of an outline DIE into dst, reusing its
// storage, with the values and classes debug/dwarf gives them, for the
// forms that need nothing from the unit DIE and whose class does not
// depend on the attribute. It reports false when the DIE has another form
// (strx, addrx, rnglistx, loclistx, blocks, indirect,
// signatures, supplementary files) or a DWARF 2-3 constant that
// debug/dwarf would take for a section offset: the caller then reads the
// DIE with debug/dwarf.
func (s *Sections) Fields(o OutlineDIE, dst []dwarf.Field) ([]dwarf.Field, bool) {
	return s.FieldsStr(o, dst, nil)
}

// FieldsStr is Fields with a cache of the strings of .debug_str by
// offset (nil for none), for a caller that decodes the same names in
// many units: the section holds each string once, so its offset names
// it, and the cache spares a copy per DIE.
func (s *Sections) FieldsStr(o OutlineDIE, dst []dwarf.Field, strs map[uint64]string) ([]dwarf.Field, bool) {
	u, a := o.Unit, o.Abbrev
	if u == nil || a == nil || int(o.Offset) >= len(s.Info) {
		return dst, false
	}
	r := &reader{data: s.Info, off: int(o.Offset), order: s.Order}
	r.uleb() // the abbreviation code
	f := unitFormat{version: u.Version, addrSize: u.AddrSize, offSize: u.OffSize}
	offset := func() uint64 {
		if f.offSize == 8 {
			return r.u64()
		}
		return uint64(r.u32())
	}
	for _, at := range a.Attrs {
		var val any
		var class dwarf.Class
		switch at.Form {
		case formAddr:
			switch f.addrSize {
			case 1:
				val = uint64(r.u8())
			case 2:
				val = uint64(r.u16())
			case 4:
				val = uint64(r.u32())
			case 8:
				val = r.u64()
			default:
				return dst, false
			}
			class = dwarf.ClassAddress
		case formData1, formData2, formData4, formData8, formSdata, formUdata, formImplicitConst:
			if f.version < 4 && ptrClassAttr(at.Attr) {
				return dst, false
			}
			switch at.Form {
			case formData1:
				val = int64(r.u8())
			case formData2:
				val = int64(r.u16())
			case formData4:
				val = int64(r.u32())
			case formData8:
				val = int64(r.u64())
			case formSdata:
				val = r.sleb()
			case formUdata:
				val = int64(r.uleb())
			default:
				val = at.ImplicitConst
			}
			class = dwarf.ClassConstant
		case formFlag:
			val, class = r.u8() == 1, dwarf.ClassFlag
		case formFlagPresent:
			val, class = true, dwarf.ClassFlag
		case formRef1, formRef2, formRef4, formRef8, formRefUdata:
			v, _ := r.unitRef(at.Form)
			val, class = dwarf.Offset(v)+u.Offset, dwarf.ClassReference
		case formRefAddr:
			if f.version <= 2 && f.addrSize != f.offSize {
				return dst, false
			}
			val, class = dwarf.Offset(offset()), dwarf.ClassReference
		case formString:
			start := r.off
			r.skipForm(formString, f)
			if r.err != nil {
				return dst, false
			}
			val, class = string(s.Info[start:r.off-1]), dwarf.ClassString
		case formStrp, formLineStrp:
			sec := s.Str
			if at.Form == formLineStrp {
				sec = s.LineStr
			}
			off := offset()
			str, ok := "", false
			if strs != nil && at.Form == formStrp {
				if str, ok = strs[off]; !ok {
					if str, ok = cstring(sec, off); ok {
						strs[off] = str
					}
				}
			} else {
				str, ok = cstring(sec, off)
			}
			if !ok {
				return dst, false
			}
			val, class = str, dwarf.ClassString
		case formSecOffset:
			// Unit DIEs (stmt_list) and functions with DW_AT_ranges
			// have them: debug/dwarf names the class by the attribute.
			val, class = int64(offset()), secOffsetClass[at.Attr]
		case formExprloc:
			n := r.uleb()
			start := r.off
			if n > uint64(len(r.data)) {
				return dst, false
			}
			r.skip(int(n))
			if r.err != nil {
				return dst, false
			}
			val, class = s.Info[start:r.off:r.off], dwarf.ClassExprLoc
		default:
			return dst, false
		}
		dst = append(dst, dwarf.Field{Attr: at.Attr, Val: val, Class: class})
	}
	return dst, r.err == nil
}

// secOffsetClass is the class debug/dwarf gives a DW_FORM_sec_offset of
// each attribute; others are dwarf.ClassUnknown (0).
var secOffsetClass = map[dwarf.Attr]dwarf.Class{
	dwarf.AttrLocation: dwarf.ClassLocListPtr, dwarf.AttrStmtList: dwarf.ClassLinePtr,
	dwarf.AttrStringLength: dwarf.ClassLocListPtr, dwarf.AttrReturnAddr: dwarf.ClassLocListPtr,
	dwarf.AttrStartScope: dwarf.ClassRangeListPtr, dwarf.AttrDataMemberLoc: dwarf.ClassLocListPtr,
	dwarf.AttrFrameBase: dwarf.ClassLocListPtr, dwarf.AttrMacroInfo: dwarf.ClassMacPtr,
	dwarf.AttrSegment: dwarf.ClassLocListPtr, dwarf.AttrStaticLink: dwarf.ClassLocListPtr,
	dwarf.AttrUseLocation: dwarf.ClassLocListPtr, dwarf.AttrVtableElemLoc: dwarf.ClassLocListPtr,
	dwarf.AttrRanges: dwarf.ClassRangeListPtr, dwarf.AttrStrOffsetsBase: dwarf.ClassStrOffsetsPtr,
	dwarf.AttrAddrBase: dwarf.ClassAddrPtr, dwarf.AttrRnglistsBase: dwarf.ClassRngListsPtr,
	dwarf.AttrLoclistsBase: dwarf.ClassLocListPtr,
}

// ptrClassAttr reports whether debug/dwarf takes a DWARF 2-3 constant of
// this attribute for a section offset.
func ptrClassAttr(a dwarf.Attr) bool {
	switch a {
	case dwarf.AttrLocation, dwarf.AttrStmtList, dwarf.AttrStringLength, dwarf.AttrReturnAddr,
		dwarf.AttrStartScope, dwarf.AttrDataMemberLoc, dwarf.AttrFrameBase, dwarf.AttrMacroInfo,
		dwarf.AttrSegment, dwarf.AttrStaticLink, dwarf.AttrUseLocation, dwarf.AttrVtableElemLoc,
		dwarf.AttrRanges, dwarf.AttrStrOffsetsBase, dwarf.AttrAddrBase, dwarf.AttrRnglistsBase,
		dwarf.AttrLoclistsBase:
		return true
	}
	return false
}

// cstring returns the NUL-terminated string at off in a string section.
func cstring(sec []byte, off uint64) (string, bool) {
	if off >= uint64(len(sec)) {
		return "", false
	}
	b := sec[off:]
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", false
	}
	return string(b[:i]), true
}

// hasLocListPtr reports whether DIEs of abbreviation a have a
// DW_AT_location that is a location list offset, as debug/dwarf classifies
// it (ClassLocListPtr): DW_FORM_loclistx, a DWARF 5 index, is not one.
func hasLocListPtr(a *Abbrev, version int) bool {
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

// reader is a bounds-checked reader of a section.
type reader struct {
	data  []byte
	off   int
	order binary.ByteOrder
	err   error
	sec   string // for errors; "" is .debug_info
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		sec := r.sec
		if sec == "" {
			sec = ".debug_info"
		}
		r.err = fmt.Errorf("decoding %s at offset %#x: %s", sec, r.off, msg)
	}
}

func (r *reader) skip(n int) {
	if r.err != nil {
		return
	}
	if n < 0 || n > len(r.data)-r.off {
		r.fail("unexpected end of unit")
		return
	}
	r.off += n
}

func (r *reader) u8() uint8 {
	if r.err != nil || r.off >= len(r.data) {
		r.fail("unexpected end of unit")
		return 0
	}
	v := r.data[r.off]
	r.off++
	return v
}

// unitRef reads a reference relative to its unit in form (DW_FORM_ref1,
// ref2, ref4, ref8 or ref_udata); ok is false, and nothing is read, for
// any other form.
func (r *reader) unitRef(form uint64) (v uint64, ok bool) {
	switch form {
	case formRef1:
		return uint64(r.u8()), true
	case formRef2:
		return uint64(r.u16()), true
	case formRef4:
		return uint64(r.u32()), true
	case formRef8:
		return r.u64(), true
	case formRefUdata:
		return r.uleb(), true
	}
	return 0, false
}

// take returns the next n bytes and moves past them, or nil after
// recording the error when fewer than n are left.
func (r *reader) take(n int) []byte {
	if r.err != nil || len(r.data)-r.off < n {
		r.fail("unexpected end of unit")
		return nil
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return r.order.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return r.order.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return r.order.Uint64(b)
	}
	return 0
}

func (r *reader) sleb() int64 {
	if r.err != nil || r.off >= len(r.data) {
		r.fail("unexpected end of unit")
		return 0
	}
	v, n := leb128.Int(r.data[r.off:])
	if n == 0 {
		r.off = len(r.data)
		r.fail("unexpected end of unit")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) uleb() uint64 {
	if r.err != nil || r.off >= len(r.data) {
		r.fail("unexpected end of unit")
		return 0
	}
	v, n := leb128.Uint(r.data[r.off:])
	if n == 0 {
		r.off = len(r.data)
		r.fail("unexpected end of unit")
		return 0
	}
	r.off += n
	return v
}

// skipForm skips one attribute value of the given form.
func (r *reader) skipForm(form uint64, f unitFormat) {
	switch form {
	case formFlagPresent, formImplicitConst:
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		r.skip(1)
	case formData2, formRef2, formStrx2, formAddrx2:
		r.skip(2)
	case formStrx3, formAddrx3:
		r.skip(3)
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4:
		r.skip(4)
	case formData8, formRef8, formRefSig8, formRefSup8:
		r.skip(8)
	case formData16:
		r.skip(16)
	case formAddr:
		r.skip(f.addrSize)
	case formStrp, formSecOffset, formStrpSup, formLineStrp, formGNURefAlt, formGNUStrpAlt:
		r.skip(f.offSize)
	case formRefAddr:
		if f.version <= 2 {
			r.skip(f.addrSize)
		} else {
			r.skip(f.offSize)
		}
	case formSdata, formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx,
		formGNUAddrIndex, formGNUStrIndex:
		r.uleb()
	case formString:
		if r.err != nil {
			return
		}
		i := bytes.IndexByte(r.data[r.off:], 0)
		if i < 0 {
			r.fail("unterminated string")
			return
		}
		r.off += i + 1
	case formBlock1:
		r.skip(int(r.u8()))
	case formBlock2:
		r.skip(int(r.u16()))
	case formBlock4:
		r.skip(int(r.u32()))
	case formBlock, formExprloc:
		n := r.uleb()
		if n > uint64(len(r.data)) {
			r.fail("block longer than the unit")
			return
		}
		r.skip(int(n))
	case formIndirect:
		inner := r.uleb()
		if inner == formIndirect {
			r.fail("indirect form naming itself")
			return
		}
		r.skipForm(inner, f)
	default:
		r.fail(fmt.Sprintf("unknown attribute form %#x", form))
	}
}

// DWARF forms the outline skips (DWARF 5, section 7).
const (
	formAddr          = 0x01
	formBlock2        = 0x03
	formBlock4        = 0x04
	formData2         = 0x05
	formData4         = 0x06
	formData8         = 0x07
	formString        = 0x08
	formBlock         = 0x09
	formBlock1        = 0x0a
	formData1         = 0x0b
	formFlag          = 0x0c
	formSdata         = 0x0d
	formStrp          = 0x0e
	formUdata         = 0x0f
	formRefAddr       = 0x10
	formRef1          = 0x11
	formRef2          = 0x12
	formRef4          = 0x13
	formRef8          = 0x14
	formRefUdata      = 0x15
	formIndirect      = 0x16
	formSecOffset     = 0x17
	formExprloc       = 0x18
	formFlagPresent   = 0x19
	formStrx          = 0x1a
	formAddrx         = 0x1b
	formRefSup4       = 0x1c
	formStrpSup       = 0x1d
	formData16        = 0x1e
	formLineStrp      = 0x1f
	formRefSig8       = 0x20
	formImplicitConst = 0x21
	formLoclistx      = 0x22
	formRnglistx      = 0x23
	formRefSup8       = 0x24
	formStrx1         = 0x25
	formStrx2         = 0x26
	formStrx3         = 0x27
	formStrx4         = 0x28
	formAddrx1        = 0x29
	formAddrx2        = 0x2a
	formAddrx3        = 0x2b
	formAddrx4        = 0x2c
	formGNUAddrIndex  = 0x1f01
	formGNUStrIndex   = 0x1f02
	formGNURefAlt     = 0x1f20
	formGNUStrpAlt    = 0x1f21
)
