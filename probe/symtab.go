package probe

import (
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
// function collects a shared line address first. stapSymtab holds what
// that needs.

// stapSymtab is the ELF symbol table as SystemTap indexes it: the STT_FUNC
// symbols in table order, by name (defined ones only, as lookup_symbol
// filters them) and by address.
type stapSymtab struct {
	names  []string
	addrs  []uint64
	byName map[string][]int
	byAddr map[uint64][]int
}

// symbolTable returns the table SystemTap reads, nil when there is none.
func (r *Resolver) symbolTable() *stapSymtab {
	if !r.symtabDone {
		r.symtabDone = true
		r.symtab = newStapSymtab(r.Bin.SymbolTable())
	}
	return r.symtab
}

// newStapSymtab indexes the table SystemTap reads (target.File's
// SymbolTable, which picks it as libdwfl's find_symtab does). Names are
// kept as the string table spells them (with any "@VERSION"), since
// SystemTap compares them as they are.
func newStapSymtab(syms []elf.Symbol) *stapSymtab {
	if len(syms) == 0 {
		return nil
	}
	t := &stapSymtab{byName: make(map[string][]int), byAddr: make(map[uint64][]int)}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		i := len(t.names)
		t.names = append(t.names, s.Name)
		t.addrs = append(t.addrs, s.Value)
		t.byAddr[s.Value] = append(t.byAddr[s.Value], i)
		if s.Section != elf.SHN_UNDEF {
			t.byName[s.Name] = append(t.byName[s.Name], i)
		}
	}
	return t
}

// addAliases does module_info::update_symtab on a unit's function cache
// m, whose values index w's DIEs: it walks m in its order and, for each
// DIE that is not an abstract inline function, collects every other
// symbol at the address of each symbol named like the DIE into a
// separate multimap, whose elements are then inserted into m at once.
func (r *Resolver) addAliases(m *stlMultimap, w *funcWalk) {
	t := r.symbolTable()
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
		for _, fi := range t.byName[name] {
			for _, s := range t.byAddr[t.addrs[fi]] {
				if s != fi {
					extra.insert(t.names[s], i)
				}
			}
		}
	}
	m.insertAll(extra)
}

// aliasKeys returns the extra names under which update_symtab files the
// out-of-line function fn in its unit's cache: every other STT_FUNC
// symbol at the address of each symbol named like fn (linkage name, else
// name), in the order addAliases meets them, duplicates kept.
func (r *Resolver) aliasKeys(fn *debuginfo.Function) []string {
	t := r.symbolTable()
	if t == nil || fn.Inlined {
		return nil
	}
	name := fn.LinkageName
	if name == "" {
		name = fn.Name
	}
	var out []string
	for _, fi := range t.byName[name] {
		for _, s := range t.byAddr[t.addrs[fi]] {
			if s != fi {
				out = append(out, t.names[s])
			}
		}
	}
	return out
}

// dieSymbolAddrs returns the addresses whose symbols update_symtab ties
// to a DIE: those of the symbols named like a function cache entry that
// is not an abstract inline function (linkage name, else name), whether
// or not the DIE has code (genops.c's _IO_default_showmanyc has none,
// yet its symbol is not listed). SystemTap builds every unit's cache
// before it reads the symbol table for function("PAT") (each unit for a
// wildcard, the module-wide cache for a plain name), and lists no symbol
// with a DIE, so __GI___libc_malloc, an alias that no cache key names
// (the DIE's linkage name is __GI___libc_malloc itself), is not listed.
func (r *Resolver) dieSymbolAddrs() (map[uint64]bool, error) {
	if r.dieAddrs != nil {
		return r.dieAddrs, nil
	}
	addrs := make(map[uint64]bool)
	t := r.symbolTable()
	if t == nil || r.Data == nil {
		r.dieAddrs = addrs
		return addrs, nil
	}
	for _, cu := range r.Data.CUs {
		w, err := r.walkUnit(cu)
		if err != nil {
			return nil, err
		}
		for i, key := range w.names {
			if w.inline[i] {
				continue
			}
			name := w.linkage[i]
			if name == "" {
				name = key
			}
			for _, fi := range t.byName[name] {
				addrs[t.addrs[fi]] = true
			}
		}
	}
	r.dieAddrs = addrs
	return addrs, nil
}

// symtabOrder sorts syms (by address) as SystemTap walks its symbol
// table, map_by_addr: by address, then in the order of the table
// SystemTap reads, so of several symbols at one address the first in that
// table is the one listed (__gttf2, not __getf2). Symbols not in that
// table come last at their address, by name.
func (r *Resolver) symtabOrder(syms []target.Symbol) {
	t := r.symbolTable()
	if t == nil {
		return
	}
	type key struct {
		name string
		addr uint64
	}
	rank := make(map[key]int, len(t.names))
	for i, n := range t.names {
		n, _, _ = strings.Cut(n, "@")
		k := key{n, t.addrs[i]}
		if _, ok := rank[k]; !ok {
			rank[k] = i
		}
	}
	at := func(s target.Symbol) int {
		if i, ok := rank[key{s.Name, s.Value}]; ok {
			return i
		}
		return len(t.names)
	}
	sort.SliceStable(syms, func(i, j int) bool {
		if syms[i].Value != syms[j].Value {
			return syms[i].Value < syms[j].Value
		}
		return at(syms[i]) < at(syms[j])
	})
}
