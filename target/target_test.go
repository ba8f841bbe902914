package target

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-delve/delve/pkg/dwarf/frame"

	"github.com/whythefail/whythefail/internal/fixture"
)

// variant is one way of compiling testdata/prog.c.
type variant struct {
	cc    string
	flags []string
}

func (v variant) String() string { return fmt.Sprint(v.cc, v.flags) }

var variants = []variant{
	{"gcc", []string{"-g", "-O0", "-pie", "-fPIE"}},
	{"gcc", []string{"-g", "-O2", "-no-pie", "-fno-PIE"}},
	{"gcc", []string{"-g", "-O2", "-pie", "-fPIE"}},
	{"clang", []string{"-g", "-O0", "-no-pie", "-fno-PIE"}},
	{"clang", []string{"-g", "-O2", "-pie", "-fPIE"}},
	// Call-frame information in .debug_frame instead of .eh_frame.
	{"gcc", []string{"-g", "-O2", "-fno-asynchronous-unwind-tables", "-fno-exceptions"}},
}

// noDebugDirs keeps tests from finding files under the real /usr/lib/debug.
var noDebugDirs = Options{DebugDirs: []string{}}

func mustOpen(t *testing.T, path string, opts Options) *File {
	t.Helper()
	f, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// hasFunction reports whether the DWARF has a subprogram called name.
func hasFunction(t *testing.T, d *dwarf.Data, name string) bool {
	t.Helper()
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatalf("reading DWARF: %v", err)
		}
		if e == nil {
			return false
		}
		if e.Tag == dwarf.TagSubprogram && e.Val(dwarf.AttrName) == name {
			return true
		}
	}
}

// symbolValue returns the value of the named symbol in Symbols().
func symbolValue(t *testing.T, f *File, name string) Symbol {
	t.Helper()
	for _, s := range f.Symbols() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s: no symbol %s in Symbols()", f.Path, name)
	return Symbol{}
}

// checkAgainstBinutils cross-checks FileOffset, Code, Symbols and CFA of f
// against nm, readelf -lW and readelf -wF of the file at path (the
// unstripped original, so that nm sees static functions).
func checkAgainstBinutils(t *testing.T, f *File, path string) {
	t.Helper()
	nm := nmSymbols(t, path)
	segs := readelfLoads(t, path)
	raw, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"main", "square", "twice"} {
		want, ok := nm[name]
		if !ok {
			t.Fatalf("nm %s: no %s", path, name)
		}
		sym := symbolValue(t, f, name)
		if sym.Value != want || sym.Size == 0 {
			t.Errorf("symbol %s = %#x size %d, nm says %#x", name, sym.Value, sym.Size, want)
		}
		wantOff, ok := readelfOffset(segs, want)
		if !ok {
			t.Fatalf("readelf: %s at %#x is in no executable LOAD segment", name, want)
		}
		off, err := f.FileOffset(want)
		if err != nil || off != wantOff {
			t.Errorf("FileOffset(%s=%#x) = %#x, %v; readelf says %#x", name, want, off, err, wantOff)
		}
		code, err := f.Code(want, int(sym.Size))
		if err != nil {
			t.Fatalf("Code(%s): %v", name, err)
		}
		if !slices.Equal(code, raw[wantOff:wantOff+sym.Size]) {
			t.Errorf("Code(%s) = % x, file has % x", name, code, raw[wantOff:wantOff+sym.Size])
		}
	}
	if _, err := f.FileOffset(nm["counter"]); !errors.Is(err, ErrNotCode) {
		t.Errorf("FileOffset(counter in .data) error = %v, want ErrNotCode", err)
	}
	checkCFA(t, f, path)
}

// checkCFA compares CFA at every row of every FDE with readelf -wF.
func checkCFA(t *testing.T, f *File, path string) {
	t.Helper()
	fdes, err := f.FrameEntries()
	if err != nil {
		t.Fatalf("FrameEntries: %v", err)
	}
	if !slices.IsSortedFunc(fdes, func(a, b *frame.FrameDescriptionEntry) int { return cmpUint(a.Begin(), b.Begin()) }) {
		t.Errorf("FrameEntries not sorted by Begin")
	}
	rows := readelfCFA(t, path)
	if len(rows) == 0 {
		t.Fatalf("readelf -wF %s: no FDEs", path)
	}
	checked := 0
	for begin, fdeRows := range rows {
		if _, err := fdes.FDEForPC(begin); err != nil {
			t.Errorf("no FDE for %#x: %v", begin, err)
			continue
		}
		for _, row := range fdeRows {
			reg, off, err := f.CFA(row.loc)
			switch {
			case row.expr && err == nil:
				t.Errorf("CFA(%#x) = %d%+d, readelf says expression", row.loc, reg, off)
			case !row.expr && (err != nil || reg != row.reg || off != row.off):
				t.Errorf("CFA(%#x) = %d%+d, %v; readelf says %d%+d", row.loc, reg, off, err, row.reg, row.off)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Errorf("no CFA rows checked")
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestOpenWithOwnDWARF(t *testing.T) {
	for _, v := range variants {
		t.Run(v.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := compile(t, dir, v.cc, "prog", v.flags...)
			f := mustOpen(t, path, noDebugDirs)
			if f.Path != path || f.DebugPath != path || f.Debug != f.ELF {
				t.Errorf("Path %s DebugPath %s, want both %s from the file itself", f.Path, f.DebugPath, path)
			}
			if err := f.NeedDWARF(); err != nil {
				t.Errorf("NeedDWARF: %v", err)
			}
			if !hasFunction(t, f.DWARF(), "square") {
				t.Errorf("DWARF has no subprogram square")
			}
			wantType := elf.ET_DYN
			if slices.Contains(v.flags, "-no-pie") {
				wantType = elf.ET_EXEC
			}
			if f.ELF.Type != wantType {
				t.Errorf("ELF type %s, want %s", f.ELF.Type, wantType)
			}
			if got, want := hex.EncodeToString(f.BuildID), readelfBuildID(t, path); got != want {
				t.Errorf("BuildID %s, readelf says %s", got, want)
			}
			checkAgainstBinutils(t, f, path)
		})
	}
}

func TestOpenResolvesSymlinks(t *testing.T) {
	dir := t.TempDir()
	path := compile(t, dir, "gcc", "prog", "-g")
	link := filepath.Join(dir, "link")
	if err := os.Symlink("prog", link); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, link, noDebugDirs)
	if f.Path != path || f.Name() != path || f.Kind() != KindUser {
		t.Errorf("Path %s Name %s Kind %s, want %s, %s, process", f.Path, f.Name(), path, f.Kind(), path)
	}
}

// splitDebug moves the DWARF of path into debugPath and strips path:
// "strip -g" keeps .symtab, "strip" removes it too.
func splitDebug(t *testing.T, path, debugPath string, stripArgs ...string) {
	t.Helper()
	run(t, "objcopy", "--only-keep-debug", path, debugPath)
	run(t, "strip", append(stripArgs, path)...)
}

func TestSeparateDebugByBuildID(t *testing.T) {
	cases := []struct {
		name  string
		strip string
		flags []string
	}{
		{"strip-debug", "--strip-debug", []string{"-g", "-O2"}},
		{"strip-all", "--strip-all", []string{"-g", "-O2"}},
		// The CFI is then only in the debug file's .debug_frame.
		{"debug_frame", "--strip-all", []string{"-g", "-O2", "-fno-asynchronous-unwind-tables"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			strip := []string{c.strip}
			dir := t.TempDir()
			orig := compile(t, dir, "gcc", "orig", c.flags...)
			path := filepath.Join(dir, "prog")
			run(t, "cp", orig, path)
			id := readelfBuildID(t, path)
			debugDir := filepath.Join(dir, "debug")
			debugPath := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
			if err := os.MkdirAll(filepath.Dir(debugPath), 0o755); err != nil {
				t.Fatal(err)
			}
			splitDebug(t, path, debugPath, strip...)

			f := mustOpen(t, path, Options{DebugDirs: []string{filepath.Join(dir, "nothing-here"), debugDir}})
			if f.DebugPath != debugPath || f.Debug == f.ELF || f.DWARF() == nil {
				t.Fatalf("DebugPath %q, want %q", f.DebugPath, debugPath)
			}
			if !hasFunction(t, f.DWARF(), "twice") {
				t.Errorf("DWARF has no subprogram twice")
			}
			// Symbols, offsets, code and CFI come from the stripped binary
			// (and the debug file's .symtab) but must agree with the original.
			checkAgainstBinutils(t, f, orig)
		})
	}
}

func TestBuildIDMismatchRejected(t *testing.T) {
	dir := t.TempDir()
	path := compile(t, dir, "gcc", "prog", "-g")
	other := compile(t, dir, "gcc", "other", "-g", "-O2")
	id := readelfBuildID(t, path)
	debugPath := filepath.Join(dir, "debug", ".build-id", id[:2], id[2:]+".debug")
	if err := os.MkdirAll(filepath.Dir(debugPath), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "objcopy", "--only-keep-debug", other, debugPath)
	run(t, "strip", "-g", path)

	f := mustOpen(t, path, Options{DebugDirs: []string{filepath.Join(dir, "debug")}})
	want := fmt.Sprintf("no debug info for %s (build-id %s; rejected %s (build-id %s)): no installed package owns it: rebuild it with -g",
		path, id, debugPath, readelfBuildID(t, other))
	if err := f.NeedDWARF(); err == nil || err.Error() != want || !errors.Is(err, ErrNoDebugInfo) {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
}

// debugLinked builds a binary without build-id whose DWARF is only
// reachable through .gnu_debuglink to prog.debug, and returns the stripped
// binary, the unstripped original and the debug file (in dir).
func debugLinked(t *testing.T, dir string) (path, orig, debugFile string) {
	t.Helper()
	orig = compile(t, dir, "gcc", "orig", "-g", "-O2", "-Wl,--build-id=none")
	path = filepath.Join(dir, "prog")
	run(t, "cp", orig, path)
	debugFile = filepath.Join(dir, "prog.debug")
	splitDebug(t, path, debugFile, "--strip-debug")
	run(t, "objcopy", "--add-gnu-debuglink="+debugFile, path)
	if id := readelfBuildID(t, path); id != "" {
		t.Fatalf("built with --build-id=none but has build-id %s", id)
	}
	return path, orig, debugFile
}

func TestSeparateDebugByDebugLink(t *testing.T) {
	cases := []struct {
		name string
		// place returns where to move prog.debug, given the binary's dir
		// and the debug dir.
		place func(binDir, debugDir string) string
	}{
		{"beside", func(binDir, _ string) string { return filepath.Join(binDir, "prog.debug") }},
		{"dot-debug", func(binDir, _ string) string { return filepath.Join(binDir, ".debug", "prog.debug") }},
		{"debug-dir", func(binDir, debugDir string) string { return filepath.Join(debugDir, binDir, "prog.debug") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path, orig, debugFile := debugLinked(t, dir)
			debugDir := filepath.Join(t.TempDir(), "debug")
			want := c.place(dir, debugDir)
			if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(debugFile, want); err != nil {
				t.Fatal(err)
			}
			f := mustOpen(t, path, Options{DebugDirs: []string{debugDir}})
			if f.BuildID != nil {
				t.Errorf("BuildID %x, want none", f.BuildID)
			}
			if f.DebugPath != want || f.DWARF() == nil {
				t.Fatalf("DebugPath %q, want %q", f.DebugPath, want)
			}
			checkAgainstBinutils(t, f, orig)
		})
	}
}

func TestDebugLinkCRCMismatch(t *testing.T) {
	dir := t.TempDir()
	path, _, debugFile := debugLinked(t, dir)
	// Appending a byte keeps a valid ELF file but changes its CRC.
	fd, err := os.OpenFile(debugFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	fd.Close()

	f := mustOpen(t, path, noDebugDirs)
	err = f.NeedDWARF()
	if f.DWARF() != nil || !errors.Is(err, ErrNoDebugInfo) {
		t.Fatalf("DWARF found in %s despite CRC mismatch (NeedDWARF: %v)", f.DebugPath, err)
	}
	wantPrefix := fmt.Sprintf("no debug info for %s (no build-id; rejected %s (CRC ", path, debugFile)
	if got := err.Error(); len(got) < len(wantPrefix) || got[:len(wantPrefix)] != wantPrefix {
		t.Errorf("NeedDWARF() = %s\nwant prefix %s", got, wantPrefix)
	}
}

func TestCompressedDebugSections(t *testing.T) {
	dir := t.TempDir()
	zlib := compile(t, dir, "gcc", "zlib", "-g", "-gz=zlib")
	zstd := filepath.Join(dir, "zstd")
	run(t, "objcopy", "--compress-debug-sections=zstd", compile(t, dir, "gcc", "plain", "-g"), zstd)
	for path, want := range map[string]elf.CompressionType{zlib: elf.COMPRESS_ZLIB, zstd: elf.COMPRESS_ZSTD} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f := mustOpen(t, path, noDebugDirs)
			s := f.ELF.Section(".debug_info")
			if s == nil || s.Flags&elf.SHF_COMPRESSED == 0 {
				t.Fatalf(".debug_info not compressed (section %+v)", s)
			}
			// Elf64_Chdr starts with ch_type.
			var chType [4]byte
			if _, err := f.osFile.ReadAt(chType[:], int64(s.Offset)); err != nil {
				t.Fatal(err)
			}
			if got := elf.CompressionType(binary.LittleEndian.Uint32(chType[:])); got != want {
				t.Errorf(".debug_info compressed with %s, want %s", got, want)
			}
			if !hasFunction(t, f.DWARF(), "square") {
				t.Errorf("compressed DWARF has no subprogram square")
			}
		})
	}
}

func TestNoDebugInfo(t *testing.T) {
	dir := t.TempDir()
	path := compile(t, dir, "gcc", "nodebug", "-O2")
	f := mustOpen(t, path, noDebugDirs)
	if f.DWARF() != nil || f.Debug != nil || f.DebugPath != "" {
		t.Errorf("DWARF %v Debug %v DebugPath %q, want none", f.DWARF(), f.Debug, f.DebugPath)
	}
	want := fmt.Sprintf("no debug info for %s (build-id %s): no installed package owns it: rebuild it with -g",
		path, readelfBuildID(t, path))
	err := f.NeedDWARF()
	if err == nil || err.Error() != want || !errors.Is(err, ErrNoDebugInfo) {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
	if _, err2 := f.DebugInfo(); err2 == nil || err2.Error() != want {
		t.Errorf("DebugInfo() error = %v", err2)
	}
	// Listing still works from the symbol table, and CFI from .eh_frame.
	checkAgainstBinutils(t, f, path)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	prog := compile(t, dir, "gcc", "prog", "-g")
	raw, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	text := write("text", []byte("#!/bin/sh\necho hello\n"))
	trunc100 := write("trunc100", raw[:100])
	half := write("half", raw[:len(raw)/2])
	arm := append([]byte(nil), raw...)
	arm[18], arm[19] = byte(elf.EM_AARCH64), 0 // e_machine
	aarch64 := write("aarch64", arm)
	obj := filepath.Join(dir, "prog.o")
	src, _ := filepath.Abs("testdata/prog.c")
	run(t, "gcc", "-c", "-g", "-o", obj, src)
	halfSize := len(raw) / 2

	grown, commentOff := growSection(t, raw, ".comment", 1<<20)
	badSection := write("bad-section", grown)
	cases := []struct {
		path string
		is   error
		want string
	}{
		{filepath.Join(dir, "missing"), fs.ErrNotExist, dir + "/missing: file does not exist"},
		{text, ErrNotELF, text + ": not an ELF file: name an executable or shared library"},
		{dir, ErrNotELF, dir + ": not an ELF file: it is a directory"},
		{trunc100, ErrBadELF, trunc100 + ": malformed or truncated ELF file: headers extend past the end of the file (100 bytes)"},
		{half, ErrBadELF, fmt.Sprintf("%s: malformed or truncated ELF file: headers extend past the end of the file (%d bytes)", half, halfSize)},
		{badSection, ErrBadELF, fmt.Sprintf("%s: malformed or truncated ELF file: section .comment ends at byte %d but the file has %d bytes", badSection, commentOff+1<<20, len(raw))},
		{aarch64, ErrUnsupportedArch, aarch64 + ": unsupported architecture EM_AARCH64 (ELFCLASS64): only x86-64 binaries are supported"},
		{obj, ErrNotExecutable, obj + ": not an executable or shared library (ELF type ET_REL)"},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			f, err := Open(c.path, noDebugDirs)
			if f != nil || err == nil {
				t.Fatalf("Open(%s) = %v, %v; want error", c.path, f, err)
			}
			if !errors.Is(err, c.is) || err.Error() != c.want {
				t.Errorf("Open(%s) error:\n got %v\nwant %s (is %v)", c.path, err, c.want, c.is)
			}
		})
	}
}

// growSection returns a copy of the ELF image raw whose section name
// claims size bytes: headers that parse but point past the end of the file.
func growSection(t *testing.T, raw []byte, name string, size uint64) (patched []byte, off uint64) {
	t.Helper()
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(raw[0x28:])
	for i, s := range ef.Sections {
		if s.Name == name {
			patched = bytes.Clone(raw)
			binary.LittleEndian.PutUint64(patched[shoff+uint64(i)*64+0x20:], size) // sh_size
			return patched, s.Offset
		}
	}
	t.Fatalf("no section %s", name)
	return nil, 0
}

func TestCodeBounds(t *testing.T) {
	dir := t.TempDir()
	path := compile(t, dir, "gcc", "prog", "-g")
	f := mustOpen(t, path, noDebugDirs)
	var text *elf.Prog
	for _, p := range f.ELF.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			text = p
		}
	}
	end := text.Vaddr + text.Filesz
	if _, err := f.Code(end-4, 4); err != nil {
		t.Errorf("Code(last 4 bytes): %v", err)
	}
	for _, c := range []struct {
		va uint64
		n  int
	}{{end - 4, 5}, {end, 1}, {text.Vaddr, -1}, {0, 1}} {
		if _, err := f.Code(c.va, c.n); !errors.Is(err, ErrNotCode) {
			t.Errorf("Code(%#x, %d) error = %v, want ErrNotCode", c.va, c.n, err)
		}
	}
	if _, _, err := f.CFA(end + 0x100000); err == nil {
		t.Errorf("CFA far outside the code succeeded")
	}
}

func TestSystemLibc(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		fixture.Missing(t, "no %s (%v)", libc, err)
	}
	f := mustOpen(t, libc, Options{})
	id := hex.EncodeToString(f.BuildID)
	wantDebug := filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug")
	if _, err := os.Stat(wantDebug); err != nil {
		fixture.Missing(t, "libc6-dbg is not installed (%v)", err)
	}
	if f.Path != "/usr/lib/x86_64-linux-gnu/libc.so.6" || f.DebugPath != wantDebug {
		t.Errorf("Path %s DebugPath %s, want /usr/lib/x86_64-linux-gnu/libc.so.6 and %s", f.Path, f.DebugPath, wantDebug)
	}
	if !hasFunction(t, f.DWARF(), "getaddrinfo") {
		t.Errorf("libc DWARF has no getaddrinfo")
	}
	// The binary has no .symtab: static functions come from the debug file.
	segs := readelfLoads(t, f.Path)
	nm := nmSymbols(t, f.DebugPath)
	for _, name := range []string{"getaddrinfo", "malloc", "gaih_inet_serv", "getaddrinfo_a"} {
		sym := symbolValue(t, f, name)
		if sym.Value != nm[name] {
			t.Errorf("%s = %#x, nm of the debug file says %#x", name, sym.Value, nm[name])
		}
		wantOff, _ := readelfOffset(segs, sym.Value)
		if off, err := f.FileOffset(sym.Value); err != nil || off != wantOff {
			t.Errorf("FileOffset(%s) = %#x, %v; want %#x", name, off, err, wantOff)
		}
		if _, err := f.Code(sym.Value, int(sym.Size)); err != nil {
			t.Errorf("Code(%s): %v", name, err)
		}
	}
	checkCFA(t, f, f.Path)
}

// TestBinaryProbing: a user-space File names itself process("PATH") with
// its canonical path, is read in user space and probed with uprobes.
func TestBinaryProbing(t *testing.T) {
	dir := t.TempDir()
	path := compile(t, dir, "gcc", "prog", "-g")
	link := filepath.Join(dir, "link")
	if err := os.Symlink("prog", link); err != nil {
		t.Fatal(err)
	}
	var b Binary = mustOpen(t, link, noDebugDirs)
	if got, want := b.ProbePoint(), `process("`+path+`")`; got != want {
		t.Errorf("ProbePoint %s, want %s", got, want)
	}
	if b.AddressSpace() != UserSpace || b.Attach() != AttachUprobe {
		t.Errorf("AddressSpace %s, Attach %s; want user, uprobe", b.AddressSpace(), b.Attach())
	}
	if b.DWARFSections() == nil || b.NeedDWARF() != nil {
		t.Errorf("DWARFSections %v, NeedDWARF %v; want the sections, nil", b.DWARFSections(), b.NeedDWARF())
	}
}

// TestSymbolTable: the table SystemTap reads is the binary's .symtab,
// else the debug file's, else the binary's .dynsym.
func TestSymbolTable(t *testing.T) {
	dir := t.TempDir()
	orig := compile(t, dir, "gcc", "orig", "-g", "-O2")
	has := func(syms []elf.Symbol, name string) bool {
		return slices.ContainsFunc(syms, func(s elf.Symbol) bool { return s.Name == name && elf.ST_TYPE(s.Info) == elf.STT_FUNC })
	}
	// The binary's own .symtab.
	if syms := mustOpen(t, orig, noDebugDirs).SymbolTable(); !has(syms, "twice") {
		t.Errorf("the binary's .symtab has no twice: %d symbols", len(syms))
	}
	// Stripped: the debug file's .symtab.
	path := filepath.Join(dir, "prog")
	run(t, "cp", orig, path)
	id := readelfBuildID(t, path)
	debugDir := filepath.Join(dir, "debug")
	debugPath := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
	if err := os.MkdirAll(filepath.Dir(debugPath), 0o755); err != nil {
		t.Fatal(err)
	}
	splitDebug(t, path, debugPath, "--strip-all")
	if syms := mustOpen(t, path, Options{DebugDirs: []string{debugDir}}).SymbolTable(); !has(syms, "twice") {
		t.Errorf("the debug file's .symtab has no twice: %d symbols", len(syms))
	}
	// Stripped, without its debug file: .dynsym, which lacks the
	// program's own functions but has its imports.
	syms := mustOpen(t, path, noDebugDirs).SymbolTable()
	if has(syms, "twice") || !slices.ContainsFunc(syms, func(s elf.Symbol) bool { return strings.HasPrefix(s.Name, "__libc_start_main") }) {
		t.Errorf(".dynsym: %v", syms)
	}
}
