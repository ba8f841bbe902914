package dwarfsec

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/elfnote"
	"github.com/whythefail/whythefail/internal/fixture"
)

// variants are the fixture builds the tests read: gcc's DWARF 5 with
// .debug_loclists and clang's with DW_FORM_addrx and str_offsets.
var variants = []fixture.Variant{{Compiler: "gcc", Opt: "-O2"}, {Compiler: "clang", Opt: "-O2", PIE: true}}

// compressed copies path with its debug sections zlib-compressed, as
// Debian ships its debug files.
func compressed(t *testing.T, path string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "z")
	cmd := exec.Command("objcopy", "--compress-debug-sections=zlib", path, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, msg)
	}
	return out
}

func open(t *testing.T, path string) *elf.File {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ef.Close() })
	return ef
}

// dump renders every entry of d, so that two dwarf.Data compare whole.
func dump(t *testing.T, d *dwarf.Data) string {
	t.Helper()
	var b bytes.Buffer
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return b.String()
		}
		fmt.Fprintf(&b, "%#x %v %v %v\n", e.Offset, e.Tag, e.Children, e.Field)
		if e.Tag == dwarf.TagCompileUnit {
			lr, err := d.LineReader(e)
			if err != nil {
				t.Fatal(err)
			}
			for lr != nil {
				var row dwarf.LineEntry
				if lr.Next(&row) != nil {
					break
				}
				fmt.Fprintf(&b, "  %#x %s:%d\n", row.Address, row.File.Name, row.Line)
			}
		}
	}
}

// TestReadMatchesDebugElf checks that the dwarf.Data built from the
// sections is the one ef.DWARF builds, and that the raw sections are the
// decompressed section contents, for plain and compressed files.
func TestReadMatchesDebugElf(t *testing.T) {
	for _, v := range variants {
		b := fixture.Build(t, "recurse", v)
		for _, path := range []string{b.Path, compressed(t, b.Path)} {
			t.Run(v.String()+"/"+filepath.Base(path), func(t *testing.T) {
				ef := open(t, path)
				s, err := Read(Source{ELF: ef})
				if err != nil {
					t.Fatal(err)
				}
				want, err := ef.DWARF()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := dump(t, mustData(t, s)), dump(t, want); got != want {
					t.Errorf("entries differ:\n got %s\nwant %s", got, want)
				}
				for name, got := range map[string][]byte{".debug_info": s.Info, ".debug_line": s.Line,
					".debug_str": s.Str, ".debug_line_str": s.LineStr, ".debug_loclists": s.Loclists(),
					".debug_loc": s.Loc(), ".debug_addr": s.Addr, ".debug_rnglists": s.Rnglists} {
					var want []byte
					if sec := ef.Section(name); sec != nil {
						if want, err = sec.Data(); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%s: %d bytes, want %d", name, len(got), len(want))
					}
				}
			})
		}
	}
}

// TestReadNoDWARF checks the error for a file without DWARF.
func TestReadNoDWARF(t *testing.T) {
	b := fixture.Build(t, "recurse", variants[0])
	out := filepath.Join(t.TempDir(), "stripped")
	if msg, err := exec.Command("strip", "-o", out, b.Path).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, msg)
	}
	s, err := Read(Source{ELF: open(t, out)})
	if s != nil || !errors.Is(err, ErrNoDWARF) {
		t.Fatalf("Read = %v, %v; want ErrNoDWARF", s, err)
	}
}

// FuzzRead feeds arbitrary files to Read: no panic, and sections xor an
// error.
func FuzzRead(f *testing.F) {
	for _, v := range variants {
		b := fixture.Build(f, "recurse", v)
		data, err := os.ReadFile(b.Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := newELF(data)
		if err != nil {
			return
		}
		s, err := Read(Source{ELF: ef})
		if (s == nil) == (err == nil) {
			t.Fatalf("Read = %v, %v: want exactly one of sections and error", s, err)
		}
		if s != nil {
			s.Loc()
			s.Loclists()
			if outline, err := s.Outline(); err == nil {
				for _, o := range outline {
					s.Fields(o, nil)
				}
			}
		}
	})
}

// newELF parses data as ELF; debug/elf panics on some malformed headers.
func newELF(data []byte) (ef *elf.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			ef, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return elf.NewFile(bytes.NewReader(data))
}

// TestOutlineStreamed checks that the outline Read builds while
// .debug_info decompresses is the one built from the whole section, and
// that it lists what it promises, against a walk with debug/dwarf.
func TestOutlineStreamed(t *testing.T) {
	paths := []string{"/usr/lib/debug/.build-id/93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug"}
	if _, err := os.Stat(paths[0]); err != nil {
		paths = nil // glibc's debug file of another build: the fixtures still run
	}
	for _, v := range variants {
		b := fixture.Build(t, "recurse", v)
		paths = append(paths, b.Path, compressed(t, b.Path))
	}
	for _, path := range paths {
		ef := open(t, path)
		s, err := Read(Source{ELF: ef})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Outline()
		if err != nil {
			t.Fatal(err)
		}
		whole := &Sections{Order: s.Order, Info: s.Info, Abbrev: s.Abbrev}
		want, err := whole.Outline()
		if err != nil {
			t.Fatal(err)
		}
		if outlineText(got, true) != outlineText(want, true) {
			t.Fatalf("%s: streamed outline differs from the whole section's", path)
		}
		if g, w := outlineText(got, false), outlineText(readerOutline(t, mustData(t, s)), false); g != w {
			t.Fatalf("%s: outline differs from debug/dwarf's walk:\n got %v\nwant %v", path, g, w)
		}
		if n := checkFields(t, path, s, got); strings.HasPrefix(path, "/usr/lib/debug") && n < len(got)/2 {
			t.Errorf("%s: Fields decoded %d of %d outline DIEs; want most of gcc's", path, n, len(got))
		}
	}
}

// outlineText renders an outline, with each DIE's unit and abbreviation
// when full.
func outlineText(o []OutlineDIE, full bool) string {
	var b strings.Builder
	for _, d := range o {
		fmt.Fprintf(&b, "%#x %v %d %v", d.Offset, d.Tag, d.Level, d.Children)
		if full {
			fmt.Fprintf(&b, " %+v %+v", *d.Unit, *d.Abbrev)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// checkFields checks that Fields decodes each outline DIE it can as
// debug/dwarf does, and returns how many it could.
func checkFields(t *testing.T, path string, s *Sections, outline []OutlineDIE) int {
	t.Helper()
	r := mustData(t, s).Reader()
	decoded := 0
	for _, o := range outline {
		got, ok := s.Fields(o, nil)
		if !ok {
			continue
		}
		decoded++
		r.Seek(o.Offset)
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e.Field) {
			t.Fatalf("%s: DIE %#x: Fields = %v, debug/dwarf %v", path, o.Offset, got, e.Field)
		}
	}
	return decoded
}

// readerOutline builds the outline with debug/dwarf's Reader.
func readerOutline(t *testing.T, d *dwarf.Data) []OutlineDIE {
	var out []OutlineDIE
	r := d.Reader()
	level := int32(0)
	locSeen := false
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return out
		}
		if e.Tag == 0 {
			level--
			continue
		}
		if e.Children && skipsSubtree(e.Tag) {
			r.SkipChildren()
			continue
		}
		keep := false
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit, dwarf.TagTypeUnit, dwarf.TagSkeletonUnit:
			level, locSeen, keep = 0, false, true
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			keep = true
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			f := e.AttrField(dwarf.AttrLocation)
			keep = !locSeen && f != nil && f.Class == dwarf.ClassLocListPtr
			locSeen = locSeen || keep
		}
		if keep {
			out = append(out, OutlineDIE{Offset: e.Offset, Tag: e.Tag, Level: level, Children: e.Children})
		}
		if e.Children {
			level++
		}
	}
}

// TestReadSharesAbbrevs checks that Read points the units of glibc's debug
// file whose abbreviation tables repeat an earlier one at that one, and
// only at a table with the same bytes.
func TestReadSharesAbbrevs(t *testing.T) {
	ef := open(t, libcDebugFile(t))
	s, err := Read(Source{ELF: ef})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ef.Section(".debug_info").Data()
	if err != nil {
		t.Fatal(err)
	}
	tableAt := func(off uint32) string {
		_, end, err := parseAbbrevTable(s.Abbrev, int(off))
		if err != nil {
			t.Fatalf("table at %#x: %v", off, err)
		}
		return string(s.Abbrev[off:end])
	}
	// glibc's units are 32-bit DWARF 5: the offset follows length,
	// version, unit type and address size.
	before, after := map[uint32]bool{}, map[uint32]bool{}
	for off := 0; off+12 <= len(raw); off += 4 + int(s.Order.Uint32(raw[off:])) {
		if v := s.Order.Uint16(raw[off+4:]); v != 5 {
			t.Fatalf("unit at %#x has version %d, want 5", off, v)
		}
		was, is := s.Order.Uint32(raw[off+8:]), s.Order.Uint32(s.Info[off+8:])
		before[was], after[is] = true, true
		if was != is && tableAt(was) != tableAt(is) {
			t.Fatalf("unit at %#x: table %#x became %#x, which differs", off, was, is)
		}
		if !bytes.Equal(raw[off:off+8], s.Info[off:off+8]) {
			t.Fatalf("unit at %#x: header changed before its abbreviation offset", off)
		}
	}
	contents := map[string]bool{}
	for off := range before {
		contents[tableAt(off)] = true
	}
	if len(after) != len(contents) {
		t.Errorf("units name %d tables (%d before), want one per content: %d", len(after), len(before), len(contents))
	}
}

// mustData waits for the dwarf.Data of s.
func mustData(t *testing.T, s *Sections) *dwarf.Data {
	t.Helper()
	dw, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	return dw
}

// TestReadRaw: sections inflated through Source.Raw (klauspost's zlib)
// are those debug/elf inflates.
func TestReadRaw(t *testing.T) {
	t.Setenv("WHYTHEFAIL_CACHE", "off")
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2"})
	path := compressed(t, b.Path)
	osf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	viaRaw, err := Read(Source{ELF: open(t, path), Raw: osf})
	if err != nil {
		t.Fatal(err)
	}
	viaElf, err := Read(Source{ELF: open(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []byte
	}{{"info", viaRaw.Info, viaElf.Info}, {"abbrev", viaRaw.Abbrev, viaElf.Abbrev}, {"line", viaRaw.Line, viaElf.Line},
		{"str", viaRaw.Str, viaElf.Str}, {"loc", viaRaw.Loc(), viaElf.Loc()}, {"loclists", viaRaw.Loclists(), viaElf.Loclists()}} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf(".debug_%s: %d bytes through Raw, %d through debug/elf", c.name, len(c.got), len(c.want))
		}
	}
	if len(viaRaw.Info) == 0 {
		t.Error("no .debug_info read")
	}
}

// libcDebugFile returns the path of the installed glibc's debug file
// (libc6-dbg), found by the build-id of the installed libc.so.6 so that a
// libc update changes nothing; a missing file skips, or fails under CI.
func libcDebugFile(t *testing.T) string {
	t.Helper()
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	lf, err := elf.Open(libc)
	if err != nil {
		fixture.Missing(t, "cannot open %s: %v", libc, err)
	}
	id := elfnote.BuildID(lf)
	lf.Close()
	if len(id) < 2 {
		t.Fatalf("%s has no build-id", libc)
	}
	h := hex.EncodeToString(id)
	path := filepath.Join("/usr/lib/debug/.build-id", h[:2], h[2:]+".debug")
	if _, err := os.Stat(path); err != nil {
		fixture.Missing(t, "glibc's debug file is absent (install libc6-dbg): %v", err)
	}
	return path
}
