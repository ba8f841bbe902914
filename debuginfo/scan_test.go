package debuginfo

import (
	"debug/dwarf"
	"fmt"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// dumpIndex renders everything the index records about units and
// functions, so that two indexes compare whole.
func dumpIndex(d *Data) string {
	var b strings.Builder
	for _, cu := range d.CUs {
		fmt.Fprintf(&b, "CU %#x %q %q v%d low %#x lang %d loclists %v addr %#x llbase %#x\n", cu.Offset, cu.Name, cu.CompDir,
			cu.Version, cu.LowPC, cu.Language, cu.HasLocLists, cu.addrBase, cu.loclistsBase)
	}
	for _, fn := range d.Funcs {
		parent := "-"
		if fn.Parent != nil {
			parent = fmt.Sprintf("%#x", fn.Parent.Offset)
		}
		fmt.Fprintf(&b, "FN %#x %q %q %s:%d %v entry %#x inl %v %s:%d ext %v unk %v cu %#x fb %x parent %s origin %#x ret %#x/%v\n",
			fn.Offset, fn.Name, fn.LinkageName, fn.DeclFile, fn.DeclLine, fn.Ranges, fn.Entry, fn.Inlined, fn.CallFile, fn.CallLine,
			fn.External, fn.DeclFileUnknown, fn.CU.Offset, fn.FrameBase, parent, fn.origin, fn.retType, fn.hasRet)
	}
	return b.String()
}

// checkScanMatchesReader indexes the debug file of the binary at path both
// ways and compares the results.
func checkScanMatchesReader(t *testing.T, path string, opts target.Options) {
	t.Helper()
	bin, err := target.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	if bin.Debug == nil {
		t.Fatalf("%s: no debug file", path)
	}
	got, err := Load(bin.DWARFSections())
	if err != nil {
		t.Fatal(err)
	}
	sec := bin.DWARFSections()
	dw, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	want := &Data{DWARF: dw, sec: sec, types: got.types}
	if err := want.indexReader(); err != nil {
		t.Fatal(err)
	}
	g, w := dumpIndex(got), dumpIndex(want)
	if g == w {
		return
	}
	gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Fatalf("%s: scanner and Reader indexes differ at line %d:\n got %s\nwant %s", path, i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("%s: scanner index has %d lines, Reader index %d", path, len(gl), len(wl))
}

// TestScanMatchesReader checks that the abbrev-driven scanner indexes
// exactly what the debug/dwarf Reader walk indexes, over the fixture
// matrix (gcc and clang, DWARF 5, C and C++, split debug files).
func TestScanMatchesReader(t *testing.T) {
	for _, name := range fixture.Names() {
		for _, v := range fixture.Variants() {
			t.Run(name+"/"+v.String(), func(t *testing.T) {
				b := fixture.Build(t, name, v)
				opts := target.Options{DebugDirs: []string{}}
				if b.DebugDir != "" {
					opts.DebugDirs = []string{b.DebugDir}
				}
				checkScanMatchesReader(t, b.Path, opts)
			})
		}
	}
}

// TestScanMatchesReaderLibc does the same over glibc's debug file
// (libc6-dbg): some 2000 units of gcc's DWARF 5, zlib-compressed.
func TestScanMatchesReaderLibc(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	bin, err := target.Open(libc, target.Options{})
	if err != nil {
		fixture.Missing(t, "cannot open %s: %v", libc, err)
	}
	if bin.Debug == nil {
		bin.Close()
		fixture.Missing(t, "glibc has no debug info (install libc6-dbg)")
	}
	bin.Close()
	checkScanMatchesReader(t, libc, target.Options{})
}

// FuzzScan indexes arbitrary .debug_info contents against a fixture's
// abbreviations and other sections: an index xor an error (a panic counts
// as an error, as Load recovers it), and
// whenever both walks succeed, the scanner's index is the Reader's.
func FuzzScan(f *testing.F) {
	sec := recurseSections(f, fixture.Variant{Compiler: "gcc", Opt: "-O2"})
	f.Add(sec.Info)
	f.Add(sec.Info[:len(sec.Info)/2])
	f.Fuzz(func(t *testing.T, info []byte) {
		build := func() (*Data, error) {
			dw, err := dwarf.New(sec.Abbrev, nil, nil, info, sec.Line, nil, sec.Ranges, sec.Str)
			if err != nil {
				return nil, err
			}
			s := &dwarfsec.Sections{Order: sec.Order, Info: info, Abbrev: sec.Abbrev, Line: sec.Line,
				LineStr: sec.LineStr, Str: sec.Str, Addr: sec.Addr, Ranges: sec.Ranges, Rnglists: sec.Rnglists, StrOffsets: sec.StrOffsets}
			return &Data{DWARF: dw, sec: s}, nil
		}
		run := func(index func(*Data) error) (d *Data, err error) {
			defer func() {
				if r := recover(); r != nil {
					d, err = nil, fmt.Errorf("panic: %v", r)
				}
			}()
			if d, err = build(); err != nil {
				return nil, err
			}
			if err := index(d); err != nil {
				return nil, err
			}
			return d, nil
		}
		got, err := run(func(d *Data) error { return d.index() })
		if (got == nil) == (err == nil) {
			t.Fatalf("index = %v, %v: want exactly one of index and error", got, err)
		}
		want, _ := run(func(d *Data) error { return d.indexReader() })
		if got != nil && want != nil && dumpIndex(got) != dumpIndex(want) {
			t.Fatalf("scanner and Reader indexes differ:\n%s\n%s", dumpIndex(got), dumpIndex(want))
		}
	})
}
