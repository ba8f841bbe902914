package debuginfo

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// TestRnglist decodes each entry kind rnglist reads, and refuses those
// that need .debug_addr and malformed lists.
func TestRnglist(t *testing.T) {
	le := binary.LittleEndian.Uint64
	addr := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	tests := []struct {
		name string
		sec  []byte
		off  int64
		want [][2]uint64
		ok   bool
	}{
		{"offset pairs from the unit base", []byte{4, 0x10, 0x20, 4, 0x30, 0x81, 0x01, 0}, 0,
			[][2]uint64{{0x1010, 0x1020}, {0x1030, 0x1081}}, true},
		{"base address, then a pair", cat([]byte{5}, addr(0x5000), []byte{4, 1, 2, 0}), 0,
			[][2]uint64{{0x5001, 0x5002}}, true},
		{"start end and start length", cat([]byte{6}, addr(0x10), addr(0x20), []byte{7}, addr(0x40), []byte{8, 0}), 0,
			[][2]uint64{{0x10, 0x20}, {0x40, 0x48}}, true},
		{"at an offset", []byte{0xff, 4, 1, 2, 0}, 1, [][2]uint64{{0x1001, 0x1002}}, true},
		{"empty list", []byte{0}, 0, nil, true},
		{"base addressx needs .debug_addr", []byte{1, 0, 0}, 0, nil, false},
		{"startx endx", []byte{2, 0, 1, 0}, 0, nil, false},
		{"startx length", []byte{3, 0, 1, 0}, 0, nil, false},
		{"unknown kind", []byte{9, 0}, 0, nil, false},
		{"no end of list", []byte{4, 1, 2}, 0, nil, false},
		{"truncated pair", []byte{4, 0x81}, 0, nil, false},
		{"truncated address", []byte{5, 1, 2}, 0, nil, false},
		{"offset past the end", []byte{0}, 1, nil, false},
		{"negative offset", []byte{0}, -1, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rnglist(tt.sec, tt.off, 0x1000, le, nil)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rnglist = %#x, %v; want %#x, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzRnglist: rnglist never panics, gives nothing when it refuses a
// list, and finds at most one range per two bytes of the list.
func FuzzRnglist(f *testing.F) {
	f.Add([]byte{4, 0x10, 0x20, 0}, int64(0))
	f.Add([]byte{5, 1, 2, 3, 4, 5, 6, 7, 8, 4, 1, 2, 0}, int64(0))
	f.Add([]byte{7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0}, int64(0))
	f.Fuzz(func(t *testing.T, sec []byte, off int64) {
		got, ok := rnglist(sec, off, 0x1000, binary.LittleEndian.Uint64, nil)
		if !ok && got != nil {
			t.Fatalf("refused list gave %#x", got)
		}
		if len(got) > len(sec)/2 {
			t.Fatalf("%d ranges from %d bytes", len(got), len(sec))
		}
	})
}
