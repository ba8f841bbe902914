package listing

import (
	"debug/dwarf"
	"debug/elf"
	"sort"
	"strings"

	"github.com/whythefail/whythefail/target"

	"github.com/whythefail/whythefail/debuginfo"
)

// SystemTap 4.8 reads the module's ELF symbol table (symbol_table::
// get_from_elf) and, whenever it builds a unit's function cache,
// module_info::update_symtab adds the names of ELF aliases to the cache:
// for every function DIE that is not an abstract inline one, each STT_FUNC
// symbol at the address of a symbol named like the DIE (linkage name, else
// name) becomes one more key mapped to the same DIE. The extra keys change
// the cache's bucket count and iteration order, which decide which of the
// DIEs at one address SystemTap keeps (glibc's assembler units give each
// entry point several DIEs: __clone3, clone3, __GI___clone3) and which
// function collects a shared line address first. Symtab holds what that
// needs.

// Symtab is the ELF symbol table as SystemTap indexes it: the STT_FUNC
// symbols in table order (Names, Addrs), by name (ByName, defined ones
// only, as lookup_symbol filters them) and by address (ByAddr), as
// indexes into Names and Addrs.
type Symtab struct {
	Names  []string
	Addrs  []uint64
	ByName map[string][]int
	ByAddr map[uint64][]int
}

// Symtab returns the table SystemTap reads, nil when there is none.
func (r *Rules) Symtab() *Symtab {
	if !r.symtabDone {
		r.symtabDone = true
		var syms []elf.Symbol
		if r.symbols != nil {
			syms = r.symbols()
		}
		r.symtab = newStapSymtab(syms)
	}
	return r.symtab
}

// newStapSymtab indexes the table SystemTap reads (target's SymbolTable,
// which picks it as libdwfl's find_symtab does). Names are kept as the
// string table spells them (with any "@VERSION"), since SystemTap compares
// them as they are.
func newStapSymtab(syms []elf.Symbol) *Symtab {
	if len(syms) == 0 {
		return nil
	}
	t := &Symtab{ByName: make(map[string][]int), ByAddr: make(map[uint64][]int)}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		i := len(t.Names)
		t.Names = append(t.Names, s.Name)
		t.Addrs = append(t.Addrs, s.Value)
		t.ByAddr[s.Value] = append(t.ByAddr[s.Value], i)
		if s.Section != elf.SHN_UNDEF {
			t.ByName[s.Name] = append(t.ByName[s.Name], i)
		}
	}
	return t
}

// addAliases does module_info::update_symtab on a unit's function cache
// m, whose values index w's DIEs: it walks m in its order and, for each
// DIE that is not an abstract inline function, collects every other
// symbol at the address of each symbol named like the DIE into a
// separate multimap, whose elements are then inserted into m at once.
func (r *Rules) addAliases(m *stlMultimap, w *funcWalk) {
	t := r.Symtab()
	if t == nil {
		return
	}
	extra := newSTLMultimap(0)
	for p := m.next[0]; p >= 0; p = m.next[p] {
		i := m.vals[p]
		if w.inline[i] {
			continue
		}
		name := w.linkage[i]
		if name == "" {
			name = m.keys[p]
		}
		for _, fi := range t.ByName[name] {
			for _, s := range t.ByAddr[t.Addrs[fi]] {
				if s != fi {
					extra.insert(t.Names[s], i)
				}
			}
		}
	}
	m.insertAll(extra)
}

// AliasKeys returns the extra names under which update_symtab files the
// out-of-line function fn in its unit's cache: every other STT_FUNC
// symbol at the address of each symbol named like fn (linkage name, else
// name), in the order addAliases meets them, duplicates kept.
func (r *Rules) AliasKeys(fn *debuginfo.Function) []string {
	t := r.Symtab()
	if t == nil || fn.Inlined {
		return nil
	}
	name := fn.LinkageName
	if name == "" {
		name = fn.Name
	}
	var out []string
	for _, fi := range t.ByName[name] {
		for _, s := range t.ByAddr[t.Addrs[fi]] {
			if s != fi {
				out = append(out, t.Names[s])
			}
		}
	}
	return out
}

// DIESymbolAddrs returns the addresses whose symbols update_symtab ties
// to a DIE of d: those of the symbols named like a function cache entry that
// is not an abstract inline function (linkage name, else name), whether
// or not the DIE has code (genops.c's _IO_default_showmanyc has none,
// yet its symbol is not listed). SystemTap builds every unit's cache
// before it reads the symbol table for function("PAT") (each unit for a
// wildcard, the module-wide cache for a plain name), and lists no symbol
// with a DIE, so __GI___libc_malloc, an alias that no cache key names
// (the DIE's linkage name is __GI___libc_malloc itself), is not listed.
func (r *Rules) DIESymbolAddrs(d *debuginfo.Data) (map[uint64]bool, error) {
	if r.dieAddrs != nil && r.dieAddrsOf == d {
		return r.dieAddrs, nil
	}
	addrs := make(map[uint64]bool)
	t := r.Symtab()
	if t == nil || d == nil {
		r.dieAddrs, r.dieAddrsOf = addrs, d
		return addrs, nil
	}
	for _, cu := range d.CUs {
		w, ok := r.walks[cu]
		if !ok {
			var err error
			if w, err = r.walkUnit(d.DWARF, cu); err != nil {
				return nil, err
			}
		}
		for i, key := range w.names {
			if w.inline[i] {
				continue
			}
			name := w.linkage[i]
			if name == "" {
				name = key
			}
			for _, fi := range t.ByName[name] {
				addrs[t.Addrs[fi]] = true
			}
		}
	}
	r.dieAddrs, r.dieAddrsOf = addrs, d
	return addrs, nil
}

// SortSymbols sorts syms (by address) as SystemTap walks its symbol
// table, map_by_addr: by address, then in the order of the table
// SystemTap reads, so of several symbols at one address the first in that
// table is the one listed (__gttf2, not __getf2). Symbols not in that
// table come last at their address, by name.
func (r *Rules) SortSymbols(syms []target.Symbol) {
	t := r.Symtab()
	if t == nil {
		return
	}
	type key struct {
		name string
		addr uint64
	}
	rank := make(map[key]int, len(t.Names))
	for i, n := range t.Names {
		n, _, _ = strings.Cut(n, "@")
		k := key{n, t.Addrs[i]}
		if _, ok := rank[k]; !ok {
			rank[k] = i
		}
	}
	at := func(s target.Symbol) int {
		if i, ok := rank[key{s.Name, s.Value}]; ok {
			return i
		}
		return len(t.Names)
	}
	sort.SliceStable(syms, func(i, j int) bool {
		if syms[i].Value != syms[j].Value {
			return syms[i].Value < syms[j].Value
		}
		return at(syms[i]) < at(syms[j])
	})
}

// Rules holds what SystemTap's rules need of one target, computed once:
// its symbol table, each unit's function cache order, the names of DIEs.
// A Rules is not safe for concurrent use.
type Rules struct {
	// symbols reads the symbol table SystemTap reads.
	symbols func() []elf.Symbol
	// orders caches unitOrder by unit, names dieNames's lookups.
	orders map[*debuginfo.CompUnit]*unitOrder
	// walks keeps the walks unitOrder made, for DIESymbolAddrs.
	walks map[*debuginfo.CompUnit]*funcWalk
	names map[dwarf.Offset]dieNameAttrs
	// symtab is the symbol table SystemTap reads, built on first use.
	symtab     *Symtab
	symtabDone bool
	// dieAddrs caches DIESymbolAddrs for dieAddrsOf.
	dieAddrs   map[uint64]bool
	dieAddrsOf *debuginfo.Data
}

// New returns the rules of a target whose symbol table (the one SystemTap
// reads, see target.Binary's SymbolTable) symbols returns; it is called
// once, on first use.
func New(symbols func() []elf.Symbol) *Rules {
	return &Rules{symbols: symbols, orders: make(map[*debuginfo.CompUnit]*unitOrder),
		names: make(map[dwarf.Offset]dieNameAttrs)}
}
