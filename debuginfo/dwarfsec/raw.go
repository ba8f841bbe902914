package dwarfsec

import (
	"debug/elf"
	"encoding/binary"
	"io"
	"runtime"
	"sync"
	"weak"

	kzlib "github.com/klauspost/compress/zlib"
)

// raws maps files, weakly, to a reader of their raw bytes. With it,
// zlib-compressed sections (Debian's debug packages) are inflated with
// klauspost/compress, about a quarter faster than the standard library's
// inflater behind elf.Section.Open; .debug_info is the longest step of
// loading a packaged debug file.
var raws fileMap[io.ReaderAt]

// SetRaw tells the package where ef's bytes can be read directly (the
// file it was parsed from). Optional: without it sections are read
// through debug/elf.
func SetRaw(ef *elf.File, r io.ReaderAt) { raws.set(ef, r) }

func rawFor(ef *elf.File) io.ReaderAt { return raws.get(ef) }

// fileMap maps ELF files, weakly, to what the package was told about
// them: an entry goes when its file is garbage collected. Values must not
// point back to their file. Safe for concurrent use.
type fileMap[V any] struct {
	mu sync.Mutex
	m  map[weak.Pointer[elf.File]]V
}

func (fm *fileMap[V]) set(ef *elf.File, v V) {
	k := weak.Make(ef)
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.m == nil {
		fm.m = make(map[weak.Pointer[elf.File]]V)
	}
	if _, ok := fm.m[k]; !ok {
		runtime.AddCleanup(ef, func(k weak.Pointer[elf.File]) {
			fm.mu.Lock()
			delete(fm.m, k)
			fm.mu.Unlock()
		}, k)
	}
	fm.m[k] = v
}

func (fm *fileMap[V]) get(ef *elf.File) V {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	return fm.m[weak.Make(ef)]
}

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
