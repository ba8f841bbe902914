// Package leb128 decodes the LEB128 numbers of DWARF: the one decoder the
// packages that read DWARF bytes by hand (location expressions, line
// tables, range lists, the DIE outline) share.
package leb128

// Uint decodes the unsigned LEB128 number at the start of b and returns it
// with its length in bytes; n is 0 when b ends before the number does.
// Bits beyond the 64th are dropped, as debug/dwarf drops them.
func Uint(b []byte) (v uint64, n int) {
	var shift uint
	for i, c := range b {
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		shift += 7
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// Int decodes the signed LEB128 number at the start of b and returns it
// with its length in bytes; n is 0 when b ends before the number does.
// Bits beyond the 64th are dropped, as debug/dwarf drops them.
func Int(b []byte) (v int64, n int) {
	var shift uint
	for i, c := range b {
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c < 0x80 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, 0
}
