package dwarfsec

import (
	"debug/dwarf"
	"fmt"
	"strings"
	"testing"
)

// abbrevBytes is two tables: at 0, code 1 (subprogram, children: name
// strp, low_pc addr, implicit_const -3) and code 300 (variable, no
// children: location sec_offset); at 21, code 1 (compile unit, no
// attributes).
var abbrevBytes = []byte{
	0x01, 0x2e, 0x01, 0x03, 0x0e, 0x11, 0x01, 0x3b, 0x21, 0x7d, 0x00, 0x00,
	0xac, 0x02, 0x34, 0x00, 0x02, 0x17, 0x00, 0x00,
	0x00,
	0x01, 0x11, 0x00, 0x00, 0x00,
	0x00,
}

func dumpTable(t *AbbrevTable) string {
	var b strings.Builder
	for code := uint64(0); code < 400; code++ {
		if a := t.Get(code); a != nil {
			fmt.Fprintf(&b, "%d %v %v %v;", code, a.Tag, a.Children, a.Attrs)
		}
	}
	return b.String()
}

// TestAbbrevs checks the tables parsed ahead of time and on demand, with
// sparse codes and implicit constants.
func TestAbbrevs(t *testing.T) {
	s := &Sections{Abbrev: abbrevBytes}
	s.parseAllAbbrevs()
	for _, tc := range []struct {
		off  uint64
		want string
	}{
		{0, fmt.Sprintf("1 %v true [{%v 14 0} {%v 1 0} {%v 33 -3}];300 %v false [{%v 23 0}];",
			dwarf.TagSubprogram, dwarf.AttrName, dwarf.AttrLowpc, dwarf.AttrDeclLine, dwarf.TagVariable, dwarf.AttrLocation)},
		{21, fmt.Sprintf("1 %v false [];", dwarf.TagCompileUnit)},
	} {
		tab, err := s.Abbrevs(tc.off)
		if err != nil {
			t.Fatalf("Abbrevs(%d): %v", tc.off, err)
		}
		if got := dumpTable(tab); got != tc.want {
			t.Errorf("Abbrevs(%d) =\n %s\nwant\n %s", tc.off, got, tc.want)
		}
	}
	// Not a table start: parsed on demand, it runs off the end.
	if tab, err := s.Abbrevs(22); tab != nil || err == nil {
		t.Errorf("Abbrevs(22) = %v, %v; want an error", tab, err)
	}
	if tab, err := s.Abbrevs(uint64(len(abbrevBytes))); tab != nil || err == nil {
		t.Errorf("Abbrevs past the end = %v, %v; want an error", tab, err)
	}
	if tab, err := (&Sections{Abbrev: abbrevBytes[:5]}).Abbrevs(0); tab != nil || err == nil {
		t.Errorf("Abbrevs of a truncated table = %v, %v; want an error", tab, err)
	}
}

// FuzzAbbrevs parses arbitrary .debug_abbrev contents: a table xor an
// error, and the tables parsed ahead agree with those parsed on demand.
func FuzzAbbrevs(f *testing.F) {
	f.Add(abbrevBytes, uint64(0))
	f.Add(abbrevBytes, uint64(21))
	f.Fuzz(func(t *testing.T, data []byte, off uint64) {
		ahead := &Sections{Abbrev: data}
		ahead.parseAllAbbrevs()
		a, errA := ahead.Abbrevs(off)
		b, errB := (&Sections{Abbrev: data}).Abbrevs(off)
		if (a == nil) == (errA == nil) || (b == nil) == (errB == nil) {
			t.Fatalf("Abbrevs = %v, %v and %v, %v: want exactly one of table and error", a, errA, b, errB)
		}
		if a != nil && dumpTable(a) != dumpTable(b) {
			t.Fatalf("ahead %s, on demand %s", dumpTable(a), dumpTable(b))
		}
	})
}
