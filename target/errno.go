package target

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/whythefail/whythefail/internal/elfnote"
)

// rX8664TPOff64 is R_X86_64_TPOFF64: the dynamic linker writes a TLS
// variable's offset from the thread pointer into a GOT slot.
const rX8664TPOff64 = 18

// dtDebug is DT_DEBUG: the dynamic linker stores the address of its
// r_debug structure in this entry of the executable's .dynamic.
const dtDebug = 21

// LibcErrno is what a process needs to find glibc's errno, read from the
// libc binary: glibc keeps errno in thread-local storage, at the thread
// pointer plus an offset that the dynamic linker fixes when it loads libc
// and writes into a GOT slot (the R_X86_64_TPOFF64 relocation
// __errno_location reads). All addresses are link-time: add libc's load
// bias.
type LibcErrno struct {
	// GOT is the address of the slot holding errno's offset from the
	// thread pointer once libc is loaded.
	GOT uint64
	// Dynamic is the address of libc's .dynamic section; a link_map's
	// l_ld holds it relocated, which identifies libc's entry in the
	// dynamic linker's list of loaded objects.
	Dynamic uint64
	// BuildID and BuildIDAddr are libc's build-id and where its bytes
	// are loaded: a process whose libc carries another build-id has
	// another GOT layout. BuildIDAddr is 0 when the note is not loaded.
	BuildID     []byte
	BuildIDAddr uint64
}

// LibcErrno finds errno's TLS slot in f, a glibc libc.so: the TLS symbol
// errno (or __libc_errno, its older name) and the TPOFF64 relocation of
// the GOT slot that holds its offset. A binary without them is not a libc
// that keeps errno this way, and the error says what is missing.
func (f *File) LibcErrno() (LibcErrno, error) {
	var le LibcErrno
	notLibc := fmt.Errorf("%s defines no thread-local errno: it is not glibc's libc", f.Path)
	syms, err := f.ELF.DynamicSymbols()
	if err != nil {
		return le, notLibc
	}
	symIdx, value := -1, uint64(0)
	for i, s := range syms {
		name, _, _ := strings.Cut(s.Name, "@")
		if elf.ST_TYPE(s.Info) == elf.STT_TLS && s.Section != elf.SHN_UNDEF && (name == "errno" || name == "__libc_errno") {
			symIdx, value = i+1, s.Value // DynamicSymbols drops the null symbol 0
			break
		}
	}
	if symIdx < 0 {
		return le, notLibc
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
			addend := binary.LittleEndian.Uint64(data[off+16:])
			sym, typ := info>>32, uint32(info)
			if typ != rX8664TPOff64 {
				continue
			}
			// Within libc the relocation is local: no symbol, the
			// variable's offset in the TLS block as the addend.
			if (sym == uint64(symIdx) && addend == 0) || (sym == 0 && addend == value) {
				if le.GOT == 0 || where < le.GOT {
					le.GOT = where
				}
			}
		}
	}
	if le.GOT == 0 {
		return le, fmt.Errorf("%s has no GOT slot for errno's thread-pointer offset (no R_X86_64_TPOFF64 relocation of it)", f.Path)
	}
	for _, p := range f.ELF.Progs {
		if p.Type == elf.PT_DYNAMIC {
			le.Dynamic = p.Vaddr
		}
	}
	if le.Dynamic == 0 {
		return le, fmt.Errorf("%s has no dynamic section", f.Path)
	}
	le.BuildID, le.BuildIDAddr = loadedBuildID(f.ELF)
	return le, nil
}

// loadedBuildID returns the build-id and the link-time address of its
// bytes in a note section that is loaded (SHF_ALLOC), or nil and 0.
func loadedBuildID(ef *elf.File) ([]byte, uint64) {
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_NOTE || s.Flags&elf.SHF_ALLOC == 0 || s.Size > 1<<16 {
			continue
		}
		data, err := safeSectionData(s)
		if err != nil {
			continue
		}
		// One note per section is the norm for .note.gnu.build-id; walk
		// them anyway, tracking each descriptor's position.
		for pos := 0; pos+12 <= len(data); {
			namesz := int(binary.LittleEndian.Uint32(data[pos:]))
			descsz := int(binary.LittleEndian.Uint32(data[pos+4:]))
			if namesz < 0 || descsz < 0 || namesz > len(data) || descsz > len(data) {
				break
			}
			desc := pos + 12 + (namesz+3)&^3
			end := desc + (descsz+3)&^3
			if end > len(data) || desc+descsz > len(data) {
				break
			}
			if id := elfnote.Find(data[pos:end], binary.LittleEndian); id != nil && descsz == len(id) {
				return id, s.Addr + uint64(desc)
			}
			pos = end
		}
	}
	return nil, 0
}

// IsExecutable reports whether f is a program rather than a shared
// library: an ET_EXEC file, a position-independent one that names an
// interpreter (PT_INTERP; libc.so.6, which can be run, is one too), or a
// static PIE.
func (f *File) IsExecutable() bool {
	if f.ELF.Type == elf.ET_EXEC || f.IsStatic() {
		return true
	}
	for _, p := range f.ELF.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// IsStatic reports whether f is a statically linked program: an ET_EXEC
// file without an interpreter, or a static PIE (ET_DYN with an entry point
// but no interpreter, no DT_NEEDED and no DT_SONAME, which tells it from a
// shared library).
func (f *File) IsStatic() bool {
	for _, p := range f.ELF.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	switch f.ELF.Type {
	case elf.ET_EXEC:
		return true
	case elf.ET_DYN:
		if f.ELF.Entry == 0 {
			return false
		}
		for _, tag := range []elf.DynTag{elf.DT_NEEDED, elf.DT_SONAME} {
			if vals, err := f.ELF.DynString(tag); err != nil || len(vals) > 0 {
				return false
			}
		}
		return true
	}
	return false
}

// DebugEntry returns the link-time address of the value of the DT_DEBUG
// entry of f's .dynamic, where the dynamic linker stores the address of
// its r_debug (whose r_map lists the loaded objects), and whether f has one.
func (f *File) DebugEntry() (uint64, bool) {
	for _, p := range f.ELF.Progs {
		if p.Type != elf.PT_DYNAMIC || p.Filesz > 1<<20 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			return 0, false
		}
		for off := 0; off+16 <= len(data); off += 16 {
			tag := binary.LittleEndian.Uint64(data[off:])
			if tag == 0 {
				break
			}
			if tag == dtDebug {
				return p.Vaddr + uint64(off) + 8, true
			}
		}
	}
	return 0, false
}

// StaticErrno returns errno's offset from the thread pointer in a
// statically linked glibc program, where errno lives in the program's own
// TLS block: the linker placed that block just below the thread pointer
// (x86-64 TLS variant II), at the block's size rounded up to its
// alignment, and glibc's start-up code puts it there too.
func (f *File) StaticErrno() (int64, error) {
	var tls *elf.Prog
	for _, p := range f.ELF.Progs {
		if p.Type == elf.PT_TLS {
			tls = p
		}
	}
	if tls == nil {
		return 0, fmt.Errorf("%s has no thread-local storage", f.Path)
	}
	var syms []elf.Symbol
	for _, e := range []*elf.File{f.ELF, f.Debug} {
		if e == nil {
			continue
		}
		if s, err := e.Symbols(); err == nil {
			syms = append(syms, s...)
		}
	}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_TLS || s.Section == elf.SHN_UNDEF || (s.Name != "errno" && s.Name != "__libc_errno") {
			continue
		}
		align := max(tls.Align, 1)
		size := (tls.Memsz + align - 1) / align * align
		if s.Value >= tls.Memsz || size > 1<<30 {
			return 0, fmt.Errorf("%s: errno lies outside its TLS segment", f.Path)
		}
		return int64(s.Value) - int64(size), nil
	}
	return 0, fmt.Errorf("%s has no thread-local errno symbol (is it linked with glibc, and not stripped?)", f.Path)
}

// libcDirs are where Debian and most distributions install libc.so.6.
var libcDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// FindLibc returns the path of the libc.so.6 that program f loads: the
// first found in its DT_RUNPATH or DT_RPATH directories, then in the
// usual system directories. A program run with another libc (through
// LD_LIBRARY_PATH, say) has another build-id, which the generated
// programs check before trusting what they read.
func (f *File) FindLibc() (string, error) { return f.FindLibrary("libc.so.6") }

// FindLibrary returns the path of the shared library soname (a DT_NEEDED
// entry) that f loads, searched as FindLibc searches libc.so.6.
func (f *File) FindLibrary(soname string) (string, error) {
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, err := f.ELF.DynString(tag)
		if err != nil {
			continue
		}
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(d, "$ORIGIN", filepath.Dir(f.Path))
				d = strings.ReplaceAll(d, "${ORIGIN}", filepath.Dir(f.Path))
				if d != "" {
					dirs = append(dirs, d)
				}
			}
		}
	}
	if strings.Contains(soname, "/") {
		dirs, soname = []string{filepath.Dir(soname)}, filepath.Base(soname)
	}
	for _, d := range append(dirs, libcDirs...) {
		p := filepath.Join(d, soname)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New(soname + " not found in the program's run paths nor in " + strings.Join(libcDirs, ", "))
}
