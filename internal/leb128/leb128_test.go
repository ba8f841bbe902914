package leb128

import (
	"bytes"
	"testing"

	dlv "github.com/go-delve/delve/pkg/dwarf/leb128"
)

// TestUint decodes the examples of DWARF 5, section 7.6, and the edges.
func TestUint(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want uint64
		n    int
	}{
		{[]byte{2}, 2, 1},
		{[]byte{127}, 127, 1},
		{[]byte{0x80, 1}, 128, 2},
		{[]byte{0x81, 1}, 129, 2},
		{[]byte{0x82, 1}, 130, 2},
		{[]byte{0xb9, 100}, 12857, 2},
		{[]byte{0x80, 1, 0xff}, 128, 2},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, 1<<64 - 1, 10},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0}, 0, 12},
		{nil, 0, 0},
		{[]byte{0x80}, 0, 0},
		{[]byte{0xff, 0xff}, 0, 0},
	} {
		if v, n := Uint(c.in); v != c.want || n != c.n {
			t.Errorf("Uint(% x) = %d, %d; want %d, %d", c.in, v, n, c.want, c.n)
		}
	}
}

// TestInt decodes the examples of DWARF 5, section 7.6, and the edges.
func TestInt(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want int64
		n    int
	}{
		{[]byte{2}, 2, 1},
		{[]byte{0x7e}, -2, 1},
		{[]byte{0xff, 0}, 127, 2},
		{[]byte{0x81, 0x7f}, -127, 2},
		{[]byte{0x80, 1}, 128, 2},
		{[]byte{0x80, 0x7f}, -128, 2},
		{[]byte{0x81, 1}, 129, 2},
		{[]byte{0xff, 0x7e}, -129, 2},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, -1 << 63, 10},
		{nil, 0, 0},
		{[]byte{0xc0}, 0, 0},
	} {
		if v, n := Int(c.in); v != c.want || n != c.n {
			t.Errorf("Int(% x) = %d, %d; want %d, %d", c.in, v, n, c.want, c.n)
		}
	}
}

// FuzzDecode checks both decoders against Delve's (which panics on a
// truncated number) for numbers of up to ten bytes, and that a number
// ends where it says.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xb9, 100})
	f.Add([]byte{0x80, 0x7f, 3})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, n := Uint(b)
		s, sn := Int(b)
		if n != sn {
			t.Fatalf("Uint's length %d, Int's %d", n, sn)
		}
		if n == 0 {
			for _, c := range b {
				if c < 0x80 {
					t.Fatalf("% x: no number, yet byte %#x ends one", b, c)
				}
			}
			return
		}
		if b[n-1] >= 0x80 {
			t.Fatalf("% x: the number ends at a continued byte", b)
		}
		if n > 9 {
			return // Delve's shifts past 64 bits
		}
		du, dn := dlv.DecodeUnsigned(bytes.NewBuffer(b))
		ds, _ := dlv.DecodeSigned(bytes.NewBuffer(b))
		if u != du || s != ds || n != int(dn) {
			t.Fatalf("% x: %d %d (%d bytes), Delve %d %d (%d bytes)", b, u, s, n, du, ds, dn)
		}
	})
}
