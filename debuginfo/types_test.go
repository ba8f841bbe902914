package debuginfo

import (
	"debug/dwarf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// loadC compiles src with gcc and flags and indexes its DWARF.
func loadC(t *testing.T, src string, flags ...string) *Data {
	t.Helper()
	fixture.NeedTool(t, "gcc")
	dir := t.TempDir()
	path := filepath.Join(dir, "prog.c")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	if out, err := exec.Command("gcc", append(append([]string{}, flags...), "-o", bin, path)...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	f, err := target.Open(bin, target.Options{DebugDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	d, err := Load(f.DWARFSections())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestMemberOffsets reads member offsets in every DWARF version: DWARF 2
// gives them as expressions (DW_OP_plus_uconst), later versions as
// constants, and both must give the same layout, through anonymous
// members too.
func TestMemberOffsets(t *testing.T) {
	const src = `struct s { char a; int b; struct { long c; short d; }; } g;
int main(void) { return g.b + g.d; }
`
	for _, v := range []string{"-gdwarf-2", "-gdwarf-3", "-gdwarf-4", "-gdwarf-5"} {
		d := loadC(t, src, v, "-O0")
		gs := d.Globals("g")
		if len(gs) != 1 {
			t.Fatalf("%s: Globals(g) = %v", v, gs)
		}
		for name, want := range map[string]int64{"a": 0, "b": 4, "c": 8, "d": 16} {
			m, ok := gs[0].Type.Member(name)
			if !ok || m.Offset != want || m.NoOffset {
				t.Errorf("%s: member %s = %+v, %v; want offset %d", v, name, m, ok, want)
			}
		}
	}
	for _, c := range []struct {
		expr []byte
		off  int64
		bad  bool
	}{
		{[]byte{0x23, 0x08}, 8, false},
		{[]byte{0x23, 0x80, 0x01}, 128, false},
		{[]byte{0x23}, 0, true},
		{[]byte{0x23, 0x80}, 0, true},
		{[]byte{0x23, 0x08, 0x06}, 0, true}, // more after it
		{[]byte{0x10, 0x08, 0x22}, 0, true}, // constu, plus: not modelled
		{nil, 0, true},
	} {
		if off, bad := plusUconst(c.expr); off != c.off || bad != c.bad {
			t.Errorf("plusUconst(% x) = %d, %v; want %d, %v", c.expr, off, bad, c.off, c.bad)
		}
	}
}

// TestArrayDimensions navigates arrays of several dimensions, which DWARF
// describes as one array type with a subrange per dimension: indexing one
// dimension must give the rows, with their own length and size, and only
// the last the elements.
func TestArrayDimensions(t *testing.T) {
	fixture.NeedTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "dims.c")
	err := os.WriteFile(src, []byte(`typedef int row[4];
int grid[3][4];
char names[5][8];
row rows[2];
int flat[6];
int main(void) { return grid[1][2] + names[1][0] + rows[1][3] + flat[5]; }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dims")
	if out, err := exec.Command("gcc", "-g", "-O0", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	f, err := target.Open(bin, target.Options{DebugDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Load(f.DWARFSections())
	if err != nil {
		t.Fatal(err)
	}
	// Each step: length and size of the array, then of its Target.
	type level struct{ len, size int64 }
	for _, c := range []struct {
		global string
		levels []level // one per array level, outermost first
		elem   int64   // size of the final element
	}{
		{"grid", []level{{3, 48}, {4, 16}}, 4},
		{"names", []level{{5, 40}, {8, 8}}, 1},
		{"rows", []level{{2, 32}, {4, 16}}, 4}, // a typedef'd row: two array types
		{"flat", []level{{6, 24}}, 4},
	} {
		gs := d.Globals(c.global)
		if len(gs) != 1 {
			t.Fatalf("Globals(%q) = %v", c.global, gs)
		}
		ty := gs[0].Type
		for i, l := range c.levels {
			if got := ty.ArrayLen(); got != l.len {
				t.Errorf("%s level %d: ArrayLen = %d, want %d", c.global, i, got, l.len)
			}
			if got := ty.Size(); got != l.size {
				t.Errorf("%s level %d: Size = %d, want %d", c.global, i, got, l.size)
			}
			next, ok := ty.Target()
			if !ok {
				t.Fatalf("%s level %d: no Target", c.global, i)
			}
			ty = next
		}
		if ty.Tag() == 0x01 /* DW_TAG_array_type */ || ty.ArrayLen() != -1 || ty.Size() != c.elem {
			t.Errorf("%s: element tag %v len %d size %d, want a scalar of %d bytes", c.global, ty.Tag(), ty.ArrayLen(), ty.Size(), c.elem)
		}
	}
}

// TestTypeByNameOnlyImported: a dwz supplementary file shared by several
// programs holds their shared types; a program must not take another
// program's struct for its own opaque one.
func TestTypeByNameOnlyImported(t *testing.T) {
	fixture.NeedTool(t, "gcc")
	fixture.NeedTool(t, "dwz")
	dir := t.TempDir()
	shared := `struct x { long a, b; }; struct y { int n; };
int use(struct x *p, struct y *q) { return p->a + q->n; }
int main(void) { struct x v = {1, 2}; struct y w = {3}; return use(&v, &w); }
`
	opaque := `struct x; struct y { int n; };
int peek(struct x *p, struct y *q) { return p != 0 && q->n; }
int main(void) { struct y w = {3}; return peek(0, &w); }
`
	debugDir := filepath.Join(dir, "debug")
	var debugs []string
	var prog string
	// The same source twice (at two optimisation levels, for two
	// build-ids) gives dwz types to share; the third program declares
	// struct x only.
	for i, c := range []struct{ src, opt string }{{shared, "-O0"}, {shared, "-O1"}, {opaque, "-O0"}} {
		name := fmt.Sprintf("p%d", i)
		srcFile := filepath.Join(dir, "shared.c")
		if c.src == opaque {
			srcFile = filepath.Join(dir, "opaque.c")
		}
		if err := os.WriteFile(srcFile, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, name)
		if out, err := exec.Command("gcc", "-g", c.opt, "-o", bin, srcFile).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		dbg := filepath.Join(dir, name+".debug")
		if c.src == opaque {
			id, err := fixture.BuildID(bin)
			if err != nil {
				t.Fatal(err)
			}
			h := hex.EncodeToString(id)
			dbg = filepath.Join(debugDir, ".build-id", h[:2], h[2:]+".debug")
			if err := os.MkdirAll(filepath.Dir(dbg), 0o755); err != nil {
				t.Fatal(err)
			}
			prog = bin
		}
		for _, args := range [][]string{{"--only-keep-debug", bin, dbg}, {"--strip-debug", bin}} {
			if out, err := exec.Command("objcopy", args...).CombinedOutput(); err != nil {
				t.Fatalf("objcopy %v: %v\n%s", args, err, out)
			}
		}
		debugs = append(debugs, dbg)
	}
	alt := filepath.Join(dir, "common.debug")
	if out, err := exec.Command("dwz", append([]string{"-m", alt, "-M", alt}, debugs...)...).CombinedOutput(); err != nil {
		t.Fatalf("dwz: %v\n%s", err, out)
	}
	f, err := target.Open(prog, target.Options{DebugDirs: []string{debugDir}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.AltPath != alt {
		t.Fatalf("AltPath %q, want %q; NeedDWARF %v", f.AltPath, alt, f.NeedDWARF())
	}
	d, err := Load(f.DWARFSections())
	if err != nil {
		t.Fatal(err)
	}
	// The premise: the merged DWARF holds a complete struct x, the other
	// programs', in a partial unit this program does not import.
	complete := false
	r := d.DWARF.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == dwarf.TagStructType && e.Val(dwarf.AttrName) == "x" && e.Val(dwarf.AttrDeclaration) == nil {
			complete = true
		}
	}
	if !complete {
		t.Fatal("dwz put no complete struct x in the supplementary file: the test tests nothing")
	}
	// struct y is shared by all three (in the supplementary file, and
	// imported); struct x is complete only in the other two programs.
	if y, ok := d.TypeByName("struct y"); !ok || y.Size() != 4 {
		t.Errorf("struct y: %v, size %d; want the imported definition, 4 bytes", ok, y.Size())
	}
	x, ok := d.TypeByName("struct x")
	if ms, err := x.Members(); ok && err == nil {
		t.Errorf("struct x resolved to another program's definition with members %v", ms)
	}
}
