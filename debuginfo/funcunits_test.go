package debuginfo

import (
	"bytes"
	"debug/dwarf"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// openLibc opens glibc with its debug file (libc6-dbg).
func openLibc(t *testing.T) *target.File {
	t.Helper()
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	bin, err := target.Open(libc, target.Options{})
	if err != nil || bin.Debug == nil {
		fixture.Missing(t, "glibc debug info unavailable (install libc6-dbg): %v", err)
	}
	t.Cleanup(func() { bin.Close() })
	return bin
}

// TestLoadUnitsLibc: indexing some of glibc's units gives exactly what the
// full index records about those units and their functions.
func TestLoadUnitsLibc(t *testing.T) {
	bin := openLibc(t)
	full, err := Load(bin.DWARFSections())
	if err != nil {
		t.Fatal(err)
	}
	fu := full.FuncUnits()
	units := fu.Select(func(n string) bool { return n == "getaddrinfo" || strings.Contains(n, "fopen") }, nil)
	for i := 0; i < len(full.CUs); i += 97 {
		units = append(units, full.CUs[i].Offset)
	}
	part, err := LoadUnits(bin.DWARFSections(), units)
	if errors.Is(err, dwarfsec.ErrCrossUnit) {
		t.Fatal("glibc's units refer to no others, yet LoadUnits refused them")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !part.Partial || full.Partial {
		t.Errorf("Partial: %v for some units, %v for all", part.Partial, full.Partial)
	}
	keep := make(map[dwarf.Offset]bool)
	for _, u := range units {
		keep[u] = true
	}
	want := &Data{}
	for _, cu := range full.CUs {
		if keep[cu.Offset] {
			want.CUs = append(want.CUs, cu)
		}
	}
	for _, fn := range full.Funcs {
		if keep[fn.CU.Offset] {
			want.Funcs = append(want.Funcs, fn)
		}
	}
	if len(want.CUs) != len(keep) {
		t.Fatalf("%d units kept of %d asked for", len(want.CUs), len(keep))
	}
	if got, want := dumpIndex(part), dumpIndex(want); got != want {
		t.Errorf("the partial index differs from the full one's units:\n%s", fixture.Diff(want, got))
	}
	// Lookups over every unit answer as the full index does, types
	// defined only in units not indexed included.
	for _, name := range []string{"struct addrinfo", "struct malloc_state", "struct _IO_FILE", "mstate", "no such type"} {
		pt, pok := part.TypeByName(name)
		ft, fok := full.TypeByName(name)
		if pok != fok || pt.Off != ft.Off || pt.Name() != ft.Name() || pt.MemberNames() != ft.MemberNames() {
			t.Errorf("TypeByName(%q) = %v %#x %q {%s}, want %v %#x %q {%s}", name, pok, pt.Off, pt.Name(), pt.MemberNames(), fok, ft.Off, ft.Name(), ft.MemberNames())
		}
	}
	if len(full.Globals("main_arena")) == 0 {
		t.Error("no global main_arena")
	}
	for _, name := range []string{"main_arena", "_IO_2_1_stdout_", "no_such_global"} {
		render := func(gs []Global) string {
			var b strings.Builder
			for _, g := range gs {
				b.WriteString(g.Name + "@" + g.File + " " + g.Type.Name() + "\n")
			}
			return b.String()
		}
		if got, want := render(part.Globals(name)), render(full.Globals(name)); got != want {
			t.Errorf("Globals(%q) = %q, want %q", name, got, want)
		}
	}
	// Scopes and types read through the partial dwarf.Data.
	for i, fn := range part.Funcs {
		if fn.Inlined || i%7 != 0 {
			continue
		}
		ps, err1 := part.Scope(fn)
		fs, err2 := full.Scope(full.Funcs[indexOf(full.Funcs, fn.Offset)])
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("%s: Scope errors %v and %v", fn.Name, err1, err2)
		}
		if err1 == nil && dumpScope(ps) != dumpScope(fs) {
			t.Errorf("%s: scopes differ:\n%s", fn.Name, fixture.Diff(dumpScope(fs), dumpScope(ps)))
		}
	}
}

func indexOf(fns []*Function, off dwarf.Offset) int {
	for i, fn := range fns {
		if fn.Offset == off {
			return i
		}
	}
	return -1
}

// dumpScope renders a scope tree's variables and their types.
func dumpScope(s *Scope) string {
	var b strings.Builder
	for _, v := range s.AllVars() {
		t, _ := v.TypeName()
		b.WriteString(v.Name + ":" + t + "\n")
	}
	return b.String()
}

// TestFuncUnits: the index names the units of functions by name, linkage
// name and entry address, and encodes and decodes to the same.
func TestFuncUnits(t *testing.T) {
	bin := openLibc(t)
	d, err := Load(bin.DWARFSections())
	if err != nil {
		t.Fatal(err)
	}
	fu := d.FuncUnits()
	var gai *Function
	for _, fn := range d.Funcs {
		if fn.Name == "getaddrinfo" && !fn.Inlined {
			gai = fn
		}
	}
	if gai == nil {
		t.Fatal("no getaddrinfo")
	}
	byName := fu.Select(func(n string) bool { return n == "getaddrinfo" }, nil)
	byAddr := fu.Select(func(string) bool { return false }, []uint64{gai.Entry})
	if want := []dwarf.Offset{gai.CU.Offset}; !reflect.DeepEqual(byName, want) || !reflect.DeepEqual(byAddr, want) {
		t.Errorf("by name %#x, by address %#x; want %#x", byName, byAddr, want)
	}
	enc := fu.Encode()
	back, err := DecodeFuncUnits(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, fu) {
		t.Error("decoded index differs")
	}
	if again := back.Encode(); !bytes.Equal(again, enc) {
		t.Error("encoding again differs")
	}
	for _, n := range []int{0, 3, len(enc) / 2, len(enc) - 1} {
		if _, err := DecodeFuncUnits(enc[:n]); err == nil {
			t.Errorf("the first %d bytes decoded", n)
		}
	}
}

// FuzzDecodeFuncUnits: no input panics; an index xor an error, and what
// decodes encodes back to the same bytes.
func FuzzDecodeFuncUnits(f *testing.F) {
	fu := &FuncUnits{Units: []dwarf.Offset{0xc, 0x40}, keys: map[string][]uint32{"main": {0}, "@1139": {0}, "helper": {0, 1}}}
	f.Add(fu.Encode())
	fu.always = []uint32{1}
	f.Add(fu.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeFuncUnits(data)
		if (got == nil) == (err == nil) {
			t.Fatalf("index %v, err %v", got, err)
		}
		if err != nil {
			return
		}
		if again := got.Encode(); !bytes.Equal(again, data) {
			t.Fatalf("Encode(Decode(data)) differs from data")
		}
		got.Select(func(n string) bool { return len(n) > 2 }, []uint64{0x1139})
	})
}
