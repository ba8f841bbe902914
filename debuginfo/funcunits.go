package debuginfo

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/whythefail/whythefail/debuginfo/bidcache"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// FuncUnits says which compilation units hold the functions (with code,
// out-of-line or inlined) of each name and of each entry address: what a
// resolver needs to index only the units a function pattern can match
// (LoadUnits) instead of the whole file. It is derived from a full index
// and kept in the build-id cache (CachedFuncUnits, PutFuncUnits).
type FuncUnits struct {
	// Units are the unit DIE offsets, ascending.
	Units []dwarf.Offset
	// keys maps a function's DW_AT_name and linkage name, and "@" and
	// the hexadecimal entry address of an out-of-line instance, to
	// indexes into Units, ascending.
	keys map[string][]uint32
	// always are indexes into Units, ascending, of the units every
	// selection holds: TopFuncUnits could not tell their functions.
	always []uint32
}

// FuncUnits derives the index from d, which must not be Partial.
func (d *Data) FuncUnits() *FuncUnits {
	fu := &FuncUnits{keys: make(map[string][]uint32)}
	idx := make(map[*CompUnit]uint32, len(d.CUs))
	for _, cu := range d.CUs {
		idx[cu] = uint32(len(fu.Units))
		fu.Units = append(fu.Units, cu.Offset)
	}
	add := func(key string, i uint32) {
		l := fu.keys[key]
		if len(l) == 0 || l[len(l)-1] != i {
			fu.keys[key] = append(l, i)
		}
	}
	for _, fn := range d.Funcs {
		i, ok := idx[fn.CU]
		if !ok {
			continue
		}
		if fn.Name != "" {
			add(fn.Name, i)
		}
		if fn.LinkageName != "" {
			add(fn.LinkageName, i)
		}
		if !fn.Inlined && fn.Entry != 0 {
			add(addrKey(fn.Entry), i)
		}
	}
	return fu
}

func addrKey(a uint64) string { return "@" + strconv.FormatUint(a, 16) }

// Select returns the offsets of the units that hold a function whose
// name or linkage name match accepts, or an out-of-line function that
// begins at one of addrs.
func (fu *FuncUnits) Select(match func(name string) bool, addrs []uint64) []dwarf.Offset {
	sel := make(map[uint32]bool)
	for _, i := range fu.always {
		sel[i] = true
	}
	for k, l := range fu.keys {
		if k[0] != '@' && match(k) {
			for _, i := range l {
				sel[i] = true
			}
		}
	}
	for _, a := range addrs {
		for _, i := range fu.keys[addrKey(a)] {
			sel[i] = true
		}
	}
	out := make([]dwarf.Offset, 0, len(sel))
	for i := range sel {
		out = append(out, fu.Units[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// The encoding of a FuncUnits, integers little-endian: u32 number of
// units, each a u32 offset (dwarf.Offset's size); u32 number of keys, each a u16 length, the
// key, a u32 count and that many u32 unit indexes; u32 number of units
// always selected, and their u32 indexes.

// Encode returns the bytes of fu, keys sorted so that equal indexes encode
// alike.
func (fu *FuncUnits) Encode() []byte {
	le := binary.LittleEndian
	out := le.AppendUint32(nil, uint32(len(fu.Units)))
	for _, u := range fu.Units {
		out = le.AppendUint32(out, uint32(u))
	}
	keys := make([]string, 0, len(fu.keys))
	for k := range fu.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out = le.AppendUint32(out, uint32(len(keys)))
	for _, k := range keys {
		out = le.AppendUint16(out, uint16(len(k)))
		out = append(out, k...)
		out = le.AppendUint32(out, uint32(len(fu.keys[k])))
		for _, i := range fu.keys[k] {
			out = le.AppendUint32(out, i)
		}
	}
	out = le.AppendUint32(out, uint32(len(fu.always)))
	for _, i := range fu.always {
		out = le.AppendUint32(out, i)
	}
	return out
}

// DecodeFuncUnits parses what Encode wrote. Malformed input (truncated,
// a unit index out of range, units, keys or indexes out of order, an
// empty key) is an error, never a panic.
func DecodeFuncUnits(data []byte) (*FuncUnits, error) {
	le := binary.LittleEndian
	bad := func(what string) error { return fmt.Errorf("function index: %s", what) }
	take := func(n int) ([]byte, bool) {
		if n < 0 || n > len(data) {
			return nil, false
		}
		b := data[:n]
		data = data[n:]
		return b, true
	}
	u32 := func() (uint32, bool) {
		b, ok := take(4)
		if !ok {
			return 0, false
		}
		return le.Uint32(b), true
	}
	n, ok := u32()
	if !ok || uint64(n)*4 > uint64(len(data)) {
		return nil, bad("truncated units")
	}
	fu := &FuncUnits{Units: make([]dwarf.Offset, n), keys: make(map[string][]uint32)}
	for i := range fu.Units {
		v, _ := u32()
		fu.Units[i] = dwarf.Offset(v)
		if i > 0 && fu.Units[i] <= fu.Units[i-1] {
			return nil, bad("units out of order")
		}
	}
	nk, ok := u32()
	if !ok || uint64(nk)*6 > uint64(len(data)) {
		return nil, bad("truncated keys")
	}
	// The keys are slices of one copy of the rest, and the unit lists of
	// one array: a vmlinux's index has 120,000 keys.
	all := string(data)
	base := len(data)
	lists := make([]uint32, 0, (len(data)-int(nk)*6)/4)
	fu.keys = make(map[string][]uint32, nk)
	prev := ""
	for i := range nk {
		b, ok := take(2)
		if !ok {
			return nil, bad("truncated key")
		}
		k, ok := take(int(le.Uint16(b)))
		if !ok || len(k) == 0 {
			return nil, bad("truncated or empty key")
		}
		at := base - len(data) - len(k)
		key := all[at : at+len(k)]
		if i > 0 && key <= prev {
			return nil, bad("keys out of order")
		}
		prev = key
		c, ok := u32()
		if !ok || uint64(c)*4 > uint64(len(data)) {
			return nil, bad("truncated unit list")
		}
		start := len(lists)
		for j := range c {
			v, _ := u32()
			if v >= n || (j > 0 && v <= lists[len(lists)-1]) {
				return nil, bad("unit index out of range or order")
			}
			lists = append(lists, v)
		}
		fu.keys[key] = lists[start:len(lists):len(lists)]
	}
	na, ok := u32()
	if !ok || uint64(na)*4 > uint64(len(data)) {
		return nil, bad("truncated units always selected")
	}
	for j := range na {
		v, _ := u32()
		if v >= n || (j > 0 && v <= fu.always[j-1]) {
			return nil, bad("unit index out of range or order")
		}
		fu.always = append(fu.always, v)
	}
	if len(data) != 0 {
		return nil, bad("trailing bytes")
	}
	return fu, nil
}

// funcUnitsKind is the build-id cache's kind for function indexes; the
// identity adds its own version to the debug file's.
const (
	funcUnitsKind    = "funcs"
	funcUnitsVersion = "funcs 2\n"
)

// CachedFuncUnits returns the function index of the debug file whose
// sections sec are from the build-id cache; ok is false on a miss (no
// build-id, sections merged with a dwz supplementary file, no entry, a
// corrupt one, or the cache is off).
func CachedFuncUnits(sec *dwarfsec.Sections) (fu *FuncUnits, ok bool) {
	c := bidcache.Open()
	id, identity, ok := sec.Identity()
	if c == nil || !ok {
		return nil, false
	}
	blobs, ok := c.Get(funcUnitsKind, id, append([]byte(funcUnitsVersion), identity...))
	if !ok || len(blobs) != 1 {
		return nil, false
	}
	fu, err := DecodeFuncUnits(blobs[0].Data)
	if err != nil {
		return nil, false
	}
	return fu, true
}

// PutFuncUnits puts the function index of d, a full index of a debug
// file, in the build-id cache, under its sections' identity. Failing to
// only means the next run indexes the whole file again.
func PutFuncUnits(d *Data) error {
	if d.Partial {
		return errors.New("a partial index cannot give the function index")
	}
	return putFuncUnits(d.sec, d.FuncUnits())
}

// PutTopFuncUnits puts fu, from TopFuncUnits(sec), in the build-id cache
// as PutFuncUnits does, for the next runs.
func PutTopFuncUnits(sec *dwarfsec.Sections, fu *FuncUnits) error {
	return putFuncUnits(sec, fu)
}

func putFuncUnits(sec *dwarfsec.Sections, fu *FuncUnits) error {
	c := bidcache.Open()
	id, identity, ok := sec.Identity()
	if c == nil || !ok {
		return nil
	}
	return c.Put(funcUnitsKind, id, append([]byte(funcUnitsVersion), identity...), []bidcache.Blob{{Name: "funcs", Data: fu.Encode()}})
}
