package debuginfo

import (
	"debug/dwarf"

	"github.com/whythefail/whythefail/internal/leb128"
)

// quickRanges returns what dwarf.Data.Ranges returns for a function's
// DIE, from the raw sections, so that indexing need not wait for
// dwarf.New: a low and high pc, and DWARF 5 range lists (gcc's) whose
// entries need neither .debug_addr nor anything unusual. ok is false for
// the rest (DWARF 2-4 .debug_ranges, DW_FORM_rnglistx, indexed
// addresses, malformed lists): the caller then asks debug/dwarf.
func (d *Data) quickRanges(e *dwarf.Entry, cu *CompUnit) (ranges [][2]uint64, ok bool) {
	low, lowOK := e.Val(dwarf.AttrLowpc).(uint64)
	var rangesField *dwarf.Field
	for i := range e.Field {
		f := &e.Field[i]
		switch f.Attr {
		case dwarf.AttrHighpc:
			if !lowOK {
				continue
			}
			switch v := f.Val.(type) {
			case uint64:
				if f.Class == dwarf.ClassAddress {
					ranges = append(ranges, [2]uint64{low, v})
				}
			case int64:
				if f.Class == dwarf.ClassConstant {
					ranges = append(ranges, [2]uint64{low, low + uint64(v)})
				}
			}
		case dwarf.AttrRanges:
			rangesField = f
		}
	}
	if rangesField == nil {
		return ranges, true
	}
	off, isOff := rangesField.Val.(int64)
	if cu == nil || cu.Version < 5 || cu.addrSize != 8 || d.sec.Rnglists == nil ||
		rangesField.Class != dwarf.ClassRangeListPtr || !isOff {
		return nil, false
	}
	// debug/dwarf takes the base address from the unit DIE's entry pc,
	// else its low pc.
	base, isBase := cu.entry.Val(dwarf.AttrEntrypc).(uint64)
	if !isBase {
		base = cu.LowPC
	}
	return rnglist(d.sec.Rnglists, off, base, d.sec.Order.Uint64, ranges)
}

// rnglist decodes the DWARF 5 range list at off in .debug_rnglists, for
// 8-byte addresses, appending to ret; ok is false when an entry needs
// .debug_addr or the list is malformed.
func rnglist(sec []byte, off int64, base uint64, u64 func([]byte) uint64, ret [][2]uint64) (_ [][2]uint64, ok bool) {
	if off < 0 || off >= int64(len(sec)) {
		return nil, false
	}
	p := int(off)
	uleb := func() (uint64, bool) {
		v, n := leb128.Uint(sec[p:])
		p += n
		return v, n > 0
	}
	addr := func() (uint64, bool) {
		if p+8 > len(sec) {
			return 0, false
		}
		v := u64(sec[p:])
		p += 8
		return v, true
	}
	for p < len(sec) {
		op := sec[p]
		p++
		switch op {
		case 0x00: // DW_RLE_end_of_list
			return ret, true
		case 0x04: // DW_RLE_offset_pair
			a, ok1 := uleb()
			b, ok2 := uleb()
			if !ok1 || !ok2 {
				return nil, false
			}
			ret = append(ret, [2]uint64{base + a, base + b})
		case 0x05: // DW_RLE_base_address
			v, ok := addr()
			if !ok {
				return nil, false
			}
			base = v
		case 0x06: // DW_RLE_start_end
			a, ok1 := addr()
			b, ok2 := addr()
			if !ok1 || !ok2 {
				return nil, false
			}
			ret = append(ret, [2]uint64{a, b})
		case 0x07: // DW_RLE_start_length
			a, ok1 := addr()
			n, ok2 := uleb()
			if !ok1 || !ok2 {
				return nil, false
			}
			ret = append(ret, [2]uint64{a, a + n})
		default: // indexed addresses (.debug_addr), or malformed
			return nil, false
		}
	}
	return nil, false
}
