package debuginfo

import (
	"debug/dwarf"
	"fmt"
	"sync"

	"github.com/whythefail/whythefail/target/dwarfsec"
)

// TopFuncUnits builds a FuncUnits from the top level of every unit
// (dwarfsec's TopLevel) instead of a full index: the keys of a unit are
// the names and linkage names of every subprogram DIE directly under its
// unit DIE (declarations and abstract functions included) and the entry
// addresses of those with code. In C, where every function is such a DIE
// and an inlined instance or an out-of-line copy names its function
// through an abstract origin among them, that is a superset of what
// Data.FuncUnits gives the unit, found at a small part of the cost: what
// a first run on a vmlinux needs to index only the units a pattern
// selects. A unit for which that cannot be told (not C, a subprogram
// whose origin is not at its top level, forms Fields cannot decode,
// namespaces or classes) is selected by every pattern.
func TopFuncUnits(sec *dwarfsec.Sections) (_ *FuncUnits, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading DWARF: malformed debug info (%v)", r)
		}
	}()
	if sec == nil || sec.ViaDebugElf {
		return nil, fmt.Errorf("no raw DWARF sections to scan")
	}
	spans, err := sec.UnitSpans()
	if err != nil {
		return nil, fmt.Errorf("reading .debug_info: %w", err)
	}
	// Two halves by size, scanned side by side.
	split := len(spans)
	if len(spans) > 1 {
		half := (spans[0].Start + spans[len(spans)-1].End) / 2
		for i, sp := range spans {
			if sp.Start >= half {
				split = i
				break
			}
		}
	}
	parts := [2][]topUnitKeys{}
	errs := [2]error{}
	var wg sync.WaitGroup
	for i, run := range [2][]dwarfsec.UnitSpan{spans[:split], spans[split:]} {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("reading DWARF: malformed debug info (%v)", r)
				}
			}()
			parts[i], errs[i] = scanTop(sec, run)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	n := 0
	for _, p := range parts {
		for _, u := range p {
			n += len(u.keys)
		}
	}
	// Most names are the key of one unit: 120,467 distinct keys among
	// 200,201 in a vmlinux. A map sized for them from the start is not
	// grown (growing it was a tenth of a cold listing's time), and the
	// first unit of each key is a slot of one array, not an allocation.
	fu := &FuncUnits{keys: make(map[string][]uint32, n*2/3)}
	slab := make([]uint32, n)
	for _, p := range parts {
		for _, u := range p {
			i := uint32(len(fu.Units))
			fu.Units = append(fu.Units, u.unit)
			if u.always {
				fu.always = append(fu.always, i)
				continue
			}
			for _, k := range u.keys {
				l := fu.keys[k]
				switch {
				case len(l) == 0:
					slab[0] = i
					fu.keys[k], slab = slab[:1:1], slab[1:]
				case l[len(l)-1] != i:
					fu.keys[k] = append(l, i)
				}
			}
		}
	}
	return fu, nil
}

// topUnitKeys is what scanTop finds in one unit.
type topUnitKeys struct {
	unit   dwarf.Offset // the unit DIE
	keys   []string
	always bool
}

// cLanguage reports whether a DW_AT_language is C's (C89, C, C99, C11,
// C17) or assembler's (DW_LANG_Mips_Assembler, which gas gives a .S file,
// whose functions it describes as top-level subprograms): languages
// without functions inside types or namespaces.
func cLanguage(l int64) bool {
	switch l {
	case 0x1, 0x2, 0xc, 0x1d, 0x2c, 0x8001:
		return true
	}
	return false
}

// scanTop reads the top level of each unit of run.
func scanTop(sec *dwarfsec.Sections, run []dwarfsec.UnitSpan) ([]topUnitKeys, error) {
	d := &Data{sec: sec}
	out := make([]topUnitKeys, 0, len(run))
	var subs []dwarfsec.OutlineDIE
	var scratch dwarfsec.Scratch
	var fields []dwarf.Field
	tops := make(map[dwarf.Offset]bool)
	// Names by .debug_str offset: units declare the same functions.
	strs := make(map[uint64]string)
	declNames := make(map[dwarf.Offset][]string)
	var origins []dwarf.Offset
	for _, sp := range run {
		tu, err := sec.TopLevel(sp, subs, &scratch)
		if err != nil {
			return nil, fmt.Errorf("reading .debug_info: %w", err)
		}
		subs = tu.Subprograms
		k := topUnitKeys{unit: tu.Unit.Offset}
		ue := &dwarf.Entry{Offset: tu.Unit.Offset, Tag: tu.Unit.Tag, Children: tu.Unit.Children}
		var ok bool
		if ue.Field, ok = sec.Fields(tu.Unit, nil); !ok {
			k.always = true
			out = append(out, k)
			continue
		}
		cu := d.newCU(ue)
		cu.addrSize = tu.Unit.Unit.AddrSize
		if tu.Nested || (!cLanguage(cu.Language) && (len(tu.Subprograms) > 0 || tu.Types)) {
			k.always = true
			out = append(out, k)
			continue
		}
		clear(tops)
		clear(declNames)
		origins = origins[:0]
		for _, o := range tu.Subprograms {
			tops[o.Offset] = true
		}
		e := &dwarf.Entry{}
	subprograms:
		for _, o := range tu.Subprograms {
			if fields, ok = sec.FieldsStr(o, fields[:0], strs); !ok {
				k.always = true
				break
			}
			e.Offset, e.Tag, e.Children, e.Field = o.Offset, o.Tag, o.Children, fields
			// A declaration's names are keys only if a subprogram
			// names it as its origin or specification.
			_, decl := e.Val(dwarf.AttrDeclaration).(bool)
			entry, hasEntry := uint64(0), false
			for _, f := range fields {
				switch f.Attr {
				case dwarf.AttrName, dwarf.AttrLinkageName, dwarf.Attr(0x2007):
					if s, ok := f.Val.(string); ok && s != "" {
						if decl {
							declNames[o.Offset] = append(declNames[o.Offset], s)
						} else {
							k.keys = append(k.keys, s)
						}
					}
				case dwarf.AttrAbstractOrigin, dwarf.AttrSpecification:
					off, ok := f.Val.(dwarf.Offset)
					if !ok {
						k.always = true
						break subprograms
					}
					origins = append(origins, off)
				case dwarf.AttrEntrypc:
					if v, ok := f.Val.(uint64); ok {
						entry, hasEntry = v, true
					}
				}
			}
			if !hasEntry {
				if v, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
					entry, hasEntry = v, true
				} else if e.Val(dwarf.AttrRanges) != nil {
					rs, ok := d.quickRanges(e, cu)
					if !ok {
						k.always = true
						break
					}
					if len(rs) > 0 {
						entry, hasEntry = rs[0][0], true
					}
				}
			}
			if hasEntry && entry != 0 {
				k.keys = append(k.keys, addrKey(entry))
			}
		}
		for _, off := range origins {
			k.keys = append(k.keys, declNames[off]...)
			if !tops[off] {
				k.always = true
			}
		}
		if k.always {
			k.keys = nil
		}
		out = append(out, k)
	}
	return out, nil
}
