package follow

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"strings"
)

// Rela is one Elf64_Rela relocation: where it applies, its type and
// symbol (Info: symbol << 32 | type), and its addend.
type Rela struct {
	Offset, Info uint64
	Addend       int64
}

// Relas calls fn for each relocation of f's SHT_RELA sections (24-byte
// entries, little-endian), in section and table order; a section whose
// data cannot be read is skipped.
func Relas(f *elf.File, fn func(Rela)) {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Entsize != 24 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for off := 0; off+24 <= len(data); off += 24 {
			fn(Rela{
				Offset: binary.LittleEndian.Uint64(data[off:]),
				Info:   binary.LittleEndian.Uint64(data[off+8:]),
				Addend: int64(binary.LittleEndian.Uint64(data[off+16:])),
			})
		}
	}
}

// rX8664JumpSlot is R_X86_64_JUMP_SLOT: a PLT entry's GOT slot.
const rX8664JumpSlot = 7

// PLTNames names the entries of the PLT sections (.plt.sec, .plt, .plt.got)
// by the symbol of the GOT slot each one jumps through: an entry is
// 16 bytes (8 in .plt.got) holding a `jmp *disp(%rip)` (ff 25, maybe after endbr64 and a
// bnd prefix), and the JUMP_SLOT or GLOB_DAT relocation at the slot names
// the symbol. Entries that do not decode so are left out; an unreadable
// file gives an empty map.
func PLTNames(f *elf.File) map[uint64]string {
	out := map[uint64]string{}
	if f == nil {
		return out
	}
	slots := map[uint64]string{}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return out
	}
	Relas(f, func(r Rela) {
		sym, typ := r.Info>>32, uint32(r.Info)
		if (typ != rX8664JumpSlot && typ != rX8664GlobDat) || sym == 0 || sym > uint64(len(syms)) {
			return
		}
		name, _, _ := strings.Cut(syms[sym-1].Name, "@")
		slots[r.Offset] = name
	})
	for addr, slot := range PLTSlots(f) {
		if n, ok := slots[slot]; ok {
			out[addr] = n
		}
	}
	return out
}

// rX8664GlobDat is R_X86_64_GLOB_DAT (.plt.got entries jump through it).
const rX8664GlobDat = 6

// pltSlots reads the size-byte entries of a PLT section loaded at addr
// and returns, per entry address, the GOT slot its first
// `jmp *disp(%rip)` reads.
func pltSlots(data []byte, addr uint64, size int) map[uint64]uint64 {
	out := map[uint64]uint64{}
	for e := 0; e+size <= len(data); e += size {
		entry := data[e : e+size]
		k := bytes.Index(entry, []byte{0xff, 0x25})
		if k < 0 || k+6 > len(entry) {
			continue
		}
		disp := int32(binary.LittleEndian.Uint32(entry[k+2:]))
		next := addr + uint64(e+k+6)
		out[addr+uint64(e)] = uint64(int64(next) + int64(disp))
	}
	return out
}
