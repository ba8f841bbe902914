package debuginfo

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// checkTopCovers checks that top, TopFuncUnits of sec, has the units of
// the full index of sec and that each unit's keys there include the
// ones Data.FuncUnits gives it, unless top selects it always.
func checkTopCovers(t *testing.T, sec *dwarfsec.Sections) *FuncUnits {
	t.Helper()
	top, err := TopFuncUnits(sec)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Load(sec)
	if err != nil {
		t.Fatal(err)
	}
	full := d.FuncUnits()
	if !reflect.DeepEqual(top.Units, full.Units) {
		t.Fatalf("TopFuncUnits has %d units, the full index %d", len(top.Units), len(full.Units))
	}
	always := make(map[uint32]bool)
	for _, i := range top.always {
		always[i] = true
	}
	missing := 0
	for k, l := range full.keys {
		have := make(map[uint32]bool)
		for _, i := range top.keys[k] {
			have[i] = true
		}
		for _, i := range l {
			if !have[i] && !always[i] {
				if missing++; missing <= 10 {
					t.Errorf("key %q of unit %#x is not among its top-level keys", k, full.Units[i])
				}
			}
		}
	}
	if missing > 10 {
		t.Errorf("... %d keys missing in all", missing)
	}
	enc := top.Encode()
	back, err := DecodeFuncUnits(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Encode(), enc) {
		t.Error("encoding the decoded index again differs")
	}
	return top
}

// TestTopFuncUnitsKernel: for the whole vmlinux of 6.1.0-57-amd64, the
// index read from the units' top level selects, for every name and entry
// address, every unit the full index selects, and no unit is selected
// always (every unit is C or assembler without namespaces).
func TestTopFuncUnitsKernel(t *testing.T) {
	k, err := target.OpenKernel(context.Background(), target.KernelOptions{Release: "6.1.0-57-amd64"})
	if err != nil {
		fixture.Missing(t, "kernel 6.1.0-57-amd64: %v", err)
	}
	defer k.Close()
	top := checkTopCovers(t, k.DWARFSections())
	if len(top.always) != 0 {
		t.Errorf("%d units are selected always", len(top.always))
	}
	t.Logf("%d units, %d keys", len(top.Units), len(top.keys))
}

// TestTopFuncUnitsFixtures: the same for the fixtures in C (gcc and
// clang, -O0 and -O2) and for glibc, whose units include assembler.
func TestTopFuncUnitsFixtures(t *testing.T) {
	for _, v := range []fixture.Variant{{Compiler: "gcc", Opt: "-O0"}, {Compiler: "gcc", Opt: "-O2"}, {Compiler: "clang", Opt: "-O0"}, {Compiler: "clang", Opt: "-O2"}} {
		t.Run(fmt.Sprintf("%s%s", v.Compiler, v.Opt), func(t *testing.T) {
			checkTopCovers(t, recurseSections(t, v))
		})
	}
	t.Run("glibc", func(t *testing.T) { checkTopCovers(t, openLibc(t).DWARFSections()) })
}

// recurseSections builds the recurse fixture in variant v and returns its
// DWARF sections, read from the binary alone (no debug directories); the
// binary is closed when the test ends.
func recurseSections(tb testing.TB, v fixture.Variant) *dwarfsec.Sections {
	tb.Helper()
	b := fixture.Build(tb, "recurse", v)
	bin, err := target.Open(b.Path, target.Options{DebugDirs: []string{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bin.Close() })
	return bin.DWARFSections()
}

// FuzzTopFuncUnits reads the top level of arbitrary .debug_info contents
// against a fixture's other sections: an index xor an error, never a
// panic, and an index encodes and decodes back to itself.
func FuzzTopFuncUnits(f *testing.F) {
	sec := recurseSections(f, fixture.Variant{Compiler: "gcc", Opt: "-O2"})
	f.Add(sec.Info)
	f.Add(sec.Info[:len(sec.Info)/2])
	f.Fuzz(func(t *testing.T, info []byte) {
		s := &dwarfsec.Sections{Order: sec.Order, Info: info, Abbrev: sec.Abbrev, Line: sec.Line,
			LineStr: sec.LineStr, Str: sec.Str, Addr: sec.Addr, Ranges: sec.Ranges, Rnglists: sec.Rnglists, StrOffsets: sec.StrOffsets}
		fu, err := TopFuncUnits(s)
		if (fu == nil) == (err == nil) {
			t.Fatalf("index %v, err %v: want exactly one", fu, err)
		}
		if err != nil {
			return
		}
		back, err := DecodeFuncUnits(fu.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Encode(), fu.Encode()) {
			t.Fatal("encoding the decoded index again differs")
		}
	})
}
