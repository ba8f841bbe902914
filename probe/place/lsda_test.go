package place

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// thrower has one landing pad per catch and cleanup; plain is C.
const thrower = `
#include <stdexcept>
#include <string>
int work(int x);
__attribute__((noinline)) int guarded(int x) {
	std::string s("x");
	try {
		return work(x) + (int)s.size();
	} catch (const std::exception &) {
		return -1;
	}
}
__attribute__((noinline)) int plain(int x) { return x * 3; }
int work(int x) { if (x > 2) throw std::runtime_error("big"); return x; }
int main(int argc, char **) { return guarded(argc) + plain(argc); }
`

// TestLandingPads compiles a C++ function with a catch and a destructor
// to run on unwinding, and checks that its landing pads are found inside
// it, at instruction boundaries, and that a function without exception
// handling has none.
func TestLandingPads(t *testing.T) {
	for _, cxx := range []string{"g++", "clang++"} {
		t.Run(cxx, func(t *testing.T) {
			fixture.NeedTool(t, cxx)
			dir := t.TempDir()
			src := filepath.Join(dir, "t.cc")
			if err := os.WriteFile(src, []byte(thrower), 0o644); err != nil {
				t.Fatal(err)
			}
			exe := filepath.Join(dir, "t")
			if out, err := exec.Command(cxx, "-O2", "-o", exe, src).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cxx, err, out)
			}
			ef, err := elf.Open(exe)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			syms, err := ef.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			rangeOf := func(name string) [][2]uint64 {
				// gcc puts landing pads in guarded.cold; both are the
				// function's ranges.
				var rs [][2]uint64
				for _, s := range syms {
					if s.Name == name || s.Name == name+".cold" {
						rs = append(rs, [2]uint64{s.Value, s.Value + s.Size})
					}
				}
				sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
				return rs
			}
			for _, c := range []struct {
				fn   string
				pads bool
			}{{"_Z7guardedi", true}, {"_Z5plaini", false}} {
				rs := rangeOf(c.fn)
				if len(rs) == 0 {
					t.Fatalf("no symbol %s", c.fn)
				}
				pads, err := LandingPads(ef, rs)
				if err != nil {
					t.Fatal(err)
				}
				if c.pads != (len(pads) > 0) {
					t.Errorf("%s: landing pads %#x, want some: %v", c.fn, pads, c.pads)
				}
				text := ef.Section(".text")
				f, err := Decode(rs[0][0], rs, func(va uint64, n int) ([]byte, error) {
					b := make([]byte, n)
					_, err := text.ReadAt(b, int64(va-text.Addr))
					return b, err
				}, ELFData(ef))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range pads {
					if _, ok := f.index[p]; !ok {
						t.Errorf("%s: landing pad %#x is not an instruction of the function", c.fn, p)
					}
				}
			}
		})
	}
}

// FuzzLandingPads feeds arbitrary .eh_frame and LSDA bytes: errors, never
// a panic.
func FuzzLandingPads(f *testing.F) {
	f.Add([]byte{0x14, 0, 0, 0, 0, 0, 0, 0, 1, 'z', 'P', 'L', 'R', 0, 1, 0x78, 0x10, 7, 0x9b, 0, 0, 0, 0, 0x1b, 0x1b}, []byte{0xff, 0xff, 0x1b, 4, 0, 0, 0, 0})
	f.Add([]byte{0x10, 0, 0, 0, 0, 0, 0, 0, 1, 'z', 'R', 0, 1, 0x78, 0x10, 1, 0x1b, 0, 0, 0, 0x10, 0, 0, 0, 0x18, 0, 0, 0, 0xe8, 0xff, 0xff, 0xff, 0, 0x10, 0, 0, 0, 0, 0, 0}, []byte{0xff, 0x9b, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, ehframe, lsda []byte) {
		read := func(va uint64, n int) ([]byte, bool) {
			if va < 0x2000 || n < 0 || va-0x2000+uint64(n) > uint64(len(lsda)) {
				return nil, false
			}
			return lsda[va-0x2000 : va-0x2000+uint64(n)], true
		}
		landingPads(ehframe, 0x1000, read, [][2]uint64{{0, ^uint64(0)}})
		lsdaPads(0x2000, 0, read)
	})
}
