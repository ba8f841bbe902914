package insn

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// needTool returns the path of an external program, skipping the test with
// the reason when it is missing, or failing when CI=true: CI must run every
// cross-check.
func needTool(t *testing.T, name string) string {
	t.Helper()
	fixture.NeedTool(t, name)
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// objdumpInsn is one instruction as objdump prints it.
type objdumpInsn struct {
	mnemonic string // first word of the disassembly, prefixes included
}

// objdumpListing disassembles every executable section of path and returns
// its instructions by address. --insn-width keeps every instruction on one
// line, so continuation lines never look like instruction starts.
func objdumpListing(t *testing.T, path string) map[uint64]objdumpInsn {
	t.Helper()
	out, err := exec.Command(needTool(t, "objdump"), "-d", "-w", "--insn-width=16", path).Output()
	if err != nil {
		t.Fatalf("objdump -d %s: %v", path, err)
	}
	m := map[uint64]objdumpInsn{}
	for _, line := range strings.Split(string(out), "\n") {
		// "  401126:\t55                   \tpush   %rbp"
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(f[0], ":")), 16, 64)
		if err != nil {
			continue
		}
		var mn string
		if w := strings.Fields(f[2]); len(w) > 0 {
			mn = w[0]
		}
		if mn == "(bad)" {
			t.Fatalf("objdump cannot decode %s at %#x: the fixture is not valid code", path, a)
		}
		m[a] = objdumpInsn{mnemonic: mn}
	}
	if len(m) == 0 {
		t.Fatalf("objdump -d %s printed no instructions", path)
	}
	return m
}

// function is a function symbol and its bytes.
type function struct {
	name string
	addr uint64
	code []byte
}

// functions returns the sized function symbols of syms whose bytes lie in
// an executable section of f.
func functions(t *testing.T, f *elf.File, syms []elf.Symbol) []function {
	t.Helper()
	var out []function
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 {
			continue
		}
		for _, sec := range f.Sections {
			if sec.Flags&elf.SHF_EXECINSTR == 0 || sec.Type != elf.SHT_PROGBITS ||
				s.Value < sec.Addr || s.Value+s.Size > sec.Addr+sec.Size {
				continue
			}
			code := make([]byte, s.Size)
			if _, err := sec.ReadAt(code, int64(s.Value-sec.Addr)); err != nil {
				t.Fatalf("reading %s: %v", s.Name, err)
			}
			out = append(out, function{name: s.Name, addr: s.Value, code: code})
		}
	}
	return out
}

// crossCheck compares Boundaries with objdump on every function and checks
// that Emulated only ever says yes to the instructions the kernel emulates.
// It returns the number of functions Boundaries refused to decode.
func crossCheck(t *testing.T, label string, fns []function, listing map[uint64]objdumpInsn) (refused int) {
	t.Helper()
	for _, fn := range fns {
		got, err := Boundaries(fn.code, fn.addr)
		if err != nil {
			t.Logf("%s: %s: %v", label, fn.name, err)
			refused++
			continue
		}
		var want []uint64
		for a := fn.addr; a < fn.addr+uint64(len(fn.code)); a++ {
			if _, ok := listing[a]; ok {
				want = append(want, a)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %s: boundaries differ from objdump:\n got %#x\nwant %#x", label, fn.name, got, want)
			continue
		}
		for _, a := range got {
			if !Emulated(fn.code[a-fn.addr:]) {
				continue
			}
			switch mn := listing[a].mnemonic; {
			case mn == "call", mn == "jmp", mn == "nop", mn == "push",
				strings.HasPrefix(mn, "j") && mn != "jrcxz" && mn != "jecxz":
			default:
				t.Errorf("%s: %s+%#x: Emulated says yes to %q", label, fn.name, a-fn.addr, mn)
			}
		}
	}
	return refused
}

// TestBoundariesCompiled builds testdata/prog.c with gcc and clang at -O0
// and -O2 (and with CET's endbr64 on) and checks every function of the
// result, crt code included, against objdump.
func TestBoundariesCompiled(t *testing.T) {
	dir := t.TempDir()
	for _, cc := range []string{"gcc", "clang"} {
		for _, flags := range [][]string{
			{"-O0"},
			{"-O2"},
			{"-O2", "-fcf-protection=full"},
			{"-O0", "-fcf-protection=full", "-no-pie"},
		} {
			label := cc + " " + strings.Join(flags, " ")
			t.Run(strings.ReplaceAll(label, " ", "_"), func(t *testing.T) {
				exe := filepath.Join(dir, strings.NewReplacer(" ", "", "=", "").Replace(label))
				args := append([]string{"-g", "-o", exe}, flags...)
				args = append(args, filepath.Join("testdata", "prog.c"))
				if out, err := exec.Command(needTool(t, cc), args...).CombinedOutput(); err != nil {
					t.Fatalf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
				}
				f, err := elf.Open(exe)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				syms, err := f.Symbols()
				if err != nil {
					t.Fatal(err)
				}
				fns := functions(t, f, syms)
				if len(fns) < 5 {
					t.Fatalf("found only %d functions in %s", len(fns), exe)
				}
				if refused := crossCheck(t, label, fns, objdumpListing(t, exe)); refused != 0 {
					t.Errorf("%s: Boundaries refused %d functions of a compiled fixture", label, refused)
				}
			})
		}
	}
}

// debugFile returns the path of f's separate debug file under
// /usr/lib/debug/.build-id, or "" when it has none there.
func debugFile(f *elf.File) string {
	sec := f.Section(".note.gnu.build-id")
	if sec == nil {
		return ""
	}
	note, err := sec.Data()
	// namesz, descsz, type, "GNU\0", descriptor
	if err != nil || len(note) < 16+2 {
		return ""
	}
	id := fmt.Sprintf("%x", note[16:])
	p := filepath.Join("/usr/lib/debug/.build-id", id[:2], id[2:]+".debug")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// TestBoundariesLibc checks every exported function of the system's glibc,
// whose hand-written assembly (string functions in SSE, AVX2 and AVX-512)
// stresses the decoder far more than compiled C.
func TestBoundariesLibc(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	f, err := elf.Open(libc)
	if err != nil {
		fixture.Missing(t, "cannot open %s: %v", libc, err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	// libc6-dbg's symbol table adds the local functions, among them the
	// AVX2 and EVEX string functions.
	if dbg := debugFile(f); dbg != "" {
		df, err := elf.Open(dbg)
		if err != nil {
			t.Fatal(err)
		}
		local, err := df.Symbols()
		df.Close()
		if err != nil {
			t.Fatal(err)
		}
		syms = append(syms, local...)
	} else {
		t.Logf("no separate debug file for %s: checking exported functions only", libc)
	}
	fns := functions(t, f, syms)
	if len(fns) < 1000 {
		t.Fatalf("found only %d functions in %s", len(fns), libc)
	}
	t.Logf("checking %d functions of %s", len(fns), libc)
	if refused := crossCheck(t, "libc", fns, objdumpListing(t, libc)); refused != 0 {
		t.Errorf("Boundaries refused %d of %d libc functions", refused, len(fns))
	}
}
