package place

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/whythefail/whythefail/internal/leb128"
)

// LandingPads returns the exception landing pads of the code in ranges:
// the unwinder enters them from a call that throws, so they are jump
// targets no branch names. It reads .eh_frame's FDEs of the ranges and
// their language-specific data areas (.gcc_except_table call-site
// tables). A binary without .eh_frame has none to find and returns none;
// anything it cannot read is an error, and the caller must then treat
// every line row as a possible target.
func LandingPads(ef *elf.File, ranges [][2]uint64) ([]uint64, error) {
	s := ef.Section(".eh_frame")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	data, err := s.Data()
	if err != nil {
		return nil, err
	}
	read := ELFData(ef)
	return landingPads(data, s.Addr, read, ranges)
}

var errEHFrame = errors.New("malformed .eh_frame")

// cie is what an FDE needs of its CIE.
type cie struct {
	fdeEnc, lsdaEnc byte
	hasAug, hasLSDA bool
}

func landingPads(data []byte, base uint64, read func(va uint64, n int) ([]byte, bool), ranges [][2]uint64) ([]uint64, error) {
	cies := map[int]cie{}
	var pads []uint64
	for off := 0; off+4 <= len(data); {
		length := uint64(binary.LittleEndian.Uint32(data[off:]))
		hdr := 4
		if length == 0 {
			break // terminator
		}
		if length == 0xffffffff {
			if off+12 > len(data) {
				return nil, errEHFrame
			}
			length, hdr = binary.LittleEndian.Uint64(data[off+4:]), 12
		}
		if length > uint64(len(data)-off-hdr) || length < 4 {
			return nil, errEHFrame
		}
		body := data[off+hdr : off+hdr+int(length)]
		idAt := off + hdr
		next := off + hdr + int(length)
		id := binary.LittleEndian.Uint32(body)
		if id == 0 {
			c, err := parseCIE(body[4:])
			if err != nil {
				return nil, err
			}
			cies[off] = c
			off = next
			continue
		}
		cieOff := idAt - int(id)
		c, ok := cies[cieOff]
		if !ok {
			if cieOff < 0 || cieOff >= len(data) {
				return nil, errEHFrame
			}
			// A CIE after its FDE: parse it where it is.
			cl := int(binary.LittleEndian.Uint32(data[cieOff:]))
			if cl < 4 || cieOff+4+cl > len(data) || binary.LittleEndian.Uint32(data[cieOff+4:]) != 0 {
				return nil, errEHFrame
			}
			var err error
			if c, err = parseCIE(data[cieOff+8 : cieOff+4+cl]); err != nil {
				return nil, err
			}
			cies[cieOff] = c
		}
		p := &ptrReader{b: body, i: 4, base: base + uint64(idAt)}
		begin, err := p.ptr(c.fdeEnc)
		if err != nil {
			return nil, err
		}
		size, err := p.ptr(c.fdeEnc & 0x0f)
		if err != nil {
			return nil, err
		}
		off = next
		if !overlaps(begin, begin+size, ranges) || !c.hasAug || !c.hasLSDA {
			continue
		}
		if _, err := p.uleb(); err != nil {
			return nil, err
		}
		lsda, err := p.ptr(c.lsdaEnc)
		if err != nil {
			return nil, err
		}
		if lsda == 0 {
			continue
		}
		lp, err := lsdaPads(lsda, begin, read)
		if err != nil {
			return nil, err
		}
		pads = append(pads, lp...)
	}
	return pads, nil
}

func overlaps(lo, hi uint64, ranges [][2]uint64) bool {
	for _, r := range ranges {
		if lo < r[1] && r[0] < hi {
			return true
		}
	}
	return false
}

func parseCIE(b []byte) (cie, error) {
	var c cie
	if len(b) < 2 {
		return c, errEHFrame
	}
	version := b[0]
	i := 1
	start := i
	for i < len(b) && b[i] != 0 {
		i++
	}
	if i >= len(b) {
		return c, errEHFrame
	}
	aug := string(b[start:i])
	i++
	p := &ptrReader{b: b, i: i}
	if len(aug) >= 2 && aug[:2] == "eh" {
		p.i += 8
	}
	if _, err := p.uleb(); err != nil { // code alignment
		return c, err
	}
	if _, err := p.uleb(); err != nil { // data alignment (sleb: same length)
		return c, err
	}
	if version == 1 {
		p.i++
	} else if _, err := p.uleb(); err != nil {
		return c, err
	}
	if aug == "" || aug[0] != 'z' {
		return c, nil
	}
	c.hasAug = true
	if _, err := p.uleb(); err != nil {
		return c, err
	}
	for _, ch := range aug[1:] {
		switch ch {
		case 'P':
			enc, err := p.byte()
			if err != nil {
				return c, err
			}
			if _, err := p.ptr(enc &^ 0x80); err != nil {
				return c, err
			}
		case 'L':
			enc, err := p.byte()
			if err != nil {
				return c, err
			}
			c.lsdaEnc, c.hasLSDA = enc, true
		case 'R':
			enc, err := p.byte()
			if err != nil {
				return c, err
			}
			c.fdeEnc = enc
		case 'S', 'B':
		default:
			return c, fmt.Errorf("%w: CIE augmentation %q", errEHFrame, aug)
		}
	}
	return c, nil
}

// lsdaPads reads the call-site table of the LSDA at addr.
func lsdaPads(addr, funcStart uint64, read func(va uint64, n int) ([]byte, bool)) ([]uint64, error) {
	// The header is short; read a generous block and grow if needed.
	head, ok := read(addr, 16)
	if !ok {
		return nil, fmt.Errorf("LSDA at %#x not readable", addr)
	}
	p := &ptrReader{b: head, base: addr}
	lpEnc, err := p.byte()
	if err != nil {
		return nil, err
	}
	lpStart := funcStart
	if lpEnc != 0xff {
		if lpStart, err = p.ptr(lpEnc); err != nil {
			return nil, err
		}
	}
	ttEnc, err := p.byte()
	if err != nil {
		return nil, err
	}
	if ttEnc != 0xff {
		if _, err := p.uleb(); err != nil {
			return nil, err
		}
	}
	csEnc, err := p.byte()
	if err != nil {
		return nil, err
	}
	n, err := p.uleb()
	if err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("LSDA at %#x: call-site table of %d bytes", addr, n)
	}
	table, ok := read(addr+uint64(p.i), int(n))
	if !ok {
		return nil, fmt.Errorf("LSDA at %#x: call-site table not readable", addr)
	}
	t := &ptrReader{b: table, base: addr + uint64(p.i)}
	var pads []uint64
	for t.i < len(table) {
		for k := 0; k < 2; k++ { // start, length
			if _, err := t.ptr(csEnc & 0x0f); err != nil {
				return nil, err
			}
		}
		lp, err := t.ptr(csEnc & 0x0f)
		if err != nil {
			return nil, err
		}
		if _, err := t.uleb(); err != nil { // action
			return nil, err
		}
		if lp != 0 {
			pads = append(pads, lpStart+lp)
		}
	}
	return pads, nil
}

// ptrReader reads DWARF exception-handling pointer encodings (DW_EH_PE_*)
// from b; base is the address of b[0], for pc-relative ones.
type ptrReader struct {
	b    []byte
	i    int
	base uint64
}

func (p *ptrReader) byte() (byte, error) {
	if p.i >= len(p.b) {
		return 0, errEHFrame
	}
	p.i++
	return p.b[p.i-1], nil
}

func (p *ptrReader) uleb() (uint64, error) {
	if p.i > len(p.b) {
		return 0, errEHFrame
	}
	v, n := leb128.Uint(p.b[p.i:])
	if n <= 0 {
		return 0, errEHFrame
	}
	p.i += n
	return v, nil
}

func (p *ptrReader) fixed(n int) (uint64, error) {
	if p.i+n > len(p.b) || p.i < 0 {
		return 0, errEHFrame
	}
	var v uint64
	for k := n - 1; k >= 0; k-- {
		v = v<<8 | uint64(p.b[p.i+k])
	}
	p.i += n
	return v, nil
}

// ptr reads one pointer of encoding enc: absolute or pc-relative; other
// applications (datarel, textrel, funcrel, indirect) are errors.
func (p *ptrReader) ptr(enc byte) (uint64, error) {
	at := p.base + uint64(p.i)
	var v uint64
	var err error
	switch enc & 0x0f {
	case 0x00, 0x04, 0x0c:
		v, err = p.fixed(8)
	case 0x01:
		v, err = p.uleb()
	case 0x02:
		v, err = p.fixed(2)
	case 0x03:
		v, err = p.fixed(4)
	case 0x09:
		var n int
		if p.i > len(p.b) {
			return 0, errEHFrame
		}
		var s int64
		s, n = leb128.Int(p.b[p.i:])
		if n <= 0 {
			return 0, errEHFrame
		}
		p.i += n
		v = uint64(s)
	case 0x0a:
		v, err = p.fixed(2)
		v = uint64(int64(int16(v)))
	case 0x0b:
		v, err = p.fixed(4)
		v = uint64(int64(int32(v)))
	default:
		return 0, fmt.Errorf("%w: pointer encoding %#x", errEHFrame, enc)
	}
	if err != nil {
		return 0, err
	}
	switch enc & 0x70 {
	case 0:
	case 0x10:
		v += at
	default:
		return 0, fmt.Errorf("%w: pointer encoding %#x", errEHFrame, enc)
	}
	if enc&0x80 != 0 {
		return 0, fmt.Errorf("%w: indirect pointer encoding %#x", errEHFrame, enc)
	}
	return v, nil
}
