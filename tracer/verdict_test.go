package tracer

import (
	"bytes"
	"debug/elf"
	"os"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// TestCallNamesLibc: every entry of libc's PLT is named, those that jump
// through an IRELATIVE slot (libc's calls to its own ifuncs) by the
// ifunc, so that the verdict may prune getaddrinfo's branches (an unnamed
// call target could be setjmp).
func TestCallNamesLibc(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		fixture.Missing(t, "no %s: %v", libc, err)
	}
	bin, err := target.Open(libc, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	name := callNames(bin)
	if name == nil {
		t.Fatal("no call names for libc")
	}
	plt := bin.ELF.Section(".plt")
	if plt == nil {
		t.Skip("libc has no .plt")
	}
	irel := irelativeSlots(bin.ELF, bin.Debug)
	if len(irel) == 0 {
		t.Fatal("no IRELATIVE slot named")
	}
	// The first 16 bytes are PLT0, which pushes and jumps to the resolver.
	for va := plt.Addr + 16; va+16 <= plt.Addr+plt.Size; va += 16 {
		if name(va) == "" {
			t.Errorf("PLT entry %#x: no name", va)
		}
	}
}

// FuzzIrelativeSlots: a malformed ELF file names no slot rather than
// panicking.
func FuzzIrelativeSlots(f *testing.F) {
	if data, err := os.ReadFile("/proc/self/exe"); err == nil && len(data) < 64<<20 {
		f.Add(data[:min(len(data), 4096)])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := newELF(data)
		if err != nil {
			return
		}
		_ = irelativeSlots(ef, nil)
	})
}

// newELF parses data as target does (debug/elf's own panics on malformed
// headers are target's to catch, not irelativeSlots').
func newELF(data []byte) (ef *elf.File, err error) {
	defer func() {
		if recover() != nil {
			ef, err = nil, os.ErrInvalid
		}
	}()
	return elf.NewFile(bytes.NewReader(data))
}
