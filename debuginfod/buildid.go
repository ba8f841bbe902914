package debuginfod

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// elfBuildID returns the GNU build-id of the ELF file in r, or nil when it
// has none. debug/elf can panic on hostile input, and downloads are
// untrusted, so panics become errors.
func elfBuildID(r io.ReaderAt) (id []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			id, err = nil, fmt.Errorf("malformed ELF file: %v", p)
		}
	}()
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("not a valid ELF file: %w", err)
	}
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOTE || s.Size > 1<<20 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		if id := noteBuildID(data, ef.ByteOrder); id != nil {
			return id, nil
		}
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		if id := noteBuildID(data, ef.ByteOrder); id != nil {
			return id, nil
		}
	}
	return nil, nil
}

// noteBuildID finds the NT_GNU_BUILD_ID note (type 3, owner "GNU") in a
// note section's bytes; each name and descriptor is padded to 4 bytes.
func noteBuildID(data []byte, order binary.ByteOrder) []byte {
	pad := func(n uint64) uint64 { return (n + 3) &^ 3 }
	for len(data) >= 12 {
		namesz, descsz := uint64(order.Uint32(data)), uint64(order.Uint32(data[4:]))
		typ := order.Uint32(data[8:])
		data = data[12:]
		if pad(namesz) > uint64(len(data)) {
			return nil
		}
		name := data[:namesz]
		data = data[pad(namesz):]
		if descsz > uint64(len(data)) {
			return nil
		}
		if typ == 3 && bytes.Equal(name, []byte("GNU\x00")) && descsz > 0 {
			return bytes.Clone(data[:descsz])
		}
		if pad(descsz) > uint64(len(data)) {
			return nil
		}
		data = data[pad(descsz):]
	}
	return nil
}
