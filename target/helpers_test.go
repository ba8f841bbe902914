package target

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// needTool and run are the shared fixture helpers: a missing tool skips,
// or fails under CI=true.
func needTool(t testing.TB, name string) { t.Helper(); fixture.NeedTool(t, name) }

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return fixture.Run(t, name, args...)
}

// compile builds testdata/prog.c into dir/out with cc and flags.
func compile(t testing.TB, dir, cc, out string, flags ...string) string {
	t.Helper()
	src, err := filepath.Abs("testdata/prog.c")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, out)
	run(t, cc, append(append([]string{}, flags...), "-o", path, src)...)
	return path
}

// nmSymbols returns the address of every defined symbol, as nm prints it.
func nmSymbols(t testing.TB, path string) map[string]uint64 {
	t.Helper()
	syms := map[string]uint64{}
	for _, line := range strings.Split(run(t, "nm", "--defined-only", path), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			t.Fatalf("nm line %q: %v", line, err)
		}
		// Keep "name" of .symtab's "name@@VERSION", as Symbols does.
		name, _, _ := strings.Cut(f[2], "@")
		if _, ok := syms[name]; !ok {
			syms[name] = v
		}
	}
	return syms
}

// loadSegment is a PT_LOAD line of readelf -lW.
type loadSegment struct {
	off, vaddr, filesz uint64
	exec               bool
}

var loadRE = regexp.MustCompile(`^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+([RWE ]+?)\s+0x[0-9a-f]+$`)

// readelfLoads parses the PT_LOAD segments from readelf -lW.
func readelfLoads(t testing.TB, path string) []loadSegment {
	t.Helper()
	var segs []loadSegment
	for _, line := range strings.Split(run(t, "readelf", "-lW", path), "\n") {
		m := loadRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		segs = append(segs, loadSegment{
			off:    mustHex(t, m[1]),
			vaddr:  mustHex(t, m[2]),
			filesz: mustHex(t, m[3]),
			exec:   strings.Contains(m[4], "E"),
		})
	}
	if len(segs) == 0 {
		t.Fatalf("no LOAD segments in readelf -lW %s", path)
	}
	return segs
}

// readelfOffset maps va to a file offset the way the test expects
// FileOffset to: through the executable LOAD segment containing it.
func readelfOffset(segs []loadSegment, va uint64) (uint64, bool) {
	for _, s := range segs {
		if s.exec && va >= s.vaddr && va < s.vaddr+s.filesz {
			return va - s.vaddr + s.off, true
		}
	}
	return 0, false
}

func mustHex(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("parsing hex %q: %v", s, err)
	}
	return v
}

// readelfBuildID returns the build-id readelf -n prints, or "".
func readelfBuildID(t testing.TB, path string) string {
	t.Helper()
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindStringSubmatch(run(t, "readelf", "-n", path))
	if m == nil {
		return ""
	}
	return m[1]
}

// cfaRow is one row of readelf -wF: from loc on, CFA = reg+off, or an
// expression when expr is set.
type cfaRow struct {
	loc  uint64
	reg  uint64
	off  int64
	expr bool
}

// dwarfRegs maps readelf's x86-64 register names to DWARF numbers.
var dwarfRegs = map[string]uint64{
	"rax": 0, "rdx": 1, "rcx": 2, "rbx": 3, "rsi": 4, "rdi": 5, "rbp": 6, "rsp": 7,
	"r8": 8, "r9": 9, "r10": 10, "r11": 11, "r12": 12, "r13": 13, "r14": 14, "r15": 15,
}

var (
	fdeRE    = regexp.MustCompile(`^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)`)
	cieRE    = regexp.MustCompile(`^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ CIE`)
	rowRE    = regexp.MustCompile(`^([0-9a-f]{16}) (\S+)`)
	cfaRegRE = regexp.MustCompile(`^([a-z0-9]+)([+-]\d+)$`)
)

// readelfCFA parses readelf -wF (interpreted .eh_frame/.debug_frame) into
// the CFA rows of each FDE, keyed by the FDE's start address. An FDE
// without rows of its own inherits its CIE's initial row.
func readelfCFA(t testing.TB, path string) map[uint64][]cfaRow {
	t.Helper()
	needTool(t, "readelf")
	// readelf follows .gnu_debuglink and fails on the debug file's NOBITS
	// .eh_frame after printing the binary's: keep what it printed.
	outb, err := exec.Command("readelf", "-wF", path).Output()
	out := string(outb)
	if err != nil && !strings.Contains(out, "ZERO terminator") {
		t.Fatalf("readelf -wF %s: %v", path, err)
	}
	cieRow := map[string]cfaRow{}
	fdes := map[uint64][]cfaRow{}
	var cur []cfaRow
	var curCIE string
	var curFDE uint64
	inFDE := false
	flush := func() {
		if inFDE {
			if len(cur) == 0 {
				r := cieRow[curCIE]
				r.loc = curFDE
				cur = []cfaRow{r}
			}
			fdes[curFDE] = cur
		}
		cur, inFDE = nil, false
	}
	for _, line := range strings.Split(out, "\n") {
		if m := fdeRE.FindStringSubmatch(line); m != nil {
			flush()
			inFDE, curCIE, curFDE = true, m[1], mustHex(t, m[2])
			continue
		}
		if m := cieRE.FindStringSubmatch(line); m != nil {
			flush()
			curCIE = m[1]
			continue
		}
		m := rowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		row := cfaRow{loc: mustHex(t, m[1])}
		if m[2] == "exp" {
			row.expr = true
		} else {
			rm := cfaRegRE.FindStringSubmatch(m[2])
			if rm == nil {
				t.Fatalf("readelf -wF %s: unexpected CFA %q in %q", path, m[2], line)
			}
			reg, ok := dwarfRegs[rm[1]]
			if !ok {
				t.Fatalf("readelf -wF %s: unknown register %q", path, rm[1])
			}
			off, _ := strconv.ParseInt(rm[2], 10, 64)
			row.reg, row.off = reg, off
		}
		if inFDE {
			cur = append(cur, row)
		} else {
			cieRow[curCIE] = row
		}
	}
	flush()
	return fdes
}
