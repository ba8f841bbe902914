package dwarfsec

import (
	"debug/elf"
	"encoding/binary"
	"io"

	kzlib "github.com/klauspost/compress/zlib"
)

// chdrSize is the size of an Elf64_Chdr.
const chdrSize = 24

// openSection returns a reader of sec's decompressed bytes: through raw
// and klauspost's zlib for zlib-compressed sections of 64-bit files when
// raw is known, else through debug/elf.
func openSection(sec *elf.Section, raw io.ReaderAt, order binary.ByteOrder, class elf.Class) io.Reader {
	if raw == nil || sec.Flags&elf.SHF_COMPRESSED == 0 || class != elf.ELFCLASS64 || sec.FileSize < chdrSize {
		return sec.Open()
	}
	var hdr [chdrSize]byte
	if _, err := raw.ReadAt(hdr[:], int64(sec.Offset)); err != nil {
		return sec.Open()
	}
	if elf.CompressionType(order.Uint32(hdr[0:])) != elf.COMPRESS_ZLIB || order.Uint64(hdr[8:]) != sec.Size {
		return sec.Open()
	}
	zr, err := kzlib.NewReader(io.NewSectionReader(raw, int64(sec.Offset)+chdrSize, int64(sec.FileSize)-chdrSize))
	if err != nil {
		return sec.Open()
	}
	return zr
}
