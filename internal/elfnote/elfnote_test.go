package elfnote

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// note builds one ELF note.
func note(name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&b, le, uint32(len(name)))
	binary.Write(&b, le, uint32(len(desc)))
	binary.Write(&b, le, typ)
	b.WriteString(name)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	b.Write(desc)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

func TestFind(t *testing.T) {
	id := []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	abi := note("GNU\x00", 1, []byte{0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0})
	for _, tc := range []struct {
		name string
		data []byte
		want []byte
	}{
		{"alone", note("GNU\x00", 3, id), id},
		{"after another note", append(abi, note("GNU\x00", 3, id)...), id},
		{"other owner", note("Go\x00\x00", 3, id), nil},
		{"other type", note("GNU\x00", 4, id), nil},
		{"truncated", note("GNU\x00", 3, id)[:17], nil},
		{"empty", nil, nil},
	} {
		if got := Find(tc.data, binary.LittleEndian); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: Find = %x, want %x", tc.name, got, tc.want)
		}
	}
}

func FuzzFind(f *testing.F) {
	f.Add(note("GNU\x00", 3, []byte{1, 2, 3, 4}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		id := Find(data, binary.LittleEndian)
		if id != nil && (len(id) == 0 || len(id) > len(data)) {
			t.Fatalf("Find returned %d bytes from %d", len(id), len(data))
		}
	})
}
