package dwarfsec

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// dwzVariant is the fixture variant whose debug files dwz compressed.
var dwzVariant = fixture.Variant{Compiler: "gcc", Opt: "-O2", PIE: true, SplitDebug: true, DWZ: true}

// openDWZ opens the debug file of a dwz-compressed fixture and the
// supplementary file it names.
func openDWZ(t testing.TB, name string) (debug, alt *elf.File) {
	t.Helper()
	b := fixture.Build(t, name, dwzVariant)
	id, err := fixture.BuildID(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(id)
	debug, err = elf.Open(filepath.Join(b.DebugDir, ".build-id", h[:2], h[2:]+".debug"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { debug.Close() })
	link, err := debug.Section(".gnu_debugaltlink").Data()
	if err != nil {
		t.Fatal(err)
	}
	altPath, _, _ := bytes.Cut(link, []byte{0})
	if alt, err = elf.Open(string(altPath)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alt.Close() })
	return debug, alt
}

// TestReadWithAlt reads dwz-compressed debug files with their
// supplementary file: the result must be ordinary DWARF, with every
// reference resolving, partial units from both files outlined, and the
// outline and Fields agreeing with debug/dwarf as for any other file.
func TestReadWithAlt(t *testing.T) {
	for _, name := range []string{"demo", "cxx", "inline"} {
		t.Run(name, func(t *testing.T) {
			debug, alt := openDWZ(t, name)
			info, err := debug.Section(".debug_info").Data()
			if err != nil {
				t.Fatal(err)
			}
			s, err := Read(Source{ELF: debug, Alt: &Source{ELF: alt}})
			if err != nil {
				t.Fatal(err)
			}
			outline, err := s.Outline()
			if err != nil {
				t.Fatal(err)
			}
			if g, w := outlineText(outline, false), outlineText(readerOutline(t, mustData(t, s)), false); g != w {
				t.Fatalf("outline differs from debug/dwarf's walk:\n got %v\nwant %v", g, w)
			}
			checkFields(t, name, s, outline)
			// The supplementary file holds only partial units; dwz
			// may also make some in the debug file, for what its own
			// units share.
			var before, after int
			for _, o := range outline {
				if o.Tag == dwarf.TagPartialUnit {
					if int(o.Offset) < len(info) {
						before++
					} else {
						after++
					}
				}
			}
			if after == 0 {
				t.Errorf("no partial unit from the supplementary file in the outline")
			}
			t.Logf("%d partial units in the debug file, %d in the supplementary file", before, after)

			dw := mustData(t, s)
			r := dw.Reader()
			imports := 0
			for {
				e, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if e == nil {
					break
				}
				for _, f := range e.Field {
					switch f.Class {
					case dwarf.ClassReferenceAlt, dwarf.ClassStringAlt:
						t.Fatalf("DIE %#x: %s still in a dwz form", e.Offset, f.Attr)
					case dwarf.ClassReference:
						if e.Tag == dwarf.TagImportedUnit {
							imports++
						}
						rr := dw.Reader()
						rr.Seek(f.Val.(dwarf.Offset))
						if target, err := rr.Next(); err != nil || target == nil {
							t.Fatalf("DIE %#x: %s %#x resolves to nothing: %v", e.Offset, f.Attr, f.Val, err)
						}
					}
				}
				if e.Tag == dwarf.TagPartialUnit {
					if _, err := dw.LineReader(e); err != nil {
						t.Errorf("partial unit %#x: line table: %v", e.Offset, err)
					}
				}
			}
			if imports == 0 {
				t.Errorf("no DW_TAG_imported_unit: dwz shared nothing")
			}
		})
	}
}

// TestReadWithAltPristine checks that merging leaves the files' own
// sections as they were: the debug file's bytes stay where they are, and
// a second Read of the same files gives the same result.
func TestReadWithAltPristine(t *testing.T) {
	debug, alt := openDWZ(t, "demo")
	origInfo, _ := alt.Section(".debug_info").Data()
	a, err := Read(Source{ELF: debug, Alt: &Source{ELF: alt}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(Source{ELF: debug, Alt: &Source{ELF: alt}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Info, b.Info) || !bytes.Equal(a.Abbrev, b.Abbrev) || !bytes.Equal(a.Str, b.Str) || !bytes.Equal(a.Line, b.Line) {
		t.Errorf("two reads of the same files differ")
	}
	again, _ := alt.Section(".debug_info").Data()
	if !bytes.Equal(origInfo, again) {
		t.Errorf("the supplementary file's section changed")
	}
}

// TestMergeAltErrors checks that what cannot be merged is an error, never
// a panic or a silently wrong result.
func TestMergeAltErrors(t *testing.T) {
	debug, alt := openDWZ(t, "demo")
	read := func() (*Sections, *Sections) {
		s, err := readWhole(Source{ELF: debug}, false)
		if err != nil {
			t.Fatal(err)
		}
		a, err := readWhole(Source{ELF: alt}, true)
		if err != nil {
			t.Fatal(err)
		}
		return s, a
	}
	s, a := read()
	a.Info = a.Info[:len(a.Info)-3]
	if err := mergeAlt(s, a); err == nil || !strings.Contains(err.Error(), "overruns") {
		t.Errorf("truncated supplementary .debug_info: %v", err)
	}
	s, a = read()
	s.Abbrev = s.Abbrev[:1]
	if err := mergeAlt(s, a); err == nil {
		t.Errorf("truncated .debug_abbrev: no error")
	}
}

func TestPutPaddedULEB(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		size int
	}{{formRefAddr, 2}, {formStrp, 2}, {0x7f, 1}, {0, 3}, {formGNURefAlt, 2}} {
		buf := make([]byte, c.size)
		putPaddedULEB(buf, c.v)
		r := &reader{data: buf}
		if got := r.uleb(); got != c.v || r.off != c.size || r.err != nil {
			t.Errorf("putPaddedULEB(%d bytes, %#x) = % x, reads back %#x in %d bytes (%v)", c.size, c.v, buf, got, r.off, r.err)
		}
	}
}

// FuzzMergeAlt merges mutated sections of a dwz-compressed fixture and its
// supplementary file: an error or ordinary DWARF (debug/dwarf's data, or
// an error matching ErrNoDWARF), never a panic.
func FuzzMergeAlt(f *testing.F) {
	debug, alt := openDWZ(f, "demo")
	s, err := readWhole(Source{ELF: debug}, false)
	if err != nil {
		f.Fatal(err)
	}
	a, err := readWhole(Source{ELF: alt}, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.Info, s.Abbrev, a.Info, a.Abbrev, a.Line)
	f.Fuzz(func(t *testing.T, info, abbrev, altInfo, altAbbrev, altLine []byte) {
		s := &Sections{Order: s.Order, Info: slices.Clone(info), Abbrev: slices.Clone(abbrev), Str: s.Str, Line: s.Line}
		a := &Sections{Order: a.Order, Info: slices.Clone(altInfo), Abbrev: slices.Clone(altAbbrev), Str: a.Str, Line: slices.Clone(altLine)}
		if err := mergeAlt(s, a); err != nil {
			return
		}
		s.parseAllAbbrevs()
		if outline, err := buildOutline(s, nil); err == nil {
			for _, o := range outline {
				s.Fields(o, nil)
			}
		}
		// Merged sections are data or an error matching ErrNoDWARF.
		dw, err := newData(s)
		if (dw == nil) == (err == nil) {
			t.Fatalf("newData = %v, %v: want data xor an error", dw, err)
		}
		if err != nil && !errors.Is(err, ErrNoDWARF) {
			t.Fatalf("newData error %v does not match ErrNoDWARF", err)
		}
	})
}
