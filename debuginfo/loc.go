package debuginfo

import (
	"fmt"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/dwarf/loclist"
)

// HasLocation reports whether the variable has a location attribute at all
// (an exprloc or a location list).
func (v *Variable) HasLocation() bool { return v.loc != nil }

// LocationAt returns the DWARF location expression that describes the
// variable at link-time address pc. ok is false when the variable has no
// location there (optimised out at that point, or no location at all).
func (v *Variable) LocationAt(pc uint64) (expr []byte, ok bool, err error) {
	switch loc := v.loc.(type) {
	case nil:
		return nil, false, nil
	case []byte:
		return loc, len(loc) > 0, nil
	case locList:
		return v.cu.d.findLoc(v.cu, loc, pc)
	}
	return nil, false, nil
}

func (d *Data) findLoc(cu *CompUnit, l locList, pc uint64) (expr []byte, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			expr, ok, err = nil, false, fmt.Errorf("malformed location list at %#x (%v)", l.offset, r)
		}
	}()
	var debugAddr *godwarf.DebugAddr
	if d.debugAddr != nil {
		debugAddr = d.debugAddr.GetSubsection(cu.addrBase)
	}
	var e *loclist.Entry
	locs, loclists := d.sec.Loc(), d.sec.Loclists()
	if cu.Version >= 5 || locs == nil {
		if loclists == nil {
			return nil, false, fmt.Errorf("location list at %#x but no .debug_loclists", l.offset)
		}
		off := uint64(l.offset)
		if l.index {
			// DW_FORM_loclistx: an index into the offset table that
			// starts at DW_AT_loclists_base; entries are relative to it.
			b := &buf{data: loclists, off: int(cu.loclistsBase + 4*off), order: d.sec.Order, name: ".debug_loclists"}
			rel := b.u32()
			if b.err != nil {
				return nil, false, b.err
			}
			off = cu.loclistsBase + uint64(rel)
		}
		if off >= uint64(len(loclists)) {
			return nil, false, fmt.Errorf("location list offset %#x out of range", off)
		}
		rdr := loclist.NewDwarf5Reader(loclists)
		e, err = rdr.Find(int(off), 0, cu.LowPC, pc, debugAddr)
	} else {
		if uint64(l.offset) >= uint64(len(locs)) {
			return nil, false, fmt.Errorf("location list offset %#x out of range", l.offset)
		}
		rdr := loclist.NewDwarf2Reader(locs, 8)
		e, err = rdr.Find(int(l.offset), 0, cu.LowPC, pc, nil)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading location list at %#x: %w", l.offset, err)
	}
	if e == nil || len(e.Instr) == 0 {
		return nil, false, nil
	}
	return e.Instr, true, nil
}
