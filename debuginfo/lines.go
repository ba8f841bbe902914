package debuginfo

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/whythefail/whythefail/internal/leb128"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// LineRow is one row of a compilation unit's line table.
type LineRow struct {
	Addr        uint64
	File        int // index into CompUnit.Files
	Line        int
	IsStmt      bool
	PrologueEnd bool
	EndSeq      bool
}

// fileTable reads the file-name table of the line-program header at off in
// .debug_line and spells each name as libdw (and so SystemTap) does: an
// absolute name as it is, a relative one prefixed with its directory entry
// as written, without cleaning and without joining relative directories to
// the compilation directory. Go's LineReader cleans and joins, which loses
// the spelling ("./posix/../sysdeps/x.c" becomes "sysdeps/x.c").
func fileTable(sec *dwarfsec.Sections, off int64, compDir string) ([]string, error) {
	data := sec.Line
	if off < 0 || off >= int64(len(data)) {
		return nil, fmt.Errorf(".debug_line offset %#x out of range", off)
	}
	b := &buf{data: data, off: int(off), order: sec.Order, name: ".debug_line"}
	unitLen := uint64(b.u32())
	dwarf64 := false
	if unitLen == 0xffffffff {
		dwarf64 = true
		unitLen = b.u64()
	}
	version := b.u16()
	if b.err != nil {
		return nil, b.err
	}
	if version < 2 || version > 5 {
		return nil, fmt.Errorf(".debug_line at %#x: unsupported version %d", off, version)
	}
	if version >= 5 {
		b.u8() // address_size
		b.u8() // segment_selector_size
	}
	if dwarf64 {
		b.u64()
	} else {
		b.u32()
	}
	b.u8() // minimum_instruction_length
	if version >= 4 {
		b.u8() // maximum_operations_per_instruction
	}
	b.u8() // default_is_stmt
	b.u8() // line_base
	b.u8() // line_range
	opBase := b.u8()
	if opBase == 0 {
		return nil, fmt.Errorf(".debug_line at %#x: opcode_base is 0", off)
	}
	b.skip(int(opBase) - 1)
	if b.err != nil {
		return nil, b.err
	}

	join := func(dir, name string) string {
		if name == "" || name[0] == '/' || dir == "" {
			return name
		}
		return dir + "/" + name
	}

	if version < 5 {
		dirs := []string{compDir}
		for {
			s := b.cstr()
			if b.err != nil {
				return nil, b.err
			}
			if s == "" {
				break
			}
			dirs = append(dirs, s)
		}
		files := []string{""}
		for {
			s := b.cstr()
			if b.err != nil {
				return nil, b.err
			}
			if s == "" {
				break
			}
			d := b.uleb()
			b.uleb() // mtime
			b.uleb() // length
			dir := ""
			if d < uint64(len(dirs)) {
				dir = dirs[d]
			}
			files = append(files, join(dir, s))
		}
		return files, b.err
	}

	readTable := func(isFiles bool, dirs []string) ([]string, error) {
		nfmt := int(b.u8())
		type pair struct{ content, form uint64 }
		formats := make([]pair, 0, nfmt)
		for i := 0; i < nfmt; i++ {
			formats = append(formats, pair{b.uleb(), b.uleb()})
		}
		count := b.uleb()
		if b.err != nil {
			return nil, b.err
		}
		if count > uint64(len(data)) {
			return nil, fmt.Errorf(".debug_line at %#x: %d entries is more than the section holds", off, count)
		}
		out := make([]string, 0, count)
		for i := uint64(0); i < count; i++ {
			var path string
			var dirIdx uint64
			haveDir := false
			for _, f := range formats {
				s, v, err := b.form(f.form, dwarf64, sec)
				if err != nil {
					return nil, err
				}
				switch f.content {
				case 1: // DW_LNCT_path
					path = s
				case 2: // DW_LNCT_directory_index
					dirIdx, haveDir = v, true
				}
			}
			if isFiles {
				dir := ""
				if haveDir && dirIdx < uint64(len(dirs)) {
					dir = dirs[dirIdx]
				}
				path = join(dir, path)
			}
			out = append(out, path)
		}
		return out, b.err
	}
	dirs, err := readTable(false, nil)
	if err != nil {
		return nil, err
	}
	return readTable(true, dirs)
}

// lineRows decodes the rows of a CU's line program with Go's LineReader,
// translating its file pointers into indexes of the CU's file table.
func lineRows(d *dwarf.Data, cu *dwarf.Entry) ([]LineRow, error) {
	lr, err := d.LineReader(cu)
	if err != nil || lr == nil {
		return nil, err
	}
	index := make(map[*dwarf.LineFile]int)
	for i, f := range lr.Files() {
		if f != nil {
			index[f] = i
		}
	}
	var rows []LineRow
	var e dwarf.LineEntry
	for {
		if err := lr.Next(&e); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return rows, err
		}
		fi, ok := index[e.File]
		if !ok && e.File != nil {
			// A file defined by DW_LNE_define_file: refresh the index.
			for i, f := range lr.Files() {
				if f != nil {
					index[f] = i
				}
			}
			fi = index[e.File]
		}
		rows = append(rows, LineRow{Addr: e.Address, File: fi, Line: e.Line, IsStmt: e.IsStmt, PrologueEnd: e.PrologueEnd, EndSeq: e.EndSequence})
	}
	return rows, nil
}

// buf is a bounds-checked reader whose errors name the section and offset.
type buf struct {
	data  []byte
	off   int
	order binary.ByteOrder
	name  string
	err   error
}

func (b *buf) fail(msg string) {
	if b.err == nil {
		b.err = fmt.Errorf("decoding %s at offset %#x: %s", b.name, b.off, msg)
	}
}

func (b *buf) need(n int) bool {
	if b.err != nil {
		return false
	}
	if n < 0 || b.off+n > len(b.data) {
		b.fail("unexpected end of section")
		return false
	}
	return true
}

func (b *buf) skip(n int) {
	if b.need(n) {
		b.off += n
	}
}

func (b *buf) u8() uint8 {
	if !b.need(1) {
		return 0
	}
	v := b.data[b.off]
	b.off++
	return v
}

func (b *buf) u16() uint16 {
	if !b.need(2) {
		return 0
	}
	v := b.order.Uint16(b.data[b.off:])
	b.off += 2
	return v
}

func (b *buf) u32() uint32 {
	if !b.need(4) {
		return 0
	}
	v := b.order.Uint32(b.data[b.off:])
	b.off += 4
	return v
}

func (b *buf) u64() uint64 {
	if !b.need(8) {
		return 0
	}
	v := b.order.Uint64(b.data[b.off:])
	b.off += 8
	return v
}

func (b *buf) uleb() uint64 {
	if !b.need(1) {
		return 0
	}
	v, n := leb128.Uint(b.data[b.off:])
	if n == 0 {
		b.off = len(b.data)
		b.need(1)
		return 0
	}
	b.off += n
	return v
}

func (b *buf) cstr() string {
	if b.err != nil {
		return ""
	}
	i := bytes.IndexByte(b.data[b.off:], 0)
	if i < 0 {
		b.fail("unterminated string")
		return ""
	}
	s := string(b.data[b.off : b.off+i])
	b.off += i + 1
	return s
}

func strAt(sec []byte, off uint64) string {
	if off >= uint64(len(sec)) {
		return ""
	}
	s := sec[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		return string(s[:i])
	}
	return string(s)
}

// form reads one attribute value of a line-header entry format. Strings come
// back in s, constants in v.
func (b *buf) form(form uint64, dwarf64 bool, sec *dwarfsec.Sections) (s string, v uint64, err error) {
	offset := func() uint64 {
		if dwarf64 {
			return b.u64()
		}
		return uint64(b.u32())
	}
	switch form {
	case 0x08: // DW_FORM_string
		s = b.cstr()
	case 0x1f: // DW_FORM_line_strp
		s = strAt(sec.LineStr, offset())
	case 0x0e: // DW_FORM_strp
		s = strAt(sec.Str, offset())
	case 0x0b: // data1
		v = uint64(b.u8())
	case 0x05: // data2
		v = uint64(b.u16())
	case 0x06: // data4
		v = uint64(b.u32())
	case 0x07: // data8
		v = b.u64()
	case 0x1e: // data16
		b.skip(16)
	case 0x0f: // udata
		v = b.uleb()
	case 0x09: // block
		b.skip(int(b.uleb()))
	default:
		b.fail(fmt.Sprintf("unsupported form %#x in line header", form))
	}
	return s, v, b.err
}

// FileTable returns the file names of the line table at offset off of
// sec's .debug_line, indexed as the table's file numbers, named as the
// traced lines are (each joined with its directory entry, the first
// directory being compDir before DWARF 5).
func FileTable(sec *dwarfsec.Sections, off int64, compDir string) ([]string, error) {
	return fileTable(sec, off, compDir)
}
