package dwarfsec_test

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/whythefail/whythefail/debuginfo/dwarfsec"
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
				s, err := dwarfsec.Read(ef)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ef.DWARF()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := dump(t, s.DWARF), dump(t, want); got != want {
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

// TestForShares checks that For reads a file once and keeps files apart.
func TestForShares(t *testing.T) {
	b := fixture.Build(t, "recurse", variants[0])
	ef1, ef2 := open(t, b.Path), open(t, b.Path)
	s1, err := dwarfsec.For(ef1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := dwarfsec.For(ef1)
	if err != nil || again != s1 {
		t.Errorf("second For = %p, %v; want the first copy %p", again, err, s1)
	}
	s2, err := dwarfsec.For(ef2)
	if err != nil || s2 == s1 {
		t.Errorf("For of another file = %p, %v; want a copy of its own", s2, err)
	}
}

// TestReadNoDWARF checks the error for a file without DWARF.
func TestReadNoDWARF(t *testing.T) {
	b := fixture.Build(t, "recurse", variants[0])
	out := filepath.Join(t.TempDir(), "stripped")
	if msg, err := exec.Command("strip", "-o", out, b.Path).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, msg)
	}
	s, err := dwarfsec.Read(open(t, out))
	if s != nil || !errors.Is(err, dwarfsec.ErrNoDWARF) {
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
		s, err := dwarfsec.Read(ef)
		if (s == nil) == (err == nil) {
			t.Fatalf("Read = %v, %v: want exactly one of sections and error", s, err)
		}
		if s != nil {
			s.Loc()
			s.Loclists()
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
