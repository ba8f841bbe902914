package listing

import (
	"debug/dwarf"
	"fmt"
	"sort"

	"github.com/whythefail/whythefail/debuginfo"
)

// unitOrder is the order in which SystemTap 4.8 visits one unit's
// functions. dwflpp::iterate_over_functions walks the unit's function
// cache, a std::unordered_multimap keyed by name that libdw's
// dwarf_getfuncs filled, so out-of-line functions come in that hash
// order, and the inlined instances of an abstract function come, in DIE
// order, where the abstract function comes. The order matters: SystemTap
// deduplicates aliases and line addresses first come, first served.
type unitOrder struct {
	rank   map[dwarf.Offset]int          // subprogram DIE → position in the iteration order
	origin map[dwarf.Offset]dwarf.Offset // inlined_subroutine DIE → its abstract origin
	// entries is the cache itself in iteration order: a DIE is there
	// under its own name and under each of its ELF aliases' names, and
	// a pattern selects entries by those names (keyRank). at lists each
	// DIE's entries, ascending.
	entries []cacheEntry
	at      map[dwarf.Offset][]int
}

// cacheEntry is one element of a unit's function cache.
type cacheEntry struct {
	key string
	off dwarf.Offset
}

// key returns fn's position in the order: that of its own DIE for an
// out-of-line function, that of its abstract origin for an inlined one;
// ok is false when the walk did not meet it.
func (o *unitOrder) key(fn *debuginfo.Function) (int, bool) {
	off := fn.Offset
	if fn.Inlined {
		var ok bool
		if off, ok = o.origin[off]; !ok {
			return 0, false
		}
	}
	k, ok := o.rank[off]
	return k, ok
}

// keyRank is like key, but counts only the cache entries whose name
// match accepts: SystemTap meets a DIE first at the first entry the
// pattern selects, which for a name that is only one of its aliases is
// not the DIE's first entry.
func (o *unitOrder) keyRank(fn *debuginfo.Function, match func(key string) bool) (int, bool) {
	off := fn.Offset
	if fn.Inlined {
		var ok bool
		if off, ok = o.origin[off]; !ok {
			return 0, false
		}
	}
	for _, i := range o.at[off] {
		if match(o.entries[i].key) {
			return i, true
		}
	}
	return 0, false
}

// DWARF language codes that make libdw's dwarf_getfuncs prune the walk
// to scopes (DW_LANG_C89, DW_LANG_C, DW_LANG_C99, DW_LANG_C11).
var cLanguages = map[int64]bool{0x1: true, 0x2: true, 0xc: true, 0x1d: true}

// unitOrder returns the order of cu's functions, computed once per unit.
func (r *Rules) unitOrder(dw *dwarf.Data, cu *debuginfo.CompUnit) (o *unitOrder, err error) {
	if o, ok := r.orders[cu]; ok {
		return o, nil
	}
	w, err := r.walkUnit(dw, cu)
	if err != nil {
		return nil, err
	}
	if r.walks == nil {
		r.walks = make(map[*debuginfo.CompUnit]*funcWalk)
	}
	r.walks[cu] = w
	m := newSTLMultimap(len(w.names))
	for i, name := range w.names {
		m.insert(name, i)
	}
	r.addAliases(m, w)
	o = &unitOrder{rank: make(map[dwarf.Offset]int, len(w.offs)), origin: w.origin,
		entries: make([]cacheEntry, 0, m.len()), at: make(map[dwarf.Offset][]int, len(w.offs))}
	// A DIE met again under an alias keeps its first place: SystemTap
	// drops the later visits (same entry pc).
	for p := m.next[0]; p >= 0; p = m.next[p] {
		off := w.offs[m.vals[p]]
		if _, seen := o.rank[off]; !seen {
			o.rank[off] = len(o.entries)
		}
		o.at[off] = append(o.at[off], len(o.entries))
		o.entries = append(o.entries, cacheEntry{m.keys[p], off})
	}
	r.orders[cu] = o
	return o, nil
}

// walkUnit collects cu's function cache entries in dwarf_getfuncs order.
func (r *Rules) walkUnit(dw *dwarf.Data, cu *debuginfo.CompUnit) (w *funcWalk, err error) {
	defer func() {
		if p := recover(); p != nil {
			w, err = nil, fmt.Errorf("reading the functions of unit %s: malformed DWARF: %v", cu.Name, p)
		}
	}()
	w = &funcWalk{r: r, dw: dw, c: cLanguages[cu.Language], origin: make(map[dwarf.Offset]dwarf.Offset)}
	rd := dw.Reader()
	rd.Seek(cu.Offset)
	e, err := rd.Next()
	if err != nil {
		return nil, fmt.Errorf("reading the functions of unit %s: %w", cu.Name, err)
	}
	if e != nil && e.Children {
		if err := w.children(rd, nil); err != nil {
			return nil, fmt.Errorf("reading the functions of unit %s: %w", cu.Name, err)
		}
	}
	return w, nil
}

// funcWalk collects, in libdw's dwarf_getfuncs order, the defining
// subprogram DIEs of a unit with their names, and notes the abstract
// origin of every inlined instance it passes.
type funcWalk struct {
	r     *Rules
	dw    *dwarf.Data
	c     bool // a C unit: dwarf_getfuncs prunes non-scope DIEs
	offs  []dwarf.Offset
	names []string
	// linkage is each DIE's DW_AT_linkage_name (integrated), "" if none;
	// inline says it has a DW_AT_inline other than DW_INL_not_inlined.
	linkage []string
	inline  []bool
	origin  map[dwarf.Offset]dwarf.Offset
}

// children visits the children of the entry rd has just returned, as
// libdw's __libdw_visit_scopes does: each child in order, then its own
// children if it is a scope; an imported unit's children are visited in
// its place. imports holds the imported units being walked (cycles).
func (w *funcWalk) children(rd *dwarf.Reader, imports []dwarf.Offset) error {
	for {
		e, err := rd.Next()
		if err != nil {
			return err
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		if e.Tag == dwarf.TagImportedUnit {
			if err := w.imported(e, imports); err != nil {
				return err
			}
		} else {
			w.visit(e)
		}
		if !e.Children {
			continue
		}
		if e.Tag != dwarf.TagImportedUnit && w.descend(e.Tag) {
			if err := w.children(rd, imports); err != nil {
				return err
			}
		} else {
			rd.SkipChildren()
		}
	}
}

// imported walks the children of the unit an imported_unit DIE names,
// unless that is a whole compile unit (libdw skips those).
func (w *funcWalk) imported(e *dwarf.Entry, imports []dwarf.Offset) error {
	off, ok := e.Val(dwarf.AttrImport).(dwarf.Offset)
	if !ok {
		return nil
	}
	for _, o := range imports {
		if o == off {
			return fmt.Errorf("imported unit at %#x imports itself", off)
		}
	}
	rd := w.dw.Reader()
	rd.Seek(off)
	u, err := rd.Next()
	if err != nil || u == nil || u.Tag == dwarf.TagCompileUnit || !u.Children {
		return nil
	}
	return w.children(rd, append(imports, off))
}

// visit records a defining subprogram (not a declaration) under its name
// as dwarf_diename gives it, and an inlined instance's origin.
func (w *funcWalk) visit(e *dwarf.Entry) {
	switch e.Tag {
	case dwarf.TagSubprogram:
		if _, decl := e.Val(dwarf.AttrDeclaration).(bool); decl {
			return
		}
		if name, linkage, ok := w.r.dieNames(w.dw, e); ok {
			w.offs = append(w.offs, e.Offset)
			w.names = append(w.names, name)
			w.linkage = append(w.linkage, linkage)
			inl, _ := e.Val(dwarf.AttrInline).(int64)
			w.inline = append(w.inline, inl != 0)
		}
	case dwarf.TagInlinedSubroutine:
		if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
			w.origin[e.Offset] = o
		}
	}
}

// descend reports whether the walk enters the children of a DIE with this
// tag: libdw's scopes, and in a C unit only subprograms, lexical blocks
// and inlined instances.
func (w *funcWalk) descend(tag dwarf.Tag) bool {
	switch tag {
	case dwarf.TagSubprogram, dwarf.TagLexDwarfBlock, dwarf.TagInlinedSubroutine:
		return true
	case dwarf.TagCompileUnit, dwarf.TagModule, dwarf.TagWithStmt, dwarf.TagCatchDwarfBlock,
		dwarf.TagTryDwarfBlock, dwarf.TagEntryPoint, dwarf.TagNamespace, dwarf.TagClassType,
		dwarf.TagStructType:
		return !w.c
	}
	return false
}

// dieNames returns e's DW_AT_name and DW_AT_linkage_name (or
// DW_AT_MIPS_linkage_name), each following DW_AT_abstract_origin and
// DW_AT_specification as libdw's dwarf_attr_integrate does; ok is false
// when e has no name.
func (r *Rules) dieNames(dw *dwarf.Data, e *dwarf.Entry) (name, linkage string, ok bool) {
	for hops := 0; hops < 16; hops++ {
		if linkage == "" {
			linkage = entryLinkage(e)
		}
		if n, ok := e.Val(dwarf.AttrName).(string); ok && name == "" {
			name = n
		}
		if name != "" && linkage != "" {
			break
		}
		next, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			if next, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset); !ok {
				break
			}
		}
		if d, ok := r.names[next]; ok {
			if name == "" {
				name = d.name
			}
			if linkage == "" {
				linkage = d.linkage
			}
			break
		}
		rd := dw.Reader()
		rd.Seek(next)
		n, err := rd.Next()
		if err != nil || n == nil {
			break
		}
		if n.Val(dwarf.AttrAbstractOrigin) == nil && n.Val(dwarf.AttrSpecification) == nil {
			nn, _ := n.Val(dwarf.AttrName).(string)
			r.names[next] = dieNameAttrs{nn, entryLinkage(n)}
		}
		e = n
	}
	return name, linkage, name != ""
}

// dieNameAttrs are the name attributes of a DIE that integrated lookups
// end at (one without an origin or specification of its own).
type dieNameAttrs struct{ name, linkage string }

// entryLinkage returns e's own linkage name attribute, "" if none.
func entryLinkage(e *dwarf.Entry) string {
	if s, ok := e.Val(dwarf.AttrLinkageName).(string); ok {
		return s
	}
	if s, ok := e.Val(attrMIPSLinkageName).(string); ok {
		return s
	}
	return ""
}

// Order sorts fns (in .debug_info order, from d) into the order SystemTap
// meets them: unit by unit, and inside a unit in the unit's function
// cache order (unitOrder), inlined instances in DIE order at the place of
// their abstract function. Units with a single function are left alone.
// keyMatch, when not nil, says which cache names the pattern selects: a
// function then takes the place of its first entry under such a name.
func (r *Rules) Order(d *debuginfo.Data, fns []*debuginfo.Function, keyMatch func(string) bool) ([]*debuginfo.Function, error) {
	count := make(map[*debuginfo.CompUnit]int)
	for _, fn := range fns {
		count[fn.CU]++
	}
	type keyed struct {
		fn   *debuginfo.Function
		rank int
		idx  int
	}
	ks := make([]keyed, len(fns))
	for i, fn := range fns {
		ks[i] = keyed{fn, -1, i}
		if count[fn.CU] < 2 {
			continue
		}
		o, err := r.unitOrder(d.DWARF, fn.CU)
		if err != nil {
			return nil, err
		}
		k, ok := o.key(fn)
		if keyMatch != nil {
			if kk, found := o.keyRank(fn, keyMatch); found {
				k, ok = kk, true
			}
		}
		if ok {
			ks[i].rank = k
		} else {
			// Not met by the walk (libdw would not list it): after
			// the others, in DIE order.
			ks[i].rank = len(o.rank)
		}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.fn.CU != b.fn.CU {
			return a.fn.CU.Offset < b.fn.CU.Offset
		}
		return a.rank < b.rank
	})
	out := make([]*debuginfo.Function, len(ks))
	for i, k := range ks {
		out[i] = k.fn
	}
	return out, nil
}

// attrMIPSLinkageName is DW_AT_MIPS_linkage_name, which older gcc emits
// instead of DW_AT_linkage_name (debug/dwarf has no name for it).
const attrMIPSLinkageName dwarf.Attr = 0x2007
