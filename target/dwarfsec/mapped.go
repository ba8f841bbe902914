package dwarfsec

import (
	"debug/elf"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// mapAbove is the size of an uncompressed .debug_info from which Read
// maps the file instead of reading its sections: a vmlinux carries
// 600 MB of DWARF, which copying into the heap costs more time than any
// one listing spends on it, and a listing whose units the build-id
// cache's function index names touches only a few pages of it.
const mapAbove = 64 << 20

// mappable returns the file behind raw when ef's DWARF is plain enough to
// be mapped: a .debug_info of at least mapAbove bytes, and no compressed,
// .zdebug or .debug_types section, nor a relocatable file.
func mappable(ef *elf.File, raw any) *os.File {
	f, ok := raw.(*os.File)
	if !ok || needsDebugElf(ef) {
		return nil
	}
	info := live(ef.Section(".debug_info"))
	if info == nil || info.Size < mapAbove {
		return nil
	}
	for _, sec := range ef.Sections {
		if len(sec.Name) > 7 && sec.Name[:7] == ".debug_" && sec.Flags&elf.SHF_COMPRESSED != 0 {
			return nil
		}
	}
	return f
}

// readMapped is read for a mappable file: the sections are slices of a
// private, writable (copy-on-write) mapping of the whole file, never
// unmapped because they alias it; the abbreviation tables (Abbrevs), the
// outline and the dwarf.Data are built when first asked for (Outline,
// Data), so that a resolver that indexes a few units
// (debuginfo.LoadUnits) reads no more of .debug_info and .debug_abbrev
// than those.
func readMapped(ef *elf.File, f *os.File) (*Sections, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size <= 0 || size != int64(int(size)) {
		return nil, fmt.Errorf("cannot map %d bytes", size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	s := &Sections{Order: ef.ByteOrder, lazyData: new(sync.Once)}
	for _, t := range s.cached() {
		sec := live(ef.Section(t.name))
		if sec == nil {
			continue
		}
		if sec.Offset > uint64(len(data)) || uint64(len(data))-sec.Offset < sec.Size {
			return nil, noDWARF{fmt.Errorf("section %s extends past the end of the file", t.name)}
		}
		*t.dst = data[sec.Offset : sec.Offset+sec.Size : sec.Offset+sec.Size]
	}
	if s.Info == nil || s.Abbrev == nil {
		return nil, noDWARF{fmt.Errorf("no .debug_info or .debug_abbrev")}
	}
	return s, nil
}
