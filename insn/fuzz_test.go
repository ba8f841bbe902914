package insn

import (
	"errors"
	"testing"
)

// FuzzBoundaries checks that Boundaries never panics, returns exactly one
// of a result and an error, and that a result lists strictly increasing
// addresses inside [addr, addr+len(code)) starting at addr, each of which
// IsBoundary finds. Emulated runs on every suffix so it is fuzzed too.
func FuzzBoundaries(f *testing.F) {
	f.Add([]byte{0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3}, uint64(0x401000))
	f.Add([]byte{0xc5, 0xf8, 0x77, 0xc3}, uint64(0))
	f.Add([]byte{0x62, 0xf1, 0x7c, 0x48, 0x10, 0x06, 0x0f, 0x01, 0xee}, uint64(1)<<63)
	f.Add([]byte{0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, ^uint64(0)-11)
	f.Fuzz(func(t *testing.T, code []byte, addr uint64) {
		for i := range code {
			Emulated(code[i:])
		}
		got, err := Boundaries(code, addr)
		if err != nil {
			if got != nil {
				t.Fatalf("got both %#x and %v", got, err)
			}
			var de *DecodeError
			if errors.As(err, &de) && (de.Addr < addr || de.Addr-addr >= uint64(len(code))) {
				t.Fatalf("error address %#x outside [%#x, +%d)", de.Addr, addr, len(code))
			}
			return
		}
		if len(code) == 0 {
			if len(got) != 0 {
				t.Fatalf("boundaries %#x for empty code", got)
			}
			return
		}
		if len(got) == 0 || got[0] != addr {
			t.Fatalf("boundaries %#x do not start at %#x", got, addr)
		}
		for i, a := range got {
			if a-addr >= uint64(len(code)) {
				t.Fatalf("boundary %#x outside [%#x, +%d)", a, addr, len(code))
			}
			if i > 0 && a <= got[i-1] {
				t.Fatalf("boundaries not strictly increasing: %#x", got)
			}
			if !IsBoundary(got, a) {
				t.Fatalf("IsBoundary misses %#x in %#x", a, got)
			}
			if a-addr > 0 && IsBoundary(got, a-1) && (i == 0 || got[i-1] != a-1) {
				t.Fatalf("IsBoundary finds %#x, which is not in %#x", a-1, got)
			}
		}
	})
}
