package dwarfsec

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// unitDIEs returns the offsets of the unit DIEs of an outline.
func unitDIEs(outline []OutlineDIE) []dwarf.Offset {
	var out []dwarf.Offset
	for _, o := range outline {
		if o.Level == 0 {
			out = append(out, o.Offset)
		}
	}
	return out
}

// inUnits keeps the outline DIEs of the units that begin at starts.
func inUnits(outline []OutlineDIE, starts map[dwarf.Offset]bool) []OutlineDIE {
	var out []OutlineDIE
	for _, o := range outline {
		if starts[o.Unit.Offset] {
			out = append(out, o)
		}
	}
	return out
}

// dumpUnits renders the entries of the units that contain offs, read with
// d: what a partial index reads.
func dumpUnits(t *testing.T, d *dwarf.Data, offs []dwarf.Offset) string {
	t.Helper()
	var b strings.Builder
	for _, off := range offs {
		r := d.Reader()
		r.Seek(off)
		for depth := 0; ; {
			e, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if e == nil {
				break
			}
			fmt.Fprintf(&b, "%#x %v %v %v\n", e.Offset, e.Tag, e.Children, e.Field)
			if e.Tag == 0 {
				depth--
			} else if e.Children {
				depth++
			}
			if depth <= 0 {
				break
			}
		}
	}
	return b.String()
}

// threeUnits builds a shared library of three compilation units with
// compiler cc (DWARF 4 or 5 as the compiler's default, -gdwarf-4 with
// dwarf4).
func threeUnits(t *testing.T, cc string, dwarf4 bool) string {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		fixture.Missing(t, "%s: %v", cc, err)
	}
	dir := t.TempDir()
	args := []string{"-g", "-O2", "-shared", "-fPIC", "-o", filepath.Join(dir, "lib.so")}
	if dwarf4 {
		args = append(args, "-gdwarf-4")
	}
	for i, src := range []string{
		"struct point { int x, y; };\nint a_sum(struct point *p) { return p->x + p->y; }\n",
		"static int twice(int v) { return v * 2; }\nint b_twice(int v) { int r = twice(v); return r + 1; }\n",
		"#include <string.h>\nint c_len(const char *s) { size_t n = strlen(s); return n > 3 ? -1 : (int)n; }\n",
	} {
		p := filepath.Join(dir, fmt.Sprintf("%c.c", 'a'+i))
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if msg, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, msg)
	}
	return filepath.Join(dir, "lib.so")
}

// TestOutlineUnits: the outline of some units is the full outline's DIEs
// of those units, and DataFor reads their DIEs as Data does, for every
// choice of one unit and for the first and last together.
func TestOutlineUnits(t *testing.T) {
	for _, c := range []struct {
		cc     string
		dwarf4 bool
	}{{"gcc", false}, {"gcc", true}, {"clang", false}} {
		t.Run(fmt.Sprintf("%s-dwarf4=%v", c.cc, c.dwarf4), func(t *testing.T) {
			s, err := Read(Source{ELF: open(t, threeUnits(t, c.cc, c.dwarf4))})
			if err != nil {
				t.Fatal(err)
			}
			full, err := s.Outline()
			if err != nil {
				t.Fatal(err)
			}
			dw := mustData(t, s)
			cus := unitDIEs(full)
			if len(cus) < 2 {
				t.Fatalf("%d units: the fixture should have several", len(cus))
			}
			choices := [][]dwarf.Offset{{cus[len(cus)-1], cus[0]}}
			for _, cu := range cus {
				choices = append(choices, []dwarf.Offset{cu})
			}
			for _, offs := range choices {
				got, err := s.OutlineUnits(offs)
				if err != nil {
					t.Fatal(err)
				}
				starts := make(map[dwarf.Offset]bool)
				for _, o := range full {
					for _, off := range offs {
						if o.Offset == off {
							starts[o.Unit.Offset] = true
						}
					}
				}
				want := inUnits(full, starts)
				if len(got) != len(want) {
					t.Fatalf("units %#x: %d outline DIEs, want %d", offs, len(got), len(want))
				}
				for i := range got {
					g, w := got[i], want[i]
					if g.Offset != w.Offset || g.Tag != w.Tag || g.Level != w.Level || g.Children != w.Children || *g.Unit != *w.Unit || g.Abbrev.Tag != w.Abbrev.Tag {
						t.Fatalf("units %#x: DIE %d = %+v, want %+v", offs, i, g, w)
					}
				}
				part, err := s.DataFor(offs)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := dumpUnits(t, part, offs), dumpUnits(t, dw, offs); got != want {
					t.Errorf("units %#x: DataFor reads\n%s\nwant\n%s", offs, got, want)
				}
			}
			if _, err := s.OutlineUnits([]dwarf.Offset{dwarf.Offset(len(s.Info) + 10)}); err == nil {
				t.Error("an offset past .debug_info was accepted")
			}
		})
	}
}

// TestOutlineUnitsCrossUnit: units whose DIEs may refer into others (a
// dwz-compressed file, merged with its supplementary file, refers with
// DW_FORM_ref_addr) are refused with ErrCrossUnit.
func TestOutlineUnitsCrossUnit(t *testing.T) {
	debug, alt := openDWZ(t, "demo")
	s, err := Read(Source{ELF: debug, Alt: &Source{ELF: alt}})
	if err != nil {
		t.Fatal(err)
	}
	full, err := s.Outline()
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, cu := range unitDIEs(full) {
		if _, err := s.OutlineUnits([]dwarf.Offset{cu}); errors.Is(err, ErrCrossUnit) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Error("no unit of a dwz-compressed file was refused")
	}
}
