package target

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/whythefail/whythefail/internal/elfnote"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// elfMagic starts every ELF file.
var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// openELF opens path and parses its ELF headers, checking that every section
// and segment lies within the file so that truncated copies are reported up
// front instead of as odd read errors later.
func openELF(path string) (*os.File, *elf.File, int64, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, err // *PathError names the file
	}
	ef, size, err := parseELF(osf)
	if err != nil {
		osf.Close()
		return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return osf, ef, size, nil
}

// parseELF reads the ELF headers of an opened file.
func parseELF(osf *os.File) (*elf.File, int64, error) {
	st, err := osf.Stat()
	if err != nil {
		return nil, 0, err
	}
	if st.IsDir() {
		return nil, 0, fmt.Errorf("%w: it is a directory", ErrNotELF)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%w: not a regular file (%s)", ErrNotELF, st.Mode().Type())
	}
	magic := make([]byte, len(elfMagic))
	if _, err := osf.ReadAt(magic, 0); err != nil || !bytes.Equal(magic, elfMagic) {
		return nil, 0, fmt.Errorf("%w: name an executable or shared library", ErrNotELF)
	}
	ef, err := safeNewELF(osf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, fmt.Errorf("%w: headers extend past the end of the file (%d bytes)", ErrBadELF, st.Size())
	}
	if err != nil {
		return nil, 0, err
	}
	if err := checkExtents(ef, st.Size()); err != nil {
		return nil, 0, err
	}
	return ef, st.Size(), nil
}

// safeNewELF parses ELF headers, turning the panics debug/elf can raise on
// hostile input into errors.
func safeNewELF(r io.ReaderAt) (ef *elf.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			ef, err = nil, fmt.Errorf("%w: %v", ErrBadELF, p)
		}
	}()
	ef, err = elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadELF, err)
	}
	return ef, nil
}

// safeDWARF loads the DWARF sections of src, turning debug/dwarf panics
// into errors. The dwarf.Data may still be being built when it returns
// (Sections.Data). It reads them through dwarfsec, and the File keeps the
// decompressed sections for debuginfo.Load (DWARFSections): ef.DWARF()
// would decompress them a second time.
func safeDWARF(src dwarfsec.Source) (d *dwarfsec.Sections, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("%w: %v", ErrBadDebugInfo, p)
		}
	}()
	secs, err := dwarfsec.Read(src)
	if errors.Is(err, dwarfsec.ErrUnsupported) {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedDebugInfo, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDebugInfo, err)
	}
	return secs, nil
}

// safeSectionData reads a section (decompressing it if needed) without
// letting a malformed compression header panic.
func safeSectionData(s *elf.Section) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("reading section %s: %v", s.Name, p)
		}
	}()
	data, err = s.Data()
	if err != nil {
		return nil, fmt.Errorf("reading section %s: %w", s.Name, err)
	}
	return data, nil
}

// checkExtents reports sections and segments that extend past the end of
// the file: the mark of a truncated copy.
func checkExtents(ef *elf.File, size int64) error {
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		if end := s.Offset + s.FileSize; end < s.Offset || end > uint64(size) {
			return fmt.Errorf("%w: section %s ends at byte %d but the file has %d bytes", ErrBadELF, s.Name, end, size)
		}
	}
	for i, p := range ef.Progs {
		if end := p.Off + p.Filesz; end < p.Off || end > uint64(size) {
			return fmt.Errorf("%w: segment %d ends at byte %d but the file has %d bytes", ErrBadELF, i, end, size)
		}
	}
	return nil
}

// checkTarget accepts only what whythefail can probe: 64-bit little-endian
// x86 executables and shared objects.
func checkTarget(ef *elf.File) error {
	if ef.Machine != elf.EM_X86_64 || ef.Class != elf.ELFCLASS64 || ef.Data != elf.ELFDATA2LSB {
		return fmt.Errorf("%w %s (%s): only x86-64 binaries are supported", ErrUnsupportedArch, ef.Machine, ef.Class)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return fmt.Errorf("%w (ELF type %s)", ErrNotExecutable, ef.Type)
	}
	return nil
}

// buildID returns the GNU build-id note's descriptor.
func buildID(ef *elf.File) []byte { return elfnote.BuildID(ef) }
