package debuginfo

import (
	"debug/dwarf"
	"fmt"
	"sync"

	"github.com/whythefail/whythefail/target/dwarfsec"
)

// scanDIEs does what indexReader does, from dwarfsec's outline of
// .debug_info (built while it decompressed, without decoding attribute
// values) instead of a walk that decodes every DIE: only units,
// subprograms and inlined subroutines are read with debug/dwarf, in two
// goroutines over the two halves of the outline.
func (d *Data) scanDIEs() error {
	if d.sec.ViaDebugElf {
		// The raw sections may lack relocations: walk debug/elf's.
		return d.indexReader()
	}
	var outline []dwarfsec.OutlineDIE
	var err error
	if d.units != nil {
		outline, err = d.sec.OutlineUnits(d.units)
	} else {
		outline, err = d.sec.Outline()
	}
	if err != nil {
		return fmt.Errorf("reading .debug_info: %w", err)
	}
	// Split at a compile unit: a unit that is not one adds to the one
	// before it.
	split := len(outline)
	for i := len(outline) / 2; i < len(outline); i++ {
		if t := outline[i].Tag; t == dwarf.TagCompileUnit || t == dwarf.TagPartialUnit {
			split = i
			break
		}
	}
	first, second := d.newScanner(), d.newScanner()
	var err2 error
	var wg sync.WaitGroup
	if split < len(outline) {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					err2 = fmt.Errorf("reading DWARF: malformed debug info (%v)", r)
				}
			}()
			if err2 = second.scan(outline[split:]); err2 == nil {
				second.resolve()
			}
		})
	}
	if err = first.scan(outline[:split]); err == nil {
		first.resolve()
	}
	wg.Wait()
	if err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	d.merge([]*indexPart{first.part, second.part})
	// Functions whose origins lie in the other part, or were not indexed.
	for _, fn := range first.pending {
		d.resolveFunc(fn)
	}
	for _, fn := range second.pending {
		d.resolveFunc(fn)
	}
	return nil
}

// resolve completes the names of the part's functions whose chains of
// origins stay within the part, and leaves the others pending.
func (s *scanner) resolve() {
	origins := s.part.origins
	lookup := func(off dwarf.Offset) *declInfo { return origins[off] }
	for _, fn := range s.part.funcs {
		if !resolveChain(fn, origins[fn.Offset], lookup) {
			s.pending = append(s.pending, fn)
			continue
		}
		declFileFallback(fn)
	}
}

// scanner indexes a run of the outline; each goroutine has its own.
type scanner struct {
	d    *Data
	r    *dwarf.Reader
	part *indexPart
	// e and its fields are reused for the DIEs decoded from the outline:
	// the index keeps values, never the entry.
	e dwarf.Entry
	// pending functions have origins outside the part.
	pending []*Function
}

func (d *Data) newScanner() *scanner {
	return &scanner{d: d, part: newIndexPart()}
}

// entry reads the DIE at off with debug/dwarf, waiting for its Data.
func (s *scanner) entry(off dwarf.Offset) (*dwarf.Entry, error) {
	if s.r == nil {
		dw, err := s.d.data()
		if err != nil {
			return nil, err
		}
		s.r = dw.Reader()
	}
	s.r.Seek(off)
	e, err := s.r.Next()
	if err == nil && (e == nil || e.Offset != off) {
		err = fmt.Errorf("no DIE at offset %#x", off)
	}
	if err != nil {
		return nil, fmt.Errorf("reading .debug_info: %w", err)
	}
	return e, nil
}

// scan indexes outline DIEs in order. The walk's stack of enclosing
// functions follows the outline's levels: the frames whose children's
// depth is deeper than a DIE's level ended before it.
func (s *scanner) scan(outline []dwarfsec.OutlineDIE) error {
	var cu *CompUnit
	var stack []funcFrame
	for _, o := range outline {
		switch o.Tag {
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			// The outline lists one per unit, with a location list.
			if cu != nil {
				cu.HasLocLists = true
			}
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			// The unit keeps its entry: decoded into fields of its own.
			e := &dwarf.Entry{Offset: o.Offset, Tag: o.Tag, Children: o.Children}
			var ok bool
			if e.Field, ok = s.d.sec.Fields(o, nil); !ok {
				var err error
				if e, err = s.entry(o.Offset); err != nil {
					return err
				}
			}
			stack = stack[:0]
			cu = s.d.newCU(e)
			if o.Unit != nil {
				cu.addrSize = o.Unit.AddrSize
			}
			s.part.cus = append(s.part.cus, cu)
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			stack = popFrames(stack, int(o.Level))
			e, err := s.function(o)
			if err != nil {
				return err
			}
			stack = s.d.addFunc(s.part, e, cu, int(o.Level), stack)
		}
	}
	return nil
}

// function returns the entry of a subprogram or inlined subroutine:
// decoded from the outline when its forms allow, else read with
// debug/dwarf.
func (s *scanner) function(o dwarfsec.OutlineDIE) (*dwarf.Entry, error) {
	fields, ok := s.d.sec.Fields(o, s.e.Field[:0])
	s.e.Field = fields
	if !ok {
		return s.entry(o.Offset)
	}
	s.e.Offset, s.e.Tag, s.e.Children = o.Offset, o.Tag, o.Children
	return &s.e, nil
}
