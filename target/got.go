package target

import (
	"debug/elf"
	"encoding/binary"
	"strings"
)

// rX8664GlobDat is R_X86_64_GLOB_DAT: the dynamic linker writes a symbol's
// address into a GOT slot.
const rX8664GlobDat = 6

// GOTSlot returns the link-time address of the GOT slot through which the
// binary's own code reaches the data symbol name defined at addr, when it
// has one. A shared library reaches its exported variables through the
// GOT because the executable may hold the real copy (an R_X86_64_COPY
// relocation): the variable is then wherever the slot points, and the
// library's own definition at addr is a stale initial image.
func (f *File) GOTSlot(name string, addr uint64) (uint64, bool) {
	f.gotOnce.Do(f.readGOT)
	slot, ok := f.got[gotKey{name, addr}]
	return slot, ok
}

type gotKey struct {
	name string
	addr uint64
}

// readGOT indexes the GLOB_DAT relocations of .rela.dyn by symbol. An
// unreadable table leaves the index empty: variables are then read at
// their own address, as before.
func (f *File) readGOT() {
	f.got = map[gotKey]uint64{}
	syms, err := f.ELF.DynamicSymbols()
	if err != nil {
		return
	}
	for _, s := range f.ELF.Sections {
		if s.Type != elf.SHT_RELA || s.Flags&elf.SHF_ALLOC == 0 || s.Entsize != 24 {
			continue
		}
		data, err := safeSectionData(s)
		if err != nil {
			continue
		}
		for off := 0; off+24 <= len(data); off += 24 {
			where := binary.LittleEndian.Uint64(data[off:])
			info := binary.LittleEndian.Uint64(data[off+8:])
			sym, typ := info>>32, uint32(info)
			if typ != rX8664GlobDat || sym == 0 || sym > uint64(len(syms)) {
				continue
			}
			ds := syms[sym-1] // DynamicSymbols drops the null symbol 0
			if ds.Section == elf.SHN_UNDEF || elf.ST_TYPE(ds.Info) != elf.STT_OBJECT {
				continue
			}
			name, _, _ := strings.Cut(ds.Name, "@")
			f.got[gotKey{name, ds.Value}] = where
		}
	}
}
