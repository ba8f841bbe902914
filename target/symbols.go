package target

import (
	"debug/elf"
	"slices"
	"sort"
	"strings"
)

// Symbol is a function symbol from the ELF symbol tables.
type Symbol struct {
	Name  string
	Value uint64 // link-time address
	Size  uint64
}

// Symbols returns the defined function symbols (STT_FUNC) of the binary's
// .symtab, the debug file's .symtab (which survives stripping the binary)
// and .dynsym, without duplicates, sorted by address then name. Listing
// uses them for functions that have no DWARF. Unreadable tables are
// ignored: symbols are a fallback, not a requirement.
func (f *File) Symbols() []Symbol {
	f.symOnce.Do(func() {
		type key struct {
			name  string
			value uint64
		}
		seen := map[key]int{}
		add := func(syms []elf.Symbol) {
			for _, s := range syms {
				if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF || s.Name == "" || s.Name[0] == '@' {
					continue
				}
				// .symtab spells versioned symbols "name@@VERSION";
				// probe points name the function alone, as .dynsym does.
				name, _, _ := strings.Cut(s.Name, "@")
				k := key{name, s.Value}
				if i, ok := seen[k]; ok {
					f.syms[i].Size = max(f.syms[i].Size, s.Size)
					continue
				}
				seen[k] = len(f.syms)
				f.syms = append(f.syms, Symbol{Name: name, Value: s.Value, Size: s.Size})
			}
		}
		add(safeSymbols(f.ELF.Symbols))
		if f.Debug != nil && f.Debug != f.ELF {
			add(safeSymbols(f.Debug.Symbols))
		}
		add(safeSymbols(f.ELF.DynamicSymbols))
		sort.Slice(f.syms, func(i, j int) bool {
			a, b := f.syms[i], f.syms[j]
			if a.Value != b.Value {
				return a.Value < b.Value
			}
			return a.Name < b.Name
		})
	})
	return slices.Clone(f.syms)
}

// safeSymbols calls a debug/elf symbol reader, treating errors and panics
// as an empty table.
func safeSymbols(read func() ([]elf.Symbol, error)) (syms []elf.Symbol) {
	defer func() {
		if recover() != nil {
			syms = nil
		}
	}()
	syms, _ = read()
	return syms
}

// SymbolTable returns the one ELF symbol table that libdwfl's find_symtab
// reads, as SystemTap sees it: the binary's .symtab, else the debug file's
// .symtab, else the binary's .dynsym. Every entry is kept as the table has
// it (all types, names with any "@VERSION"). An unreadable table is empty:
// the listing only refines its order with it.
func (f *File) SymbolTable() []elf.Symbol {
	switch {
	case hasSymbols(f.ELF, elf.SHT_SYMTAB):
		return safeSymbols(f.ELF.Symbols)
	case f.Debug != nil && f.Debug != f.ELF && hasSymbols(f.Debug, elf.SHT_SYMTAB):
		return safeSymbols(f.Debug.Symbols)
	default:
		return safeSymbols(f.ELF.DynamicSymbols)
	}
}

// hasSymbols reports whether ef has a section of type typ with entries.
func hasSymbols(ef *elf.File, typ elf.SectionType) bool {
	for _, s := range ef.Sections {
		if s.Type == typ && s.Entsize != 0 {
			return true
		}
	}
	return false
}
