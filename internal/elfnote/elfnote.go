// Package elfnote reads the GNU build-id note of an ELF file, which the
// target package uses to find separate debug files and the debuginfod
// client uses to check what servers send.
package elfnote

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// ntGNUBuildID is the note type of a GNU build-id.
const ntGNUBuildID = 3

// maxNote bounds the note data read, against hostile headers.
const maxNote = 1 << 20

// BuildID returns the descriptor of ef's GNU build-id note, looking in note
// sections first and in PT_NOTE segments when section headers are gone; nil
// when there is none. debug/elf panics on some malformed files: those read
// as "no build-id".
func BuildID(ef *elf.File) (id []byte) {
	defer func() {
		if recover() != nil {
			id = nil
		}
	}()
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOTE || s.Size > maxNote {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		if id := Find(data, ef.ByteOrder); id != nil {
			return id
		}
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > maxNote {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		if id := Find(data, ef.ByteOrder); id != nil {
			return id
		}
	}
	return nil
}

// Find walks the notes in data (namesz, descsz, type, then name and
// descriptor each padded to 4 bytes) and returns a copy of the descriptor
// of the "GNU" build-id note, or nil.
func Find(data []byte, order binary.ByteOrder) []byte {
	align := func(n uint64) uint64 { return (n + 3) &^ 3 }
	for len(data) >= 12 {
		namesz := uint64(order.Uint32(data[0:]))
		descsz := uint64(order.Uint32(data[4:]))
		typ := order.Uint32(data[8:])
		rest := data[12:]
		if align(namesz) > uint64(len(rest)) {
			return nil
		}
		name := rest[:namesz]
		rest = rest[align(namesz):]
		if descsz > uint64(len(rest)) {
			return nil
		}
		if typ == ntGNUBuildID && bytes.Equal(name, []byte("GNU\x00")) && descsz > 0 {
			return bytes.Clone(rest[:descsz])
		}
		if align(descsz) >= uint64(len(rest)) {
			return nil
		}
		data = rest[align(descsz):]
	}
	return nil
}
