package target

import (
	"debug/elf"
	"fmt"
	"os"
)

// codeSegment returns the executable PT_LOAD segment whose file image
// contains va. Addresses in the memory-only tail of a segment (Memsz beyond
// Filesz) have no file offset, so they do not count.
func (f *File) codeSegment(va uint64) (*elf.Prog, error) {
	for _, p := range f.ELF.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		if va >= p.Vaddr && va-p.Vaddr < p.Filesz {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%s: %#x: %w", f.Path, va, ErrNotCode)
}

// FileOffset converts a link-time virtual address, as found in DWARF and
// symbol tables, to the file offset that uprobes are attached at. The two
// differ by the executable segment's Vaddr-Off delta, which is not zero in
// binaries linked with separate code segments (-z separate-code, the
// default on Linux).
func (f *File) FileOffset(va uint64) (uint64, error) {
	p, err := f.codeSegment(va)
	if err != nil {
		return 0, err
	}
	return va - p.Vaddr + p.Off, nil
}

// Code reads n bytes of machine code at link-time address va from the
// binary itself: a separate debug file keeps .text only as a NOBITS
// placeholder. The range must lie within one executable segment.
func (f *File) Code(va uint64, n int) ([]byte, error) {
	p, err := f.codeSegment(va)
	if err != nil {
		return nil, err
	}
	if n < 0 || uint64(n) > p.Filesz-(va-p.Vaddr) {
		return nil, fmt.Errorf("%s: reading %d bytes at %#x: %w", f.Path, n, va, ErrNotCode)
	}
	if f.osFile == nil {
		return nil, fmt.Errorf("%s: reading code: %w", f.Path, os.ErrClosed)
	}
	buf := make([]byte, n)
	if _, err := f.osFile.ReadAt(buf, int64(va-p.Vaddr+p.Off)); err != nil {
		return nil, fmt.Errorf("%s: reading %d bytes at %#x: %w", f.Path, n, va, err)
	}
	return buf, nil
}
